"""The reward registry: decorator registration, entry points of third-party packages, conflicts naming both."""

import subprocess
import sys
import textwrap

import pytest

from r1_recipe.rewards import RewardRegistryError, available, get, register


def my_component(solution_str, ground_truth, extra_info=None, **_):
    return 1.0


def test_builtins_are_listed_and_resolved_lazily():
    assert {"accuracy", "format", "math"} <= set(available())
    assert get("format").__name__ == "format_reward"


def test_register_and_conflict_names_both_providers():
    register("test_registry_component")(my_component)
    register("test_registry_component")(my_component)  # same object again: fine
    assert get("test_registry_component") is my_component

    def other(*a, **k):
        return 0.0

    with pytest.raises(RewardRegistryError) as e:
        register("test_registry_component")(other)
    msg = str(e.value)
    assert "test_registry:my_component" in msg.replace("tests.", "") and "other" in msg


def test_unknown_name_lists_what_exists():
    with pytest.raises(RewardRegistryError, match="unknown reward component 'nope'; available: .*format"):
        get("nope")


def _fake_distribution(root, name, entry_points, module_source):
    pkg = root / f"{name}_pkg.py"
    pkg.write_text(textwrap.dedent(module_source))
    dist = root / f"{name}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[r1_recipe.rewards]\n" + entry_points)


def _run(code, path):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(path), "PATH": "/usr/bin:/bin"})


def test_third_party_entry_point_is_selectable_by_name(tmp_path):
    _fake_distribution(tmp_path, "acme", "brevity = acme_pkg:brevity\n", """
        def brevity(solution_str, ground_truth, extra_info=None, max_chars=10, **_):
            return 1.0 if len(solution_str) <= max_chars else 0.0
    """)
    code = (
        "from r1_recipe.rewards import available, get, provider\n"
        "from r1_recipe.core.rewards.compose import Composer\n"
        "assert 'brevity' in available()\n"
        "print(provider('brevity'))\n"
        "c = Composer({'components': {'brevity': {'weight': 2.0, 'max_chars': 5}}, 'timeout_s': 30})\n"
        "print(c.score('short', None)['score'], c.score('much too long', None)['score'])\n"
    )
    proc = _run(code, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["acme (acme_pkg:brevity)", "2.0 0.0"]


def test_entry_point_conflicting_with_a_builtin_names_both(tmp_path):
    """The clashing name is unusable (its error names both providers once each); the other components still work."""
    _fake_distribution(tmp_path, "evil", "format = evil_pkg:fmt\n", "def fmt(*a, **k):\n    return 1.0\n")
    proc = _run("from r1_recipe.rewards import get\nprint(get('math').__name__)\nget('format')", tmp_path)
    assert proc.returncode != 0 and proc.stdout == "math_reward\n"
    assert proc.stderr.splitlines()[-1] == (
        "r1_recipe.core.rewards.registry.RewardRegistryError: reward 'format' is registered twice: by r1-recipe "
        "(r1_recipe.core.rewards.format:format_reward) and by evil (evil_pkg:fmt); rename one of them")

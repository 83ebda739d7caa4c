"""One declarative definition per config block (r1_recipe.core.config): the docs list the same keys and defaults as
the definition the code validates with, and `--dry-run` prints the effective values."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from r1_recipe.core.advantage import ALGORITHM_R1
from r1_recipe.core.config import Block, Key
from r1_recipe.core.rewards.compose import DEFAULT_COMPONENTS, REWARD_R1
from r1_recipe.verl.generate import R1_GENERATION

ROOT = Path(__file__).resolve().parents[1]


def doc(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


def table(text: str, prefix: str = "", after: str | None = None) -> dict:
    """{key: default} of the markdown table rows whose first cell is `` `prefix + key` `` (the default: the second
    cell's first word, backticks removed, read as YAML); with `after`, of the first table after that text only."""
    out = {}
    if after is not None:
        text = text[text.index(after):]
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        m = re.fullmatch(rf"`{re.escape(prefix)}(\w+)`", cells[0]) if len(cells) >= 3 else None
        if m:
            value = yaml.safe_load(cells[1].replace("`", "").split(" (")[0])
            out[m.group(1)] = float(value) if isinstance(value, str) and re.fullmatch(r"[\d.]+e-?\d+", value) \
                else value
        elif after is not None and out:
            break
    return out


def yaml_block(text: str, path: str) -> dict:
    """The mapping at dotted `path` of the first ```yaml fence of `text` that has it."""
    for fence in re.findall(r"```yaml\n(.*?)```", text, re.S):
        node = yaml.safe_load(fence)
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            return node
    raise AssertionError(f"no YAML block with {path}")


def test_docs_rewards_lists_every_reward_r1_key_with_its_default():
    listed = yaml_block(doc("docs/rewards.md"), "reward.r1")
    assert listed == {**REWARD_R1.defaults(), "components": DEFAULT_COMPONENTS}


def test_readme_and_docs_grpo_list_every_algorithm_r1_key_with_its_default():
    assert table(doc("README.md"), "r1.") == ALGORITHM_R1.defaults()
    assert yaml_block(doc("docs/grpo.md"), "algorithm.r1") == ALGORITHM_R1.defaults()


def test_docs_recipes_and_the_generation_recipes_list_every_r1_generation_key():
    assert table(doc("docs/recipes.md"), after="The `r1_generation` block") == R1_GENERATION.defaults()
    for recipe in ("eval_generate", "rejection_sampling"):  # they spell every key out, at its default
        assert yaml_block(doc(f"r1_recipe/recipes/{recipe}.yaml").join(["```yaml\n", "```"]),
                          "r1_generation") == R1_GENERATION.defaults()


@pytest.mark.parametrize("component, page", [("code", "docs/code-reward.md"), ("math", "docs/math-reward.md")])
def test_the_option_tables_match_the_components_signatures(component, page):
    """A component's options are its signature (names, defaults, annotated types): the docs table lists them."""
    import inspect

    from r1_recipe.core.rewards import registry

    fn = registry.get(component)
    defaults = {name: p.default for name, p in inspect.signature(fn).parameters.items()
                if name in registry.option_names(fn)}
    listed = table(doc(page))
    assert listed == {k: list(v) if isinstance(v, tuple) else v for k, v in defaults.items()}


def test_docs_rewards_names_every_option_of_format_language_and_math():
    from r1_recipe.core.rewards import registry

    text = " ".join(doc("docs/rewards.md").split())
    for name in ("format", "language", "math"):
        m = re.search(rf"`{name}`: ((?:`\w+`(?:, )?)+)", text)
        assert m, name
        assert set(re.findall(r"`(\w+)`", m.group(1))) == registry.option_names(registry.get(name)), name


def test_a_block_checks_types_ranges_and_unknown_keys_naming_the_key():
    block = Block("x.y", (Key("n", 3, "", kind="int", low=1), Key("rate", 0.5, "", low=0, high=1),
                          Key("on", False, "", kind="bool"), Key("mode", "a", "", kind="str", choices=("a", "b")),
                          Key("t", None, "", above=0, null=True)))
    assert block.parse(None) == {"n": 3, "rate": 0.5, "on": False, "mode": "a", "t": None}
    assert block.parse({"n": 2, "rate": 1, "t": 5}) == {"n": 2, "rate": 1.0, "on": False, "mode": "a", "t": 5.0}
    for node, message in (({"n": 0}, "x.y.n must be an integer >= 1, got 0"),
                          ({"n": 2.0}, "x.y.n must be an integer >= 1, got 2.0"),
                          ({"rate": float("nan")}, "x.y.rate must be a number >= 0 and <= 1, got nan"),
                          ({"on": "yes"}, "x.y.on must be true or false, got 'yes'"),
                          ({"mode": "c"}, "x.y.mode must be one of 'a', 'b', got 'c'"),
                          ({"t": 0}, "x.y.t must be a positive number (or null), got 0"),
                          ({"m": 1}, "unknown key(s) x.y.m; allowed: mode, n, on, rate, t"),
                          ([1], None)):
        with pytest.raises(ValueError) as e:
            block.parse(node)
        assert str(e.value) == (message or "x.y must be a mapping, got list")
    assert block.effective({"n": 2}) == "x.y: n=2, rate=0.5 (default), on=false (default), mode=a (default), " \
                                        "t=null (default)"

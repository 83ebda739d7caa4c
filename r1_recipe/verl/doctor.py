"""`r1-recipe doctor`: check, in a fresh process, that `import verl` registered every r1-recipe component.

verl imports plugins inside `try/except` and logs failures at DEBUG level, so a broken install shows up only much later
as "Unknown advantage estimator" in a Ray actor. The doctor imports verl in a new interpreter with DEBUG logging
captured, then reports each component as registered or missing, with the reason.
"""

from __future__ import annotations

import json
import subprocess
import sys

OK, MISSING, WARN = "ok", "MISSING", "warn"  # warn: works, in a weaker form; not a failure
CONFLICT = "CONFLICT"  # two installed packages register the same name: a failure


def probe() -> dict:
    """Runs inside the fresh interpreter: import verl and look every component up. Returns a JSON-able report."""
    import importlib.metadata
    import io
    import logging
    import os
    import traceback

    log = io.StringIO()
    handler = logging.StreamHandler(log)
    handler.setLevel(logging.DEBUG)
    verl_logger = logging.getLogger("verl")
    verl_logger.addHandler(handler)
    verl_logger.setLevel(logging.DEBUG)
    r1_logger = logging.getLogger("r1_recipe")
    r1_logger.addHandler(handler)

    setting = os.environ.get("VERL_USE_EXTERNAL_PLUGINS", "auto")
    report: dict = {"checks": [], "env": {"VERL_USE_EXTERNAL_PLUGINS": setting}}

    def check(kind: str, name: str, ok: bool | None, why: str = "") -> None:
        report["checks"].append(_row(kind, name, ok, why))

    eps = [ep for ep in importlib.metadata.entry_points(group="verl.plugins") if ep.name == "r1_recipe"]
    check("entry point", "verl.plugins:r1_recipe", bool(eps),
          "" if eps else "r1-recipe is not installed in this Python environment (`pip install .` in a clone of "
          "r1-recipe)")
    try:
        import verl  # noqa: F401  (loads the plugins)
    except Exception as e:
        check("import", "verl", False, f"{type(e).__name__}: {e}")
        return report
    plugin_error = "\n".join(line for line in log.getvalue().splitlines() if "r1_recipe" in line or "Traceback" in line)
    loaded = "r1_recipe.verl.plugin" in sys.modules
    setting = report["env"]["VERL_USE_EXTERNAL_PLUGINS"].lower()
    if loaded:
        why_missing = ""
    elif setting == "none" or (setting not in ("auto", "") and "r1_recipe" not in setting.split(",")):
        why_missing = f"verl plugin loading excludes r1_recipe: VERL_USE_EXTERNAL_PLUGINS={setting}"
    else:
        why_missing = plugin_error or "the plugin module was not imported by `import verl`"
    check("plugin", "r1_recipe.verl.plugin", loaded, why_missing)

    from omegaconf import OmegaConf

    from r1_recipe.verl import REGISTERED, touchpoints  # names only: importing the plugin would register them

    absent = touchpoints.missing()
    for tp, name, why in absent:
        keys = f" (config: {', '.join(tp.config_keys)})" if tp.config_keys else ""
        check("verl touchpoint", name, False, f"{why}\nneeded by: {tp.used_by}{keys}")
    if not absent:
        n = sum(len(tp.names()) for tp in touchpoints.TOUCHPOINTS)
        check("verl touchpoints", f"all {n} verl names r1-recipe relies on are present", True)

    from r1_recipe.core import pebble_names

    gone = pebble_names.missing()
    for name, why in gone:
        check("pebble name", f"{name.owner}.{name.path}", False, f"{why}\nneeded by: {name.used_for}")
    version = pebble_names.installed_version()
    if not gone:
        same = version == pebble_names.TESTED_VERSION
        check("pebble names", f"all {len(pebble_names.NAMES)} pebble names the reward pool relies on are present",
              True if same else None, "" if same else f"pebble {version} installed; r1-recipe is tested with "
              f"{pebble_names.TESTED_VERSION} (pinned), whose private state core/bounded.py reads")

    def registered(getter):
        def lookup(name):
            try:
                return getter(name) is not None
            except (ValueError, KeyError, touchpoints.MissingTouchpoint):
                return False
        return lookup

    registries = {
        "advantage estimator": registered(touchpoints.resolve("verl.trainer.ppo.core_algos", "get_adv_estimator_fn")),
        "reward manager": registered(touchpoints.resolve("verl.experimental.reward_loop.reward_manager",
                                                         "get_reward_manager_cls")),
        "config resolver": OmegaConf.has_resolver}
    for kind, names in REGISTERED.items():
        for name in names:
            check(kind, name, registries[kind](name), why_missing)

    try:
        trainer_base = touchpoints.resolve(touchpoints.TRAINER_MODULE)

        for what, hooked_name, mark, where in (
                ("r1/ training-dynamics metrics", touchpoints.COMPUTE_METRICS, "__r1_dynamics__", "dynamics"),
                ("infra-failure policy", touchpoints.COMPUTE_ADVANTAGE, "__r1_infra__", "infra_policy")):
            hooked = getattr(touchpoints.resolve(touchpoints.TRAINER_MODULE, hooked_name), mark, False)
            check("trainer hook", what, hooked, "" if hooked else why_missing or
                  f"{hooked_name} is not wrapped (see r1_recipe.verl.{where})")
    except Exception as e:
        check("trainer hook", "r1/ training-dynamics metrics", False, f"{type(e).__name__}: {e}")
    try:
        engine_workers = touchpoints.resolve(touchpoints.WORKER_MODULE)

        ok = hasattr(engine_workers.ActorRolloutRefWorker, "r1_reset_reference") and getattr(
            trainer_base.PPOTrainer, "__r1_ref_reset__", False)
        check("trainer hook", "reference reset (algorithm.r1.ref_reset_steps)", ok,
              "" if ok else why_missing or "not installed (see r1_recipe.verl.ref_reset)")
    except Exception as e:
        check("trainer hook", "reference reset", False, f"{type(e).__name__}: {e}")
    try:
        from r1_recipe.verl.cpu.platform import PLATFORM_NAME, accelerator_found

        if accelerator_found():
            check("platform", "accelerator found: verl's own platform", True)
        else:
            from verl.plugin.platform import PlatformRegistry

            cpu = PlatformRegistry.get(PLATFORM_NAME) is not None
            check("platform", "cpu (no accelerator found)", cpu, "" if cpu else why_missing or "not registered")
    except Exception as e:
        check("platform", "cpu", False, f"{type(e).__name__}: {e}")
    try:
        from verl.workers.rollout.base import _ROLLOUT_REGISTRY
        from verl.workers.rollout.replica import RolloutReplicaRegistry

        try:
            hf = RolloutReplicaRegistry.get("hf") is not None and ("hf", "async") in _ROLLOUT_REGISTRY
        except ValueError:
            hf = False
        check("rollout", "hf (HF generate on the CPU or the trainer's GPU)", hf,
              "" if hf else why_missing or "not registered")
    except Exception as e:
        check("rollout", "hf", False, f"{type(e).__name__}: {e}")

    from r1_recipe.core import templates

    report["checks"] += reward_rows()
    try:
        from r1_recipe.core.rewards.code.sandbox import isolation_level

        level = isolation_level()
        check("code sandbox", f"isolation level: {level}", True if level == "bwrap" else None,
              "" if level == "bwrap" else "no namespaces (install bubblewrap); untrusted code is refused unless "
              "allow_unsandboxed / R1_RECIPE_ALLOW_UNSANDBOXED=1")
    except Exception as e:
        check("code sandbox", "isolation level", False, f"{type(e).__name__}: {e}")
    for name in templates.CHAT_TEMPLATES:
        try:
            templates.load(name)
            check("template", name, True)
        except Exception:
            check("template", name, False, traceback.format_exc(limit=1))
    return report


def _row(kind: str, name: str, ok: bool | None, why: str = "", status: str | None = None) -> dict:
    return {"kind": kind, "name": name, "status": status or (WARN if ok is None else OK if ok else MISSING),
            "why": why}


def reward_rows() -> list[dict]:
    """One row per reward component: registered (with its provider), failing to load, or claimed by two packages."""
    from r1_recipe.core import rewards

    rows, clashes = [], rewards.conflicts()
    for name in rewards.available():
        if name in clashes:
            rows.append(_row("reward component", name, False, clashes[name], status=CONFLICT))
            continue
        try:
            rewards.get(name)
            rows.append(_row("reward component", f"{name} [{rewards.provider(name)}]", True))
        except Exception as e:
            rows.append(_row("reward component", name, False, f"{type(e).__name__}: {e}"))
    return rows


def run_doctor(python: str | None = None) -> tuple[int, str]:
    """Run the probe in a fresh interpreter; returns (exit code, printable report)."""
    proc = subprocess.run([python or sys.executable, "-m", "r1_recipe.verl.doctor", "--probe"],
                          capture_output=True, text=True, timeout=300)
    try:
        report = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return 1, f"r1-recipe doctor: the probe process failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}"
    return render(report)


def render(report: dict) -> tuple[int, str]:
    """(exit code, the table): 1 when a check is MISSING or in CONFLICT."""
    lines = [f"{'status':8} {'kind':20} name", f"{'-' * 8} {'-' * 20} {'-' * 40}"]
    missing = 0
    for c in report["checks"]:
        lines.append(f"{c['status']:8} {c['kind']:20} {c['name']}")
        if c["status"] != OK:
            missing += c["status"] in (MISSING, CONFLICT)
            lines.extend(f"{'':29} {line}" for line in c["why"].splitlines())
    lines.append("")
    lines.append("all components registered" if not missing else f"{missing} check(s) failed")
    return (0 if not missing else 1), "\n".join(lines)


def _cmd(args) -> int:
    code, text = run_doctor()
    print(text)
    return code


def add_parser(subparsers):
    p = subparsers.add_parser("doctor", help="check that `import verl` registers every r1-recipe component")
    p.set_defaults(func=_cmd)
    return p


if __name__ == "__main__":
    if sys.argv[1:] == ["--probe"]:
        print(json.dumps(probe()))
    else:
        sys.exit(_cmd(None))

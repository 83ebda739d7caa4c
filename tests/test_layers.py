"""The package's layers (docs/architecture.md): imports go core <- verl <- tools only, verl is imported only in the verl
layer, every verl name the source imports is declared in r1_recipe.verl.touchpoints, and a missing one is loud."""

from __future__ import annotations

import ast
import importlib
import logging
import types
from pathlib import Path

import pytest

from r1_recipe.verl import touchpoints

PACKAGE = Path(__file__).resolve().parents[1] / "r1_recipe"
HOST_PACKAGES = ("verl", "transfer_queue", "ray", "hydra", "omegaconf", "vllm")  # what core must never import


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        yield name, path


def imports(path: Path) -> list[tuple[str, str | None, int]]:
    """(module, imported name or None, line) for every import in the file, function-level ones included."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.extend((alias.name, None, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.extend((node.module, alias.name, node.lineno) for alias in node.names)
    return out


def layer(module: str) -> str:
    parts = module.split(".")
    if parts[0] != "r1_recipe":
        return "external"
    if len(parts) > 1 and parts[1] in ("core", "verl", "tools"):
        return parts[1]
    return "api"  # r1_recipe, r1_recipe.rewards (public API over core), r1_recipe.recipes (YAML files)


# what each layer may import from r1_recipe
ALLOWED = {"core": {"core"}, "verl": {"core", "verl"}, "tools": {"core", "verl", "tools"}, "api": {"core"}}


def test_no_module_imports_across_the_layers_upward():
    wrong = []
    for name, path in modules():
        mine = layer(name)
        for module, _, line in imports(path):
            target = layer(module)
            if target != "external" and target not in ALLOWED[mine]:
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {mine} imports {module} ({target})")
            top = module.split(".")[0]
            if mine != "verl" and top in ("verl", "transfer_queue"):
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {mine} imports {module} (only r1_recipe.verl "
                             "may import verl)")
            if mine in ("core", "api") and top in HOST_PACKAGES:
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {mine} imports {module} (core is "
                             "framework-free)")
    assert wrong == []


def declared(module: str, name: str | None) -> bool:
    listed = {tp.module: tp for tp in touchpoints.TOUCHPOINTS}
    if module in listed or module in touchpoints.COMPAT_MODULES:
        if name is None:
            return True
        if f"{module}.{name}" in listed:  # `from pkg import submodule`
            return True
        return any(attr.split(".")[0] == name for tp in touchpoints.TOUCHPOINTS if tp.module == module
                   for attr in tp.attrs)
    return name is not None and f"{module}.{name}" in listed


def test_every_verl_name_the_source_imports_is_a_declared_touchpoint():
    undeclared = []
    for _, path in modules():
        for module, name, line in imports(path):
            if module.split(".")[0] in ("verl", "transfer_queue") and not declared(module, name):
                undeclared.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {module}{':' + name if name else ''}")
    assert undeclared == []


def test_the_installed_verl_has_every_touchpoint():
    assert [(name, why) for _, name, why in touchpoints.missing()] == []


def covered(name: str, tps=touchpoints.TOUCHPOINTS) -> bool:
    """`name` ("module:a.b.c") is declared: a touchpoint of its module lists it, a part of it, or a longer path
    through it (a prefix read on the way to a declared name)."""
    module, _, path = name.partition(":")
    return any(tp.module == module and (not path and not tp.attrs or any(
        path == a or path.startswith(a + ".") or a.startswith(path + ".") for a in tp.attrs)) for tp in tps) \
        or module in touchpoints.COMPAT_MODULES


def test_every_verl_attribute_the_source_uses_is_a_declared_touchpoint():
    """The AST walk of tests/_source_walk.py (its docstring states which objects count as verl's and the limits):
    every attribute of a verl object we read, write, call, wrap or override is declared in touchpoints.TOUCHPOINTS,
    and every object a hook receives from verl is declared in touchpoints.RECEIVED."""
    from _source_walk import host_uses

    constants = {k: v for k, v in vars(touchpoints).items() if isinstance(v, str)}
    undeclared, seen = [], set()
    for name, path in modules():
        for use in host_uses(path, name, ("verl", "transfer_queue", "hydra"), touchpoints.RECEIVED, constants,
                             touchpoints._module_file_present):
            seen.add(use.name)
            if not covered(use.name):
                undeclared.append(f"{path.relative_to(PACKAGE.parent)}:{use.line}: {use.name}")
    assert undeclared == []
    # the walk sees what matters most: the hooks' objects and the reward-model client built without its constructor
    assert {"verl.trainer.ppo.v1.trainer_base:PPOTrainer.global_steps", "transfer_queue.metadata:KVBatchMeta.tags",
            "verl.experimental.reward_loop.reward_loop:RewardLoopWorker.reward_router_address",
            "verl.experimental.reward_loop.reward_loop:RewardLoopWorker.compute_score_disrm",
            "verl.trainer.ppo.v1.replay_buffer:ReplayBuffer.refill_fn",
            "verl.workers.rollout.replica:RolloutReplica.launch_servers"} <= seen
    for function in touchpoints.RECEIVED:  # a renamed function would silently drop its objects from the walk
        module, _, qualname = function.partition(":")
        obj = importlib.import_module(module)
        for part in qualname.split("."):
            obj = (None if hasattr(obj, "co_consts") else getattr(obj, part, None)) or _nested(obj, part)
        assert obj is not None, function


def _nested(function, name: str):
    """The function `name` defined inside `function` (a closure of it)."""
    code = getattr(function, "__code__", function if hasattr(function, "co_consts") else None)
    return next((c for c in (code.co_consts if code else ()) if getattr(c, "co_name", None) == name), None)


def test_the_hooked_methods_are_named_only_in_touchpoints():
    """Every wrapped verl method is spelled once, in touchpoints (the hooks take it from there): no other module
    has it as a string or as an attribute."""
    hooked = {h.rpartition(".")[2] for h in (touchpoints.COMPUTE_METRICS, touchpoints.COMPUTE_ADVANTAGE,
                                             touchpoints.UPDATE_ACTOR, touchpoints.LOAD_CHECKPOINT,
                                             touchpoints.BUILD_REPLAY_BUFFER)}
    found = []
    for name, path in modules():
        if name == "r1_recipe.verl.touchpoints":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(n.body[0].value) for n in ast.walk(tree) if isinstance(
            n, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and n.body and isinstance(
            n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                text = node.attr
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                text = node.value
            else:
                continue
            if any(h in text for h in hooked):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {text[:60]}")
    assert found == []


def test_patched_modules_are_named_only_in_touchpoints():
    for name, path in modules():
        if name != "r1_recipe.verl.touchpoints":
            text = path.read_text(encoding="utf-8")
            assert f'"{touchpoints.TRAINER_MODULE}"' not in text and f'"{touchpoints.WORKER_MODULE}"' not in text, name


FAKE = touchpoints.Touchpoint("verl.trainer.ppo.v2_renamed.trainer_base", ("PPOTrainer._update_actor",),
                              "periodic reference reset", ("algorithm.r1.ref_reset_steps",), private=True)


def test_a_missing_touchpoint_is_a_loud_warning_at_plugin_import(monkeypatch, caplog):
    monkeypatch.setattr(touchpoints, "TOUCHPOINTS", (*touchpoints.TOUCHPOINTS, FAKE))
    with caplog.at_level(logging.WARNING, logger="r1_recipe"):
        assert touchpoints.check_at_import() == ["verl.trainer.ppo.v2_renamed.trainer_base"]
    assert caplog.messages == ["r1-recipe: verl module verl.trainer.ppo.v2_renamed.trainer_base is missing (installed "
                               "verl is not 0.9.1?): periodic reference reset will not work"]


def test_a_config_that_needs_a_missing_touchpoint_fails_at_start_up_naming_the_key(monkeypatch):
    from omegaconf import OmegaConf

    monkeypatch.setattr(touchpoints, "TOUCHPOINTS", (FAKE,))
    cfg = OmegaConf.create({"algorithm": {"r1": {"ref_reset_steps": 400}}})
    with pytest.raises(ValueError) as e:
        touchpoints.require_for_config(cfg)
    assert str(e.value) == (
        "algorithm.r1.ref_reset_steps needs verl's verl.trainer.ppo.v2_renamed.trainer_base:PPOTrainer._update_actor "
        "(periodic reference reset), which the installed verl lacks: verl.trainer.ppo.v2_renamed.trainer_base: cannot "
        "import (No module named 'verl.trainer.ppo.v2_renamed') (r1-recipe supports verl 0.9.1; run `r1-recipe "
        "doctor`)")
    touchpoints.require_for_config(OmegaConf.create({"algorithm": {"r1": {"ref_reset_steps": None}}}))  # unset: fine


def test_a_hooked_module_without_the_method_is_left_unpatched_with_a_warning(caplog):
    from r1_recipe.verl import dynamics, infra_policy, ref_reset

    class PPOTrainer:  # verl renamed _compute_metrics / _update_actor
        pass

    module = types.ModuleType("verl.trainer.ppo.v1.trainer_base")
    module.PPOTrainer = PPOTrainer
    with caplog.at_level(logging.WARNING, logger="r1_recipe"):
        dynamics.patch_trainer_module(module)
        infra_policy.patch_trainer_module(module)
        ref_reset.patch_trainer_module(module)
    assert vars(PPOTrainer).keys().isdisjoint({"_compute_metrics", "_compute_advantage", "_update_actor",
                                               "__r1_ref_reset__"})
    assert caplog.messages == [
        "r1-recipe: the r1/ training-dynamics metrics hook is off: verl has no "
        "verl.trainer.ppo.v1.trainer_base:PPOTrainer._compute_metrics (installed verl is not 0.9.1?)",
        "r1-recipe: the infra-failure policy (group mean before the advantage) is off: verl has no "
        "verl.trainer.ppo.v1.trainer_base:PPOTrainer._compute_advantage (installed verl is not 0.9.1?)",
        "r1-recipe: the reference reset (algorithm.r1.ref_reset_steps) is off: verl has no "
        "verl.trainer.ppo.v1.trainer_base:PPOTrainer._update_actor, "
        "verl.trainer.ppo.v1.trainer_base:PPOTrainer._load_checkpoint (installed verl is not 0.9.1?)"]

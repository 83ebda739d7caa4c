"""Periodic reference reset (`algorithm.r1.ref_reset_steps`, r1_recipe.verl.ref_reset): start-up checks that name the
key, and the hooks the plugin installs into verl. The reset itself runs in verl's main_ppo in
tests/test_cpu_main_ppo.py."""

import pytest
from omegaconf import OmegaConf

from r1_recipe.verl import ref_reset


def cfg(steps):
    return OmegaConf.create({"algorithm": {"r1": {"ref_reset_steps": steps}}})


def test_unset_or_null_means_no_reset():
    assert ref_reset.check_config(OmegaConf.create({"algorithm": {}}), True, False) is None
    assert ref_reset.check_config(cfg(None), False, True, False) is None
    assert ref_reset.check_config(cfg(400), True, False) == 400


@pytest.mark.parametrize("steps, kwargs, message", [
    (0, {}, r"algorithm\.r1\.ref_reset_steps must be a positive number of steps \(or null\), got 0"),
    (2.5, {}, r"algorithm\.r1\.ref_reset_steps must be a positive number of steps \(or null\), got 2\.5"),
    (400, {"use_reference_policy": False}, r"ref_reset_steps=400 but this run has no reference model"),
    (400, {"ref_in_actor": True}, r"ref_reset_steps=400 is not supported with LoRA"),
    (400, {"colocated": False}, r"ref_reset_steps=400 needs the reference model on the actor's workers"),
])
def test_bad_settings_fail_at_start_up_naming_the_key(steps, kwargs, message):
    args = {"use_reference_policy": True, "ref_in_actor": False, "colocated": True, **kwargs}
    with pytest.raises(ValueError, match=message):
        ref_reset.check_config(cfg(steps), **args)


def test_plugin_adds_the_worker_method_and_wraps_the_trainer():
    import verl  # noqa: F401  (the plugin installs the hooks)
    from verl.single_controller.base.decorator import MAGIC_ATTR
    from verl.trainer.ppo.v1 import trainer_base
    from verl.workers import engine_workers

    method = engine_workers.ActorRolloutRefWorker.r1_reset_reference
    assert getattr(method, MAGIC_ATTR)["dispatch_mode"].name == "ONE_TO_ALL"  # callable on the worker group
    assert trainer_base.PPOTrainer.__r1_ref_reset__ is True


def test_r1_recipe_run_refuses_a_reset_without_a_reference(capsys, tmp_path):
    import json

    from r1_recipe.tools.cli import main

    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text(json.dumps({"max_position_embeddings": 4096}))
    (tmp_path / "model" / "model.safetensors").write_bytes(b"")  # weights: the model check wants them
    for name in ("train.parquet", "val.parquet"):
        (tmp_path / name).write_bytes(b"")
    args = [f"actor_rollout_ref.model.path={tmp_path / 'model'}", f"data.train_files={tmp_path / 'train.parquet'}",
            f"data.val_files={tmp_path / 'val.parquet'}", "data.max_response_length=2048",
            "actor_rollout_ref.actor.use_kl_loss=false"]
    assert main(["run", "zero", *args, "--dry-run"]) == 2
    assert "algorithm.r1.ref_reset_steps=400 but this run has no reference model" in capsys.readouterr().err
    assert main(["run", "zero", *args, "algorithm.r1.ref_reset_steps=null", "--dry-run"]) == 0

"""`r1-recipe ls | cp | run`: the listing, copying, the exact launch command, and start-up errors that name the key."""

from __future__ import annotations

import json
import sys

import pytest
from _cli import run

from r1_recipe.tools import recipes as recipe_cli
from r1_recipe.verl import recipe_check


@pytest.fixture(scope="module")
def d(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    (d / "model").mkdir()
    (d / "model" / "config.json").write_text(json.dumps({"max_position_embeddings": 4096}))
    (d / "model" / "model.safetensors").write_bytes(b"")  # weights: the model check wants them
    for name in ("train.parquet", "val.parquet"):
        (d / name).write_bytes(b"")
    return d


def zero_args(d) -> list[str]:
    return [f"actor_rollout_ref.model.path={d / 'model'}", f"data.train_files={d / 'train.parquet'}",
            f"data.val_files={d / 'val.parquet'}", "data.max_response_length=2048"]


def test_ls_lists_every_recipe_with_its_description(capsys):
    rc, out, _ = run(capsys, "ls")
    assert rc == 0
    lines = {line.split()[0]: line for line in out.splitlines()[:11]}
    assert sorted(lines) == ["all_scenarios_rl", "cold_start_sft", "distill", "eval_generate", "reasoning_rl",
                             "rejection_sampling", "sft_all", "zero", "zero_dapo", "zero_drgrpo", "zero_gspo"]
    assert lines["zero"].split(None, 1)[1] == ("R1-Zero: GRPO from a base model with rule rewards and the R1-Zero "
                                               "template (DeepSeek-R1 §2.2)")


def test_cp_copies_refuses_to_overwrite_and_the_copy_runs(capsys, tmp_path, d):
    rc, out, _ = run(capsys, "cp", "zero", str(tmp_path))
    assert rc == 0 and (tmp_path / "zero.yaml").read_text() == recipe_cli.available()["zero"].read_text()
    rc, _, err = run(capsys, "cp", "zero", str(tmp_path / "zero.yaml"))
    assert rc == 1 and "exists (use --force" in err
    rc, out, _ = run(capsys, "run", str(tmp_path / "zero.yaml"), *zero_args(d), "--dry-run")
    assert rc == 0
    assert out.splitlines()[-1] == (f"{sys.executable} -m verl.trainer.main_ppo --config-path {tmp_path} "
                                    f"--config-name zero " + " ".join(zero_args(d)))


def test_dry_run_prints_config_and_main_ppo_command(capsys, d):
    rc, out, err = run(capsys, "run", "zero", *zero_args(d), "--dry-run")
    assert rc == 0
    assert "adv_estimator: r1_grpo" in out and "loss_agg_mode: seq-mean-token-mean" in out
    # r1-recipe's blocks with the values the run validates with, defaults filled (core.config)
    assert "#   algorithm.r1: epsilon=1e-06, unbiased_std=true, ref_reset_steps=400" in out
    assert "#   reward.r1: components={accuracy: 1, format: 1}, timeout_s=10, step_budget_s=null (default), " \
           "acc_component=null (default), score_truncated=false (default), workers=null (default), memory_mb=4096 " \
           "(default), infra_warn_rate=0.02 (default), reward_model=null (default)" in out
    assert out.splitlines()[-1] == (f"{sys.executable} -m verl.trainer.main_ppo --config-path pkg://r1_recipe.recipes "
                                    "--config-name zero " + " ".join(zero_args(d)))
    import torch

    if torch.cuda.device_count() < 8:  # too few GPUs here: reported, not fatal, in a dry run
        assert "trainer.n_gpus_per_node=8 but this node has" in err


def test_dry_run_sft_uses_torchrun_with_gpus_per_node(capsys, d):
    args = [f"model.path={d / 'model'}", f"data.train_files={d / 'train.parquet'}", "trainer.n_gpus_per_node=2",
            "data.max_length=4096"]
    rc, out, _ = run(capsys, "run", "cold_start_sft", *args, "--dry-run")
    assert rc == 0
    assert out.splitlines()[-1] == (f"{sys.executable} -m torch.distributed.run --standalone --nnodes=1 "
                                    "--nproc_per_node=2 -m verl.trainer.sft_trainer "
                                    "--config-path pkg://r1_recipe.recipes --config-name cold_start_sft "
                                    + " ".join(args))


def test_dry_run_generation_uses_verls_servers_with_the_chunked_client(capsys, d):
    args = [f"actor_rollout_ref.model.path={d / 'model'}", f"data.train_files={d / 'train.parquet'}",
            f"data.output_path={d / 'gen.parquet'}", "data.max_response_length=2048"]
    rc, out, _ = run(capsys, "run", "rejection_sampling", *args, "actor_rollout_ref.rollout.max_model_len=4096",
                     "--dry-run")
    assert rc == 0
    assert out.splitlines()[-1].startswith(f"{sys.executable} -m r1_recipe.verl.generate ")
    assert "#   r1_generation: chunk_prompts=64, max_connections=256, request_timeout_s=7200, max_retries=3" in out


@pytest.mark.parametrize("extra, message", [
    (["+reward.r1.components.nope=1.0"], "reward.r1.components.nope"),
    (["+actor_rollout_ref.actor.epsilon=10"], "actor_rollout_ref.actor.epsilon: unknown key"),
    (["algorithm.adv_estimator=grpo_r1"], "algorithm.adv_estimator: 'grpo_r1' is not registered"),
    (["reward.reward_manager.name=nope"], "reward.reward_manager.name: 'nope' is not registered"),
    (["actor_rollout_ref.rollout.max_model_len=2048"],
     "actor_rollout_ref.rollout.max_model_len=2048 < data.max_prompt_length + data.max_response_length = 3072"),
    (["trainer.n_gpus_per_node=3"], "tensor_model_parallel_size=2 does not divide trainer.n_gpus_per_node x "
                                    "trainer.nnodes = 3"),
    (["data.train_files=/nonexistent/train.parquet"], "data.train_files: file '/nonexistent/train.parquet' does not"),
    (["actor_rollout_ref.model.path=/nonexistent/model"], "actor_rollout_ref.model.path: model '/nonexistent/model' "
                                                          "is neither an existing directory"),
    (["actor_rollout_ref.actor.ppo_max_token_len_per_gpu=1000"], "ppo_max_token_len_per_gpu=1000 x actor_rollout_ref."
                                                                 "actor.ulysses_sequence_parallel_size=1 < "),
    (["reward.reward_model.enable=true", "reward.reward_model.rollout.name=vllm", "reward.reward_model.model_path=x/y"],
     "reward.reward_model.enable=true: verl 0.9.1 then sends every row to the reward model"),
    (["reward.reward_model.enable=true", "reward.reward_model.rollout.name=vllm", "reward.reward_model.model_path=x/y",
      "reward.custom_reward_function.path=pkg://r1_recipe.rewards"],
     "reward.r1.reward_model and reward.reward_model.enable must be set together (rows with reward_model.style=model "
     "then get the reward model's score); got reward.r1.reward_model=None, reward.reward_model.enable=True"),
])
def test_bad_config_fails_before_launch_naming_the_key(capsys, d, monkeypatch, extra, message):
    monkeypatch.setattr(recipe_cli.subprocess, "call", lambda *a, **k: pytest.fail("launched"))
    rc, _, err = run(capsys, "run", "zero", *zero_args(d), *extra, "--dry-run")
    assert rc == 2 and message in err


def test_missing_required_values_are_listed(capsys):
    rc, _, err = run(capsys, "run", "zero", "--dry-run")
    assert rc == 2
    assert [line.split(":")[0] for line in err.splitlines()[1:]] == [
        "  - actor_rollout_ref.model.path", "  - data.train_files", "  - data.val_files"]


def test_unknown_override_key_says_to_use_plus(capsys, d):
    rc, _, err = run(capsys, "run", "zero", *zero_args(d), "reward.r1.nope=1", "--dry-run")
    assert rc == 2 and "nope" in err and "needs a leading '+'" in err


def test_run_refuses_without_gpus_and_launches_with_them(capsys, d, monkeypatch):
    monkeypatch.setattr(recipe_check, "_check_gpus", lambda n, report, key: None)
    calls = []
    monkeypatch.setattr(recipe_cli.subprocess, "call", lambda cmd, env=None: calls.append(cmd) or 0)
    rc, _, _ = run(capsys, "run", "zero", *zero_args(d))
    assert rc == 0 and calls[0][1:5] == ["-m", "verl.trainer.main_ppo", "--config-path", "pkg://r1_recipe.recipes"]
    monkeypatch.undo()
    import torch

    if not torch.cuda.is_available():
        rc, _, err = run(capsys, "run", "zero", *zero_args(d))
        assert rc == 2 and "trainer.n_gpus_per_node=8 but this node has 0 visible GPU(s)" in err


def test_unknown_recipe_names_the_choices(capsys):
    rc, _, err = run(capsys, "run", "zeroo", "--dry-run")
    assert rc == 2 and "unknown recipe 'zeroo'; recipes: all_scenarios_rl, cold_start_sft" in err


def test_response_longer_than_the_models_context_is_refused_before_vllm_starts(capsys, d):
    args = zero_args(d)[:-1] + ["data.max_response_length=8192"]  # 1024 + 8192 > the model's 4096 positions
    rc, _, err = run(capsys, "run", "zero", *args, "--dry-run")
    assert rc == 2 and ("data.max_prompt_length + data.max_response_length = 9216 > the model's "
                        "max_position_embeddings=4096") in err
    rc, _, err = run(capsys, "run", "zero", *zero_args(d), "actor_rollout_ref.rollout.max_model_len=8192", "--dry-run")
    assert rc == 2 and "actor_rollout_ref.rollout.max_model_len=8192 > the model's max_position_embeddings=4096" in err


def test_sft_longer_than_the_models_context_is_refused(capsys, d):
    """The exported student would keep 4096 positions, which eval_generate's 32k generation then refuses."""
    rc, _, err = run(capsys, "run", "distill", f"model.path={d / 'model'}", f"data.train_files={d / 'train.parquet'}",
                     "--dry-run")
    assert rc == 2 and "data.max_length=32768 > the model's max_position_embeddings=4096" in err


def test_distill_refuses_a_student_template_that_would_drop_the_reasoning(capsys, tmp_path):
    from conftest import build_tiny_tokenizer

    student = tmp_path / "student"
    build_tiny_tokenizer(student)  # no chat template of its own
    (student / "config.json").write_text(json.dumps({"max_position_embeddings": 32768}))
    (student / "model.safetensors").write_bytes(b"")
    (tmp_path / "sft.parquet").write_bytes(b"")
    args = [f"model.path={student}", f"data.train_files={tmp_path / 'sft.parquet'}"]
    rc, _, err = run(capsys, "run", "distill", *args, "--dry-run")  # the recipe's r1_chat keeps <think> in the target
    assert rc == 0, err
    rc, _, err = run(capsys, "run", "distill", *args, "model.custom_chat_template=null", "--dry-run")
    assert rc == 2 and "has no chat template: set the recipe's model.custom_chat_template" in err


def test_all_scenarios_rl_turns_the_reward_model_on_with_three_overrides(capsys, d):
    rm = ["reward.reward_model.enable=true", "reward.reward_model.model_path=org/rm",
          "reward.r1.reward_model={weight:1.0,timeout_s:120}"]
    rc, out, err = run(capsys, "run", "all_scenarios_rl", *zero_args(d), *rm, "--dry-run")
    assert rc == 0, err
    assert "custom_reward_function:\n    path: pkg://r1_recipe.rewards" in out
    assert "reward_model:\n      weight: 1.0\n      timeout_s: 120" in out


def test_cpu_flag_adds_the_cpu_overrides_and_the_users_keys_win(capsys, d):
    from r1_recipe.verl.cpu import overrides as cpu

    rc, out, err = run(capsys, "run", "zero", *zero_args(d), "reward.num_workers=2", "--cpu", "--dry-run")
    assert rc == 0, err
    command = out.split("# command:\n")[1]
    assert [o for o in cpu.PPO if o in command] == [o for o in cpu.PPO if o != "reward.num_workers=1"]
    assert "reward.num_workers=2" in command and "reward.num_workers=1" not in command
    import yaml

    resolved = yaml.safe_load(out.split("# command:")[0])
    assert (resolved["actor_rollout_ref"]["rollout"]["name"], resolved["trainer"]["device"]) == ("hf", "cpu")
    rc, _, err = run(capsys, "run", "eval_generate", f"actor_rollout_ref.model.path={d / 'model'}", "--cpu",
                     "--dry-run")
    assert rc == 2 and "--cpu runs SFT and RL recipes (verl's sft_trainer, main_ppo), not main_generation_server" in err

"""Every shipped recipe composes with verl's Hydra config and passes validation (ours + verl's validate_config); the
paper values the recipes promise are the values verl will see."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from r1_recipe.core import templates
from r1_recipe.tools.recipes import available, compose
from r1_recipe.verl.recipe_check import GENERATION, PPO, SFT, entry_point, validate

RECIPES = {
    "zero": PPO, "reasoning_rl": PPO, "all_scenarios_rl": PPO, "rejection_sampling": GENERATION,
    "cold_start_sft": SFT, "sft_all": SFT, "distill": SFT, "eval_generate": GENERATION,
    "zero_dapo": PPO, "zero_drgrpo": PPO, "zero_gspo": PPO,  # the variants: tests/test_variants.py
}


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    d = tmp_path_factory.mktemp("recipe_inputs")
    (d / "model").mkdir()
    (d / "model" / "config.json").write_text(json.dumps({"max_position_embeddings": 131072}))
    (d / "model" / "model.safetensors").write_bytes(b"")  # weights: the model check wants them
    for name in ("train.parquet", "val.parquet"):
        (d / name).write_bytes(b"")
    return d


def required(kind: str, d) -> list[str]:
    if kind == SFT:
        return [f"model.path={d / 'model'}", f"data.train_files={d / 'train.parquet'}"]
    out = [f"actor_rollout_ref.model.path={d / 'model'}", f"data.train_files={d / 'train.parquet'}"]
    return out + ([f"data.output_path={d / 'gen.parquet'}"] if kind == GENERATION else
                  [f"data.val_files={d / 'val.parquet'}"])


def test_every_shipped_recipe_is_checked():
    assert set(available()) == set(RECIPES)


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipe_composes_and_validates(name, paths):
    cfg, _, shipped = compose(name, required(RECIPES[name], paths))
    assert shipped and entry_point(cfg) == RECIPES[name]
    report = validate(cfg, RECIPES[name], check_gpus=False)
    assert report.errors == []


def test_zero_carries_the_paper_values(paths):
    cfg, _, _ = compose("zero", required(PPO, paths))
    actor, rollout = cfg.actor_rollout_ref.actor, cfg.actor_rollout_ref.rollout
    assert cfg.actor_rollout_ref.model.custom_chat_template == templates.load("r1_zero")
    assert cfg.algorithm.adv_estimator == "r1_grpo" and cfg.algorithm.use_kl_in_reward is False
    assert (actor.optim.lr, actor.kl_loss_coef, actor.use_kl_loss) == (3e-6, 0.001, True)
    assert (actor.kl_loss_type, actor.loss_agg_mode) == ("low_var_kl", "seq-mean-token-mean")
    assert (rollout.n, rollout.temperature, actor.ppo_epochs) == (16, 1.0, 1)
    assert cfg.data.train_batch_size // actor.ppo_mini_batch_size == 16  # 16 mini-batches per rollout
    assert dict(rollout.val_kwargs) == {"_target_": "verl.workers.config.SamplingConfig", "top_k": -1,
                                             "top_p": 0.95, "temperature": 0.6, "n": 16, "do_sample": True}
    assert (cfg.reward.reward_manager.source, cfg.reward.reward_manager.name) == ("register", "r1")
    assert dict(cfg.reward.r1.components) == {"accuracy": 1.0, "format": 1.0}


def test_eval_generate_samples_with_the_papers_evaluation_settings(paths):
    cfg, _, _ = compose("eval_generate", required(GENERATION, paths))
    rollout = cfg.actor_rollout_ref.rollout
    assert (rollout.n, rollout.temperature, rollout.top_p, rollout.response_length) == (64, 0.6, 0.95, 32768)


def test_reasoning_rl_adds_language_reward_and_clip_ten(paths):
    cfg, _, _ = compose("reasoning_rl", required(PPO, paths))
    actor = cfg.actor_rollout_ref.actor
    assert (actor.clip_ratio_low, actor.clip_ratio_high) == (10.0, 10.0)
    assert dict(cfg.reward.r1.components) == {"accuracy": 1.0, "format": {"weight": 1.0, "answer_tag": False},
                                              "language": 1.0}
    assert cfg.actor_rollout_ref.model.custom_chat_template == templates.load("r1_chat")


@pytest.mark.parametrize("name, answer_tag", [("zero", True), ("reasoning_rl", False), ("all_scenarios_rl", False)])
def test_format_reward_fits_the_form_the_template_asks_for(name, answer_tag, paths):
    """R1-Zero's template asks for <answer> tags; the chat form (cold start: reasoning, then a summary) has none."""
    from r1_recipe.core.rewards.compose import parse_config
    from r1_recipe.core.rewards.format import format_reward

    cfg, _, _ = compose(name, required(PPO, paths))
    fmt = next(c for c in parse_config(cfg.reward.r1).components if c.name == "format")
    chat = "<think> 3 plus 4 is 7. </think> So the answer is \\boxed{7}."
    tagged = "<think> 3 plus 4 is 7. </think> <answer> \\boxed{7} </answer>"
    assert format_reward(chat, **fmt.options).score == (0.0 if answer_tag else 1.0)
    assert format_reward(tagged, **fmt.options).score == (1.0 if answer_tag else 0.0)


@pytest.mark.parametrize("name", ["zero", "reasoning_rl", "all_scenarios_rl"])
def test_every_rl_stage_replaces_the_reference_every_400_policy_updates(name, paths):
    # stage 2 "retains most of the parameters from the first stage" [Nature]: the 400-step reset carries over
    cfg, _, _ = compose(name, required(PPO, paths))
    assert cfg.algorithm.r1.ref_reset_steps == 400


def test_stage_two_samples_at_0_7_and_distill_presets(paths):
    cfg, _, _ = compose("all_scenarios_rl", required(PPO, paths))
    assert cfg.actor_rollout_ref.rollout.temperature == 0.7 and cfg.trainer.total_training_steps == 106
    cfg, _, _ = compose("distill", required(SFT, paths) + ["optim.lr=8e-5"])
    assert (cfg.optim.lr, cfg.optim.lr_scheduler_type, cfg.optim.min_lr_ratio) == (8e-5, "cosine", 0.1)
    assert (cfg.data.max_length, cfg.data.train_batch_size) == (32768, 64)


def test_size_knobs_override_from_the_command_line(paths):
    cfg, _, _ = compose("zero", required(PPO, paths) + [
        "trainer.n_gpus_per_node=1", "data.max_response_length=256", "data.train_batch_size=4",
        "actor_rollout_ref.actor.ppo_mini_batch_size=2", "actor_rollout_ref.rollout.n=2",
        "actor_rollout_ref.rollout.tensor_model_parallel_size=1",
        "actor_rollout_ref.actor.ppo_max_token_len_per_gpu=2048"])
    assert (cfg.trainer.n_gpus_per_node, cfg.actor_rollout_ref.rollout.response_length) == (1, 256)
    assert validate(cfg, PPO, check_gpus=False).errors == []


def test_verl_entry_point_finds_recipes_through_pkg_config_path(tmp_path):
    """The installed package makes `--config-path pkg://r1_recipe.recipes` work for verl's own entry point."""
    proc = subprocess.run([sys.executable, "-m", "verl.trainer.main_ppo", "--config-path", "pkg://r1_recipe.recipes",
                           "--config-name", "reasoning_rl", "--cfg", "job", "--resolve"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "adv_estimator: r1_grpo" in proc.stdout and "language: 1.0" in proc.stdout
    assert "A conversation between User and Assistant" not in proc.stdout  # reasoning_rl uses the chat template
    assert "<|im_start|>assistant" in proc.stdout

"""The verl plugin: entry-point registration in a fresh process, loud failures, doctor, and config composition."""

import os
import subprocess
import sys

import pytest

CHECK = (
    "import verl\n"
    "from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY as A\n"
    "from verl.experimental.reward_loop.reward_manager.registry import REWARD_MANAGER as M\n"
    "from omegaconf import OmegaConf\n"
    "print(sorted(k for k in A if k.startswith('r1')), sorted(k for k in M if k == 'r1'),"
    " OmegaConf.has_resolver('r1_template'))\n"
)


def python(code, **env):
    e = {k: v for k, v in os.environ.items() if not k.startswith("VERL_")}
    e.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=e)


def test_import_verl_registers_every_component_through_the_entry_point():
    proc = python(CHECK)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "['r1_grpo', 'r1_grpo_process'] ['r1'] True"
    assert "r1_recipe.verl.plugin" not in CHECK  # nothing imported our module but verl


def test_plugin_disabled_by_verl_setting_registers_nothing():
    proc = python(CHECK, VERL_USE_EXTERNAL_PLUGINS="none")
    assert proc.stdout.strip().splitlines()[-1] == "[] [] False"


def test_registration_failure_is_logged_as_a_warning_with_traceback():
    # Re-executing the plugin module creates new function objects; verl refuses to re-register `r1_grpo` with a
    # different function, which is exactly the kind of failure verl itself would swallow at DEBUG level.
    code = ("import sys, importlib, verl\n"
            "del sys.modules['r1_recipe.verl.plugin']\n"
            "importlib.import_module('r1_recipe.verl.plugin')\n")
    proc = python(code)
    assert proc.returncode == 0
    assert "r1-recipe: registering the verl plugin failed; run `r1-recipe doctor`" in proc.stderr
    assert "Traceback" in proc.stderr and "r1_grpo" in proc.stderr


def test_doctor_reports_every_component_and_what_is_missing():
    from r1_recipe.core import pebble_names
    from r1_recipe.verl import touchpoints
    from r1_recipe.verl.doctor import run_doctor

    code, text = run_doctor()
    lines = text.splitlines()
    n_verl = sum(len(tp.names()) for tp in touchpoints.TOUCHPOINTS)
    for name in ("r1_grpo", "r1_grpo_process", "r1", "r1_template", "r1_zero", "r1/ training-dynamics metrics",
                 "infra-failure policy", f"all {len(pebble_names.NAMES)} pebble names the reward pool relies on are "
                 "present", f"all {n_verl} verl names r1-recipe relies on are present"):
        assert any(line.startswith("ok") and line.endswith(f" {name}") for line in lines), text
    import torch

    assert "ok       rollout              hf (HF generate on the CPU or the trainer's GPU)" in lines, text  # any host
    if not torch.cuda.is_available():  # CI: verl's trainers run here through platform cpu and rollout hf
        assert "ok       platform             cpu (no accelerator found)" in lines, text
    os.environ["VERL_USE_EXTERNAL_PLUGINS"] = "none"
    try:
        code_off, text_off = run_doctor()
    finally:
        del os.environ["VERL_USE_EXTERNAL_PLUGINS"]
    assert code_off == 1
    assert "MISSING  advantage estimator  r1_grpo\n" in text_off
    assert "verl plugin loading excludes r1_recipe: VERL_USE_EXTERNAL_PLUGINS=none" in text_off
    assert "MISSING  trainer hook         r1/ training-dynamics metrics\n" in text_off
    assert "MISSING  trainer hook         infra-failure policy\n" in text_off


def test_recipe_style_config_composes_and_passes_verl_validate_config():
    import verl  # noqa: F401
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    from r1_recipe.core.rewards.compose import parse_config
    from r1_recipe.core.templates import load

    overrides = [
        "algorithm.adv_estimator=r1_grpo",
        "+algorithm.r1.epsilon=1e-6",
        "reward.reward_manager.name=r1",
        "+reward.r1.components.accuracy=1.0",
        "+reward.r1.components.format=1.0",
        "+reward.r1.timeout_s=10",
        "actor_rollout_ref.model.custom_chat_template=${r1_template:r1_zero}",
        "actor_rollout_ref.rollout.name=vllm",
        "actor_rollout_ref.rollout.n=16",
        "actor_rollout_ref.actor.use_kl_loss=true",
        "actor_rollout_ref.actor.kl_loss_type=low_var_kl",
        "actor_rollout_ref.actor.kl_loss_coef=0.001",
        "actor_rollout_ref.actor.loss_agg_mode=seq-mean-token-mean",
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=1",
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=1",
        "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=1",
        "data.train_batch_size=32",
        "actor_rollout_ref.actor.ppo_mini_batch_size=32",
    ]
    with initialize_config_module("verl.trainer.config", version_base=None):
        cfg = compose("ppo_trainer", overrides=overrides)
    validate_config(cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg))
    OmegaConf.resolve(cfg)
    assert cfg.actor_rollout_ref.model.custom_chat_template == load("r1_zero")
    assert [c.name for c in parse_config(cfg.reward.r1).components] == ["accuracy", "format"]
    assert need_critic(cfg) is False


@pytest.mark.parametrize("template", ["r1_zero"])
def test_r1_zero_template_on_a_tokenizer_with_no_chat_template(tiny_tokenizer, template):
    from r1_recipe.core.templates import load

    assert tiny_tokenizer.chat_template is None
    text = tiny_tokenizer.apply_chat_template([{"role": "user", "content": "What is 6*7?"}],
                                              chat_template=load(template),
                                              add_generation_prompt=True, tokenize=False)
    assert text == (
        "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. The "
        "assistant first thinks about the reasoning process in the mind and then provides the user with the answer. "
        "The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, "
        "respectively, i.e., <think> reasoning process here </think> <answer> answer here </answer>. "
        "User: What is 6*7?. Assistant:"
    )


def test_chat_form_opens_the_reasoning_block(tiny_tokenizer):
    from r1_recipe.core.templates import MATH_INSTRUCTION, load

    msg = [{"role": "user", "content": f"What is 6*7? {MATH_INSTRUCTION}"}]
    text = tiny_tokenizer.apply_chat_template(msg, chat_template=load("r1_chat"), add_generation_prompt=True,
                                              tokenize=False)
    assert text == ("<|im_start|>user\nWhat is 6*7? Please reason step by step, and put your final answer within "
                    "\\boxed{}.<|im_end|>\n<|im_start|>assistant\n<think>\n")


def test_custom_chat_template_through_verl_model_config(tmp_path):
    """verl's HFModelConfig sets `custom_chat_template` on a model whose tokenizer has no chat template."""
    import verl  # noqa: F401
    from conftest import build_tiny_tokenizer
    from transformers import Qwen2Config
    from verl.workers.config.model import HFModelConfig

    from r1_recipe.core.templates import load

    build_tiny_tokenizer(tmp_path)
    Qwen2Config(vocab_size=600, hidden_size=64, intermediate_size=128, num_hidden_layers=1, num_attention_heads=2,
                num_key_value_heads=1, architectures=["Qwen2ForCausalLM"]).save_pretrained(tmp_path)
    model = HFModelConfig(path=str(tmp_path), custom_chat_template=load("r1_zero"))
    text = model.tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}], add_generation_prompt=True,
                                               tokenize=False)
    assert text.endswith("<think> reasoning process here </think> <answer> answer here </answer>. User: Hi. Assistant:")

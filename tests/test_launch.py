"""Launch-readiness on a GPU cluster (issue 13), checked on CPU against verl 0.9.1's own code: the objective the RL
recipes train, the units of step, start-up checks verl only makes after a full rollout, path values, checkpoint
hand-over between stages, the plan `--dry-run` prints, and the GPU extra's dependency pins."""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace

import pytest
from _cli import run

from r1_recipe.core import plan
from r1_recipe.tools.recipes import compose, expand_paths

QWEN_7B = {"model_type": "qwen2", "hidden_size": 3584, "num_attention_heads": 28, "num_key_value_heads": 4,
           "intermediate_size": 18944, "num_hidden_layers": 28, "vocab_size": 152064, "tie_word_embeddings": False,
           "max_position_embeddings": 131072}
QWEN_1_5B = {"model_type": "qwen2", "hidden_size": 1536, "num_attention_heads": 12, "num_key_value_heads": 2,
             "intermediate_size": 8960, "num_hidden_layers": 28, "vocab_size": 151936, "tie_word_embeddings": True,
             "max_position_embeddings": 131072}


def model_dir(path, config: dict, weights: bool = True):
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(config))
    if weights:
        (path / "model.safetensors").write_bytes(b"")
    return path


def parquet(path, rows: int):
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"prompt": [[{"role": "user", "content": f"q{i}"}] for i in range(rows)],
                  "data_source": ["x"] * rows,
                  "reward_model": [{"style": "rule", "ground_truth": str(i)} for i in range(rows)]}).to_parquet(path)
    return path


@pytest.fixture(scope="module")
def d(tmp_path_factory):
    d = tmp_path_factory.mktemp("launch")
    model_dir(d / "q7b", QWEN_7B)
    model_dir(d / "q15b", QWEN_1_5B)
    parquet(d / "train.parquet", 40315)  # deepscaler's size
    parquet(d / "val.parquet", 30)
    return d


def rl_args(d, model="q7b"):
    return [f"actor_rollout_ref.model.path={d / model}", f"data.train_files={d / 'train.parquet'}",
            f"data.val_files={d / 'val.parquet'}"]


# ------------------------------------------------------------------------------------ 4. the objective (dual clip)
def test_clip_ten_keeps_the_gradient_of_negative_advantage_tokens_with_a_large_ratio(d):
    """verl's vanilla loss dual-clips negative advantages at clip_ratio_c (default 3): with eps=10 the tokens with
    ratio in (3, 11] got no gradient. The paper's min(rA, clip(r)A) has no dual clip."""
    import math

    import torch
    from verl.trainer.ppo.core_algos import get_policy_loss_fn
    from verl.utils.config import omega_conf_to_dataclass

    for name in ("reasoning_rl", "all_scenarios_rl", "zero"):
        cfg, _, _ = compose(name, rl_args(d))
        actor = omega_conf_to_dataclass(cfg.actor_rollout_ref.actor)
        assert actor.clip_ratio_c > math.exp(20)  # above verl's ratio cap: never binds
        if name == "zero":
            continue
        log_prob = torch.tensor([[math.log(5.0)]], requires_grad=True)  # ratio 5 against old log-prob 0
        loss, _ = get_policy_loss_fn("vanilla")(old_log_prob=torch.zeros(1, 1), log_prob=log_prob,
                                                advantages=torch.tensor([[-1.0]]), response_mask=torch.ones(1, 1),
                                                loss_agg_mode="token-mean", config=actor)
        loss.backward()
        assert log_prob.grad.item() == pytest.approx(5.0)  # d(-A r)/d log r = r for A = -1


# ---------------------------------------------------------------------------------------------- 3. units of step
def test_reference_reset_counts_policy_updates_like_the_paper():
    assert plan.updates_per_rollout(512, 32, 1) == 16
    assert plan.reset_steps(160, 16, 400) == [25, 50, 75, 100, 125, 150]
    assert plan.reset_steps(10, 16, 40) == [3, 5, 8, 10]  # 40 updates, 16 per step: first step past each multiple
    assert plan.reset_steps(4, 1, 2) == [2, 4]  # one update per step: the old behaviour


def test_the_trainer_hook_resets_after_every_400th_update_not_every_400th_rollout(d):
    from r1_recipe.verl import ref_reset

    cfg, _, _ = compose("zero", rl_args(d))
    resets = []

    class PPOTrainer:
        def _load_checkpoint(self):
            pass

        def _update_actor(self):
            pass

    module = SimpleNamespace(PPOTrainer=PPOTrainer)
    ref_reset.patch_trainer_module(module)
    trainer = PPOTrainer()
    trainer.config, trainer.use_reference_policy, trainer.ref_in_actor = cfg, True, False
    trainer.global_steps = 0
    trainer.ref_policy_wg = trainer.actor_rollout_wg = SimpleNamespace(
        r1_reset_reference=lambda: resets.append(trainer.global_steps))
    trainer._load_checkpoint()
    for step in range(1, 61):
        trainer.global_steps = step
        trainer._update_actor()
    assert resets == [25, 50]


def test_all_scenarios_rl_runs_the_papers_1700_updates(d):
    cfg, _, _ = compose("all_scenarios_rl", rl_args(d))
    ups = plan.updates_per_rollout(cfg.data.train_batch_size, cfg.actor_rollout_ref.actor.ppo_mini_batch_size)
    assert cfg.trainer.total_training_steps * ups == 1696  # 106 verl steps: the nearest to 1,700 paper steps


# ---------------------------------------------------------------------------- 8. divisibility verl asserts late
def test_three_nodes_fail_at_start_up_not_after_the_first_rollout(capsys, d):
    rc, _, err = run(capsys, "run", "zero", *rl_args(d), "trainer.nnodes=3", "--dry-run")
    assert rc == 2 and ("ppo_mini_batch_size x actor_rollout_ref.rollout.n = 512 outputs per update is not divisible "
                        "by the data-parallel size 24") in err
    rc, _, err = run(capsys, "run", "zero", *rl_args(d), "trainer.nnodes=2", "--dry-run")
    assert rc == 0, err


# ------------------------------------------------------------------------------------------ 5. SP token budget
def test_sequence_parallel_multiplies_the_token_budget(capsys, d):
    long = ["data.max_response_length=32768", "actor_rollout_ref.rollout.max_model_len=33792"]
    budget = ["actor_rollout_ref.actor.ppo_max_token_len_per_gpu=18432",
              "actor_rollout_ref.ref.log_prob_max_token_len_per_gpu=18432",
              "actor_rollout_ref.rollout.log_prob_max_token_len_per_gpu=18432"]
    rc, _, err = run(capsys, "run", "zero", *rl_args(d), *long, *budget, "--dry-run")
    assert rc == 2 and ("ppo_max_token_len_per_gpu=18432 x actor_rollout_ref.actor.ulysses_sequence_parallel_size=1 "
                        "< data.max_prompt_length + data.max_response_length = 33792") in err
    rc, _, err = run(capsys, "run", "zero", *rl_args(d), *long, *budget,
                     "actor_rollout_ref.actor.ulysses_sequence_parallel_size=2", "--dry-run")
    assert rc == 0, err
    sft = [f"model.path={d / 'q7b'}", f"data.train_files={d / 'train.parquet'}", "data.max_token_len_per_gpu=16384"]
    rc, _, err = run(capsys, "run", "distill", *sft, "engine.ulysses_sequence_parallel_size=2", "--dry-run")
    assert rc == 0, err
    rc, _, err = run(capsys, "run", "distill", *sft, "engine.ulysses_sequence_parallel_size=1", "--dry-run")
    assert rc == 2 and "data.max_token_len_per_gpu=16384 x engine.ulysses_sequence_parallel_size=1 < " in err


# --------------------------------------------------------------------------------- 2. path values in the shell
def test_tilde_and_variables_in_path_values_are_expanded(monkeypatch, tmp_path):
    from pathlib import Path

    monkeypatch.setenv("DATA", str(tmp_path))
    out, _ = expand_paths(["data.train_files=~/a.parquet", "data.val_files=[$DATA/a.parquet,${DATA}/b.parquet]",
                           "trainer.experiment_name=~x", "actor_rollout_ref.model.custom_chat_template=${r1:x}"])
    assert out == [f"data.train_files={Path.home()}/a.parquet",
                   f"data.val_files=[{tmp_path}/a.parquet,{tmp_path}/b.parquet]", "trainer.experiment_name=~x",
                   "actor_rollout_ref.model.custom_chat_template=${r1:x}"]
    monkeypatch.delenv("NOPE_UNSET", raising=False)
    from r1_recipe.verl.recipe_check import RecipeError

    with pytest.raises(RecipeError, match=r"data.train_files=\$NOPE_UNSET/x: environment variable\(s\) \$NOPE_UNSET"):
        expand_paths(["data.train_files=$NOPE_UNSET/x"])


# ------------------------------------------------------------------------------- 7. stage outputs are next inputs
def test_a_model_dir_without_weights_is_refused_and_a_checkpoint_root_resolves(capsys, d, tmp_path):
    bare = model_dir(tmp_path / "bare", QWEN_7B, weights=False)
    rc, _, err = run(capsys, "run", "zero", *rl_args(d)[1:], f"actor_rollout_ref.model.path={bare}", "--dry-run")
    assert rc == 2 and "has config.json but no weights" in err
    root = tmp_path / "ckpt" / "reasoning_rl"
    model_dir(root / "global_step_150" / "actor" / "huggingface", QWEN_7B)
    (root / "latest_checkpointed_iteration.txt").write_text("150")
    rc, out, err = run(capsys, "run", "rejection_sampling", f"actor_rollout_ref.model.path={root}",
                       f"data.train_files={d / 'train.parquet'}", f"data.output_path={tmp_path / 'gen.parquet'}",
                       "--dry-run")
    assert rc == 0, err
    assert f"actor_rollout_ref.model.path={root}/global_step_150/actor/huggingface" in out.split("# command:")[1]
    for name in ("zero", "reasoning_rl", "all_scenarios_rl"):
        cfg, _, _ = compose(name, rl_args(d))
        assert "hf_model" in cfg.actor_rollout_ref.actor.checkpoint.save_contents


# ------------------------------------------------------------------------------------------------- 10. smaller
def test_torchrun_is_this_pythons_and_the_reference_is_bf16(capsys, d):
    rc, out, err = run(capsys, "run", "cold_start_sft", f"model.path={d / 'q7b'}",
                       f"data.train_files={d / 'train.parquet'}", "--dry-run")
    assert rc == 0, err
    assert out.splitlines()[-1].startswith(f"{sys.executable} -m torch.distributed.run --standalone --nnodes=1 "
                                           "--nproc_per_node=8 -m verl.trainer.sft_trainer ")
    cfg, _, _ = compose("zero", rl_args(d))
    assert cfg.actor_rollout_ref.ref.fsdp_config.model_dtype == "bf16"


def test_a_student_with_a_short_context_is_refused_with_the_override_to_set(capsys, d, tmp_path):
    short = model_dir(tmp_path / "math15b", {**QWEN_1_5B, "max_position_embeddings": 4096})
    args = [f"model.path={short}", f"data.train_files={d / 'train.parquet'}", "optim.lr=1e-4"]
    rc, _, err = run(capsys, "run", "distill", *args, "--dry-run")
    assert rc == 2 and "+model.override_config.max_position_embeddings=32768" in err
    rc, _, err = run(capsys, "run", "distill", *args, "+model.override_config.max_position_embeddings=131072",
                     "--dry-run")
    assert rc == 0, err


# ----------------------------------------------------------------------------------------- the plan (--dry-run)
def test_model_shapes_count_qwen25_parameters():
    assert plan.ModelShape.from_config(QWEN_7B).params() == 7_615_616_512
    assert plan.ModelShape.from_config(QWEN_1_5B).params() == 1_543_714_304
    assert plan.ModelShape.from_config(QWEN_7B).kv_bytes_per_token() == 57_344  # 2 x 28 x 4 x 128 x 2 bytes


def test_memory_estimate_of_zero_on_8x80gb_by_hand():
    shape = plan.ModelShape.from_config(QWEN_7B)
    m = plan.rl_memory(shape, n_gpus=8, tp=2, gpu_bytes=80 * plan.GIB, gpu_memory_utilization=0.6,
                       train_tokens_per_gpu=18432, logprob_tokens_per_gpu=36864)
    p = 7_615_616_512
    assert (m.weights, m.grads, m.optimizer, m.reference_host) == (4 * p // 8, 4 * p // 8, 8 * p // 8, 2 * p // 8)
    assert m.gathered == 2 * (2 * 152064 * 3584 + 3584)   # untied embedding + LM head in bf16
    assert m.rollout_weights == p and m.kv_cache == int(0.6 * 80 * plan.GIB) - p
    # flash-attn: a 7B layer's backward outweighs the bf16 logits at the end of the forward
    layer = shape.layer_params()
    assert dict(m.activation_terms) == {
        "checkpointed layer inputs (layers x tokens x hidden x 2)": 18432 * 28 * 3584 * 2,
        "one layer recomputed for its backward (tokens x (20 hidden + 12 intermediate + 5 kv_dim))":
            18432 * (20 * 3584 + 12 * 18944 + 5 * 512),
        "3 gathered layers' bf16 parameters/gradients": 6 * layer}
    assert m.inference_activations == 36864 * 152064 * 2   # bf16 logits; the entropy is compiled
    assert m.rollout_peak == 12 * p // 8 + int(0.6 * 80 * plan.GIB)
    assert m.peak == m.rollout_peak < m.reserved < 80 * plan.GIB


def test_dry_run_prints_the_plan_in_verl_and_paper_steps(capsys, d):
    rc, out, err = run(capsys, "run", "zero", *rl_args(d, "q15b"), "--dry-run")
    assert rc == 0, err
    text = out.split("# plan:")[1].split("# command:")[0]
    assert "512 prompts x n=16 = 8192 outputs; 16 policy updates (paper steps) of 512 outputs" in text
    assert "epoch: 40315 prompts = 78 verl steps = 1248 paper steps" in text
    assert "run: 156 verl steps = 2496 paper steps" in text
    assert "reference reset: every 400 paper steps = every 25 verl steps; 6 in this run (verl steps 25, 50, 75" in text
    assert "responses capped at data.max_response_length=8192 (paper: 32768): not paper-comparable" in text
    assert "actor dp 8 (SP 1), 4 vLLM replicas (TP 2); outputs per update 512 % dp = 0" in text
    assert "1.54B params" in text and ": fits" in text
    assert "note: TP=2 for a 1.5B model halves the vLLM replicas" in text


# -------------------------------------------------------------------------------------------------- 1. install
def test_the_gpu_extra_pins_what_verl_pins_except_the_unbuildable_and_the_conflicting():
    """Static: the `gpu` extra = verl[vllm,fsdp]'s own requirements (read from the installed verl's metadata) minus
    flash-attn (source-only: a documented second step) and trl==0.27.0 (clashes with our trl>=1.10; verl needs trl
    only for a PPO critic's value head)."""
    from importlib.metadata import requires
    from pathlib import Path

    import tomllib
    from packaging.requirements import Requirement

    ours = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    gpu = {Requirement(r).name.lower(): Requirement(r) for r in ours["project"]["optional-dependencies"]["gpu"]}
    verl = [Requirement(r) for r in requires("verl")]
    wanted = {}
    for extra in ("vllm", "fsdp", "cupy-cu130"):
        for r in verl:
            if r.marker and r.marker.evaluate({"extra": extra}) and r.name != "verl":
                wanted[r.name.lower()] = r
    for dropped in ("flash-attn", "trl"):
        assert dropped not in gpu
        wanted.pop(dropped, None)
    assert str(gpu.pop("verl")) == "verl[verl-core]==0.9.1"
    assert {k: str(v.specifier) for k, v in gpu.items()} == {k: str(v.specifier) for k, v in wanted.items()}

"""The memory plan (`r1-recipe run ... --dry-run --gpu-gb N`) against the one measured GPU run, term by term, and the
distill presets it derives (r1_recipe/core/plan.py, docs/recipes.md "Memory plan")."""

from __future__ import annotations

import re
from importlib.resources import files

import pytest
from test_launch import QWEN_1_5B, model_dir, run

from r1_recipe.core import plan

# The measured run (NVIDIA H200, torch 2.11.0+cu130, transformers 5.17.0, verl 0.9.1; docs/recipes.md "GPU results"):
# cold_start_sft on a random Qwen2.5-1.5B-shaped model, 1 GPU, sdpa (no flash-attn), 2 samples of 16,384 tokens per
# 32,768-token micro-batch, batch 4.
MEASURED = {"step 1": 43.4, "steps 2-6": 54.9, "reserved": 66.0}


def measured_case(**kw):
    shape = plan.ModelShape.from_config(QWEN_1_5B)
    return plan.rl_memory(shape, n_gpus=1, tp=1, gpu_bytes=int(141 * plan.GIB), gpu_memory_utilization=0.0,
                          train_tokens_per_gpu=32768, logprob_tokens_per_gpu=0, rollout=False,
                          kernels=plan.Kernels(flash_attn=False), **kw)


def test_the_plan_matches_the_measured_peak_term_by_term():
    m = measured_case()
    gib = lambda b: b / plan.GIB  # noqa: E731
    p = 1_543_714_304
    assert (m.weights, m.grads, m.optimizer, m.gathered) == (4 * p, 4 * p, 8 * p, 2 * (151936 * 1536 + 1536))
    assert dict(m.activation_terms) == {
        "checkpointed layer inputs (layers x tokens x hidden x 2)": 28 * 32768 * 1536 * 2,              # 2.6 GiB
        "logits bf16 (tokens x vocab x 2)": 32768 * 151936 * 2,                                          # 9.3 GiB
        "fp32 log-softmax of every token, kept for backward (tokens x vocab x 4)": 32768 * 151936 * 4,  # 18.5 GiB
        "sdpa block mask of the packed micro-batch (tokens^2 bytes)": 32768 ** 2,                        # 1.0 GiB
    }
    assert gib(m.train_peak) == pytest.approx(MEASURED["steps 2-6"], rel=0.10)     # the bar: within 10 %
    assert gib(m.train_peak) == pytest.approx(MEASURED["steps 2-6"], abs=0.05)     # what it is: 54.88
    # step 1: Adam's states are created by the first optimizer step, after the peak
    assert gib(m.train_peak - m.optimizer) == pytest.approx(MEASURED["step 1"], abs=0.05)   # 43.38
    assert gib(m.reserved) == pytest.approx(MEASURED["reserved"], abs=0.05)
    assert plan.FRAGMENTATION == pytest.approx(66.0 / 54.9)


def test_flash_attn_drops_the_fp32_log_softmax_and_the_mask():
    shape = plan.ModelShape.from_config(QWEN_1_5B)
    terms = dict(plan.micro_batch_terms(shape, 32768, grad=True, kernels=plan.Kernels(flash_attn=True)))
    assert terms == {"checkpointed layer inputs (layers x tokens x hidden x 2)": 28 * 32768 * 1536 * 2,
                     "logits bf16 (tokens x vocab x 2)": 32768 * 151936 * 2}
    one_sample = dict(plan.micro_batch_terms(shape, 16384, grad=True, kernels=plan.Kernels(False, packed=False)))
    assert not any("mask" in name for name in one_sample)   # one sequence: sdpa runs causal, no mask


def test_verls_param_and_optimizer_offload_do_not_lower_the_update_peak_fsdp2_offload_policy_does():
    base, offload = measured_case(), measured_case(param_offload=True, optimizer_offload=True)
    assert offload.train_peak == base.train_peak
    policy = measured_case(offload_policy=True)
    assert (policy.weights, policy.grads, policy.optimizer) == (0, 0, 0)
    assert policy.train_peak == base.train_peak - base.weights - base.grads - base.optimizer


def test_dry_run_of_the_measured_command_prints_the_measured_figures(capsys, tmp_path):
    model = model_dir(tmp_path / "q15b", QWEN_1_5B)
    (tmp_path / "train.parquet").write_bytes(b"")
    rc, out, err = run(capsys, "run", "cold_start_sft", f"model.path={model}",
                       f"data.train_files={tmp_path / 'train.parquet'}", "trainer.n_gpus_per_node=1",
                       "data.train_batch_size=4", "+model.override_config.attn_implementation=sdpa",
                       "--dry-run", "--gpu-gb", "141")
    assert rc == 0, err
    text = out.split("# plan:")[1].split("# command:")[0]
    assert ("FSDP weights 5.8 GiB, grads 5.8 GiB, optimizer 11.5 GiB, gathered bf16 embedding/LM head 0.4 GiB, "
            "activations 31.4 GiB") in text
    assert ("activations of a 32768-token micro-batch (no flash-attn): checkpointed layer inputs (layers x tokens x "
            "hidden x 2) 2.6 GiB, logits bf16 (tokens x vocab x 2) 9.3 GiB, fp32 log-softmax of every token, kept for "
            "backward (tokens x vocab x 4) 18.5 GiB, sdpa block mask of the packed micro-batch (tokens^2 bytes) "
            "1.0 GiB") in text
    assert "peak 54.9 GiB allocated, ~66.0 GiB reserved (x1.20 measured fragmentation) of 141.0 GiB: fits" in text


# ---------------------------------------------------------------------------------------------- distill presets
STUDENTS = {
    "Qwen2.5-Math-1.5B": QWEN_1_5B,
    "Qwen2.5-Math-7B": {"model_type": "qwen2", "hidden_size": 3584, "num_hidden_layers": 28, "num_attention_heads": 28,
                        "num_key_value_heads": 4, "intermediate_size": 18944, "vocab_size": 152064,
                        "tie_word_embeddings": False, "max_position_embeddings": 131072},
    "Llama-3.1-8B": {"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
                     "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 128256,
                     "tie_word_embeddings": False, "max_position_embeddings": 131072},
    "Qwen2.5-14B": {"model_type": "qwen2", "hidden_size": 5120, "num_hidden_layers": 48, "num_attention_heads": 40,
                    "num_key_value_heads": 8, "intermediate_size": 13824, "vocab_size": 152064,
                    "tie_word_embeddings": False, "max_position_embeddings": 131072},
    "Qwen2.5-32B": {"model_type": "qwen2", "hidden_size": 5120, "num_hidden_layers": 64, "num_attention_heads": 40,
                    "num_key_value_heads": 8, "intermediate_size": 27648, "vocab_size": 152064,
                    "tie_word_embeddings": False, "max_position_embeddings": 131072},
    "Llama-3.3-70B-Instruct": {"model_type": "llama", "hidden_size": 8192, "num_hidden_layers": 80,
                               "num_attention_heads": 64, "num_key_value_heads": 8, "intermediate_size": 28672,
                               "vocab_size": 128256, "tie_word_embeddings": False, "max_position_embeddings": 131072},
}


def presets() -> dict[str, tuple[list[str], str]]:
    """The distill header's presets: student -> (overrides, the plan's figures as printed there)."""
    header = files("r1_recipe.recipes").joinpath("distill.yaml").read_text().split("hydra:")[0]
    out = {}
    for line in header.splitlines():
        m = re.match(r"#   (\S+)\s+(optim\.lr=\S+(?: \S+=\S+)*)\s{2,}(.+?)\s{2,}(\d+\.\d / \d+\.\d GiB)$", line)
        if m:
            out[m.group(1)] = (m.group(2).split(), m.group(4))
    return out


def test_the_header_lists_every_student():
    assert set(presets()) == set(STUDENTS)


@pytest.mark.parametrize("student", sorted(STUDENTS))
def test_each_distill_preset_fits_80gb_by_the_calibrated_plan_as_its_header_says(student, capsys, tmp_path):
    overrides, figures = presets()[student]
    model = model_dir(tmp_path / "student", STUDENTS[student])
    (tmp_path / "train.parquet").write_bytes(b"")
    rc, out, err = run(capsys, "run", "distill", f"model.path={model}",
                       f"data.train_files={tmp_path / 'train.parquet'}", *overrides,
                       "--dry-run", "--gpu-gb", "80", "--skip-gpu-check")
    assert rc == 0, err
    peak = re.search(r"peak ([\d.]+) GiB allocated, ~([\d.]+) GiB reserved .* of 80.0 GiB: fits", out)
    assert peak, out.split("# plan:")[1]
    assert f"{peak.group(1)} / {peak.group(2)} GiB" == figures   # allocated / reserved per GPU


# ------------------------------------------------------------------------------------- RL on one GPU, rollout hf
@pytest.mark.parametrize("name", ["zero", "reasoning_rl", "all_scenarios_rl"])
def test_every_rl_recipe_validates_on_one_gpu_with_rollout_hf_and_the_plan_sizes_its_generate_batch(name, capsys,
                                                                                                    tmp_path):
    import pandas as pd

    model = model_dir(tmp_path / "q15b", QWEN_1_5B)
    pd.DataFrame({"prompt": [[{"role": "user", "content": "q"}]] * 512, "data_source": ["x"] * 512,
                  "reward_model": [{"style": "rule", "ground_truth": "2"}] * 512}).to_parquet(tmp_path / "t.parquet")
    one_gpu = [f"actor_rollout_ref.model.path={model}", f"data.train_files={tmp_path / 't.parquet'}",
               f"data.val_files={tmp_path / 't.parquet'}", "actor_rollout_ref.rollout.name=hf",
               "actor_rollout_ref.rollout.tensor_model_parallel_size=1", "trainer.n_gpus_per_node=1"]
    rc, out, err = run(capsys, "run", name, *one_gpu, "--dry-run", "--gpu-gb", "141", "--skip-gpu-check")
    assert rc == 0, err
    # the recipe's sizes: 256 sequences (verl's max_num_seqs) of 8k fp32 scores over 152k tokens do not fit
    assert re.search(r"rollout hf: one generate batch of 256 sequences .* holds 1250.0 GiB", out)
    assert ": DOES NOT FIT" in out
    rc, out, err = run(capsys, "run", name, *one_gpu, "actor_rollout_ref.rollout.max_num_seqs=8",
                       "data.max_response_length=1024", "--dry-run", "--gpu-gb", "141", "--skip-gpu-check")
    assert rc == 0, err
    shape = plan.ModelShape.from_config(QWEN_1_5B)
    batch = 8 * ((1024 + 1024) * shape.kv_bytes_per_token() + 1024 * 151936 * 4)
    assert f"holds {plan.gib(batch)} (their bf16 keys/values and fp32 scores)" in out
    assert re.search(r"141.0 GiB: fits", out)

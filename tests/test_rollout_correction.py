"""Rollout correction in the RL recipes (verl 0.9.1 `algorithm.rollout_correction`, token-level TIS, threshold 2)
and the `r1/rollout_gap/*` metrics: verl's own functions on CPU tensors, no trainer run."""

from __future__ import annotations

import math
import sys
import types

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from tensordict import TensorDict

from r1_recipe.core.signals import rollout_gap_metrics
from r1_recipe.tools.recipes import compose
from r1_recipe.verl import dynamics

RL_RECIPES = ("zero", "reasoning_rl", "all_scenarios_rl")

# Two responses (3 and 2 tokens) after 2-token prompts; the second response's last token is masked out (a tool token).
ROLLOUT = [[-1.0, -2.0, -0.5], [-1.5, -0.2]]   # log pi_rollout: what the sampler reported
TRAINER = [[-1.0, -1.0, -0.6], [-0.3, -0.2]]   # log pi_old: the trainer's recomputation of the same tokens
MASK = [[1, 1, 1], [1, 0]]
DELTA = [0.0, 1.0, -0.1, 1.2]                  # trainer - rollout on the 4 tokens in the mask
WEIGHTS = [[1.0, 2.0, math.exp(-0.1)], [2.0, 0.0]]   # min(exp(delta), 2), 0 outside the mask


def padded(rows, dtype=torch.float32):
    out = torch.zeros(len(rows), max(map(len, rows)), dtype=dtype)
    for i, r in enumerate(rows):
        out[i, :len(r)] = torch.tensor(r, dtype=dtype)
    return out


def nested(rows, dtype=torch.float32):
    return torch.nested.as_nested_tensor([torch.tensor(r, dtype=dtype) for r in rows], layout=torch.jagged)


@pytest.mark.parametrize("name", RL_RECIPES)
def test_every_rl_recipe_turns_on_token_level_tis_at_two(name):
    from verl.trainer.config.algorithm import RolloutCorrectionConfig
    from verl.utils.config import omega_conf_to_dataclass

    cfg, _, _ = compose(name, [])
    correction = omega_conf_to_dataclass(cfg.algorithm.rollout_correction, dataclass_type=RolloutCorrectionConfig)
    assert correction == RolloutCorrectionConfig.decoupled_token_is(threshold=2.0)
    assert cfg.actor_rollout_ref.rollout.calculate_log_probs is True  # rollout log-probs: what the weights need


def test_the_recipes_tis_weights_reach_verls_actor_loss():
    """verl computes the weights once per batch (`_compute_advantage`) and its actor loss (`ppo_loss`, what the
    FSDP engine's update calls) multiplies each token's policy-gradient term by them: with the policy at pi_old (ratio
    1, no clipping) and the reference at the policy (zero KL gradient), d loss / d log pi is exactly the weight
    times the gradient without correction."""
    from verl import DataProto
    from verl.trainer.ppo.rollout_corr_helper import compute_rollout_correction_and_add_to_batch
    from verl.utils import tensordict_utils as tu
    from verl.utils.config import omega_conf_to_dataclass
    from verl.workers.utils.losses import ppo_loss

    cfg, _, _ = compose("reasoning_rl", [])
    batch = DataProto.from_dict(tensors={"old_log_probs": padded(TRAINER), "rollout_log_probs": padded(ROLLOUT),
                                         "response_mask": padded(MASK)})
    batch, metrics = compute_rollout_correction_and_add_to_batch(batch, cfg.algorithm.rollout_correction)
    weights = batch.batch["rollout_is_weights"]
    torch.testing.assert_close(weights, padded(WEIGHTS), atol=1e-6, rtol=0)
    assert metrics["rollout_corr/k3_kl"] == pytest.approx(np.mean(np.expm1(DELTA) - DELTA), rel=1e-5)

    actor = omega_conf_to_dataclass(cfg.actor_rollout_ref.actor)
    assert actor.clip_ratio_low == actor.clip_ratio_high == 10.0   # stage 1's epsilon: no bound on the mismatch
    advantages = [[1.0, 1.0, 1.0], [-0.5, -0.5]]

    def grad(with_weights: bool) -> torch.Tensor:
        prompts = [[5, 6], [7, 8]]
        # the model's log-probs over prompt + response, shifted by one (no_padding_2_padding reads the response part)
        full = [[0.0] + TRAINER[0] + [0.0], [0.0] + TRAINER[1] + [0.0]]
        log_probs = torch.tensor([v for row in full for v in row], requires_grad=True)
        data = {"prompts": nested(prompts, torch.long), "responses": nested([[1, 2, 3], [4, 5]], torch.long),
                "response_mask": nested(MASK), "old_log_probs": nested(TRAINER), "advantages": nested(advantages),
                "ref_log_prob": nested(TRAINER)}
        if with_weights:
            data["rollout_is_weights"] = nested([w[:len(r)] for w, r in zip(weights.tolist(), MASK, strict=True)])
        td = TensorDict(data, batch_size=2)
        for key, value in (("dp_size", 1), ("batch_num_tokens", 4), ("global_batch_size", 2)):
            tu.assign_non_tensor(td, **{key: value})
        lengths = [len(p) + len(r) for p, r in zip(prompts, MASK, strict=True)]
        offsets = torch.tensor([0, *np.cumsum(lengths)])
        model_output = {"log_probs": torch.nested.nested_tensor_from_jagged(log_probs, offsets)}
        loss, _ = ppo_loss(actor, model_output, td)
        loss.backward()
        g = log_probs.grad
        return padded([g[1:4].tolist(), g[6:8].tolist()])   # the response tokens' positions in `full`

    without, with_tis = grad(False), grad(True)
    assert (without[padded(MASK).bool()] != 0).all()
    torch.testing.assert_close(with_tis, without * padded(WEIGHTS), atol=1e-7, rtol=1e-6)


def test_the_gap_metrics_are_exact():
    out = rollout_gap_metrics(padded(TRAINER), padded(ROLLOUT), padded(MASK).bool(), tis_threshold=2.0)
    d = np.array(DELTA)
    assert out == pytest.approx({"r1/rollout_gap/k3": np.mean(np.expm1(d) - d), "r1/rollout_gap/abs_mean": 0.575,
                                 "r1/rollout_gap/abs_max": 1.2, "r1/rollout_gap/tis_clipped": 0.5}, rel=1e-6)
    assert "r1/rollout_gap/tis_clipped" not in rollout_gap_metrics(padded(TRAINER), padded(ROLLOUT), padded(MASK))
    assert rollout_gap_metrics(padded(TRAINER), padded(ROLLOUT), torch.zeros(2, 3)) == {}


def tq_gap_batch():
    """The three fields as `tq.kv_batch_get` returns them (jagged), plus one padding row."""
    return TensorDict({"old_log_probs": nested(TRAINER + [[-9.0]]), "rollout_log_probs": nested(ROLLOUT + [[0.0]]),
                       "response_mask": nested(MASK + [[1]])}, batch_size=3)


def test_the_gap_of_a_transfer_queue_batch_leaves_padding_rows_out():
    expected = rollout_gap_metrics(padded(TRAINER), padded(ROLLOUT), padded(MASK).bool(), 2.0)
    assert dynamics.gap_metrics(tq_gap_batch(), [False, False, True], 2.0) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("correction, expected", [
    ({"rollout_is": "token", "rollout_is_threshold": 2.0}, 2.0),
    ({"rollout_is": "token", "rollout_is_threshold": "3.5"}, 3.5),
    ({"rollout_is": "token", "rollout_is_threshold": "0.5_5.0"}, None),   # IcePop: a window, not a truncation
    ({"rollout_is": "sequence", "rollout_is_threshold": 2.0}, None),
    ({"rollout_is": None}, None),
])
def test_the_clipped_share_follows_the_configured_token_tis(correction, expected):
    assert dynamics.tis_threshold(OmegaConf.create({"algorithm": {"rollout_correction": correction}})) == expected


def test_the_step_log_carries_the_gap_next_to_the_other_r1_metrics(monkeypatch):
    from test_dynamics import EXPECTED, FakeTrainer, fake_batch, tq_batch

    def kv_batch_get(keys, partition_id, select_fields):
        if select_fields == dynamics.GAP_FIELDS:
            rows = [[-1.0], [-1.0], [-1.0], [-1.0], [-1.0], [-1.0], [-1.0], [-1.0], [0.0], [0.0]]
            return TensorDict({"old_log_probs": nested(TRAINER + rows[2:]),
                               "rollout_log_probs": nested(ROLLOUT + rows[2:]),
                               "response_mask": nested(MASK + [[1]] * 8)}, batch_size=10)
        return tq_batch(2)

    monkeypatch.setitem(sys.modules, "transfer_queue", types.SimpleNamespace(kv_batch_get=kv_batch_get))
    cfg, _, _ = compose("zero", [])
    cls = type("Trainer", (FakeTrainer,), {"config": cfg})
    cls._compute_metrics = dynamics.wrap_compute_metrics(cls._compute_metrics)
    metrics = {}
    cls()._compute_metrics(fake_batch(), metrics, {}, global_steps=1, epoch=0)
    d = np.array(DELTA + [0.0] * 6)   # rows 2-7 agree exactly; rows 8-9 are padding
    assert {k: v for k, v in metrics.items() if k.startswith("r1/rollout_gap/")} == pytest.approx(
        {"r1/rollout_gap/k3": np.mean(np.expm1(d) - d), "r1/rollout_gap/abs_mean": np.abs(d).mean(),
         "r1/rollout_gap/abs_max": 1.2, "r1/rollout_gap/tis_clipped": 0.2}, rel=1e-6)
    assert {k: v for k, v in metrics.items() if k in EXPECTED} == pytest.approx(EXPECTED, abs=1e-12)


def test_a_correction_without_rollout_log_probs_is_refused_naming_the_key(tmp_path):
    from test_recipes import PPO, required

    from r1_recipe.verl.recipe_check import validate

    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text('{"max_position_embeddings": 131072}')
    (tmp_path / "model" / "model.safetensors").write_bytes(b"")
    for name in ("train.parquet", "val.parquet"):
        (tmp_path / name).write_bytes(b"")
    overrides = required(PPO, tmp_path) + ["actor_rollout_ref.rollout.calculate_log_probs=false"]
    errors = validate(compose("zero", overrides)[0], PPO, check_gpus=False).errors
    assert errors == ["algorithm.rollout_correction is on but actor_rollout_ref.rollout.calculate_log_probs=false: "
                      "verl would skip the correction; set it to true (or rollout_is=null)"]
    off = overrides + ["algorithm.rollout_correction.rollout_is=null"]
    assert validate(compose("zero", off)[0], PPO, check_gpus=False).errors == []

"""Training-dynamics metrics: per-response signals, exact step metrics on a synthetic batch, the batch as
TransferQueue returns it, the wrapper on verl's `_compute_metrics`, and the values reaching verl's file tracker."""

from __future__ import annotations

import json
import subprocess
import sys
import types

import numpy as np
import pytest
import torch
from tensordict import NonTensorData, NonTensorStack, TensorDict

from r1_recipe.core import signals
from r1_recipe.core.signals import reflection_count, sample_signals, step_metrics
from r1_recipe.verl import dynamics, infra_policy
from r1_recipe.verl.dynamics import batch_metrics, wrap_compute_metrics


def test_reflective_words_are_counted_as_whole_words_in_any_case():
    text = "<think>Wait, 2+2=5? That is WRONG. Let me verify... but checking is not check-in. Waiting.</think>"
    assert reflection_count(text) == 5  # Wait, WRONG, verify, but, check (not checking / Waiting)


def test_signals_of_a_mixed_language_truncated_response():
    english = "<think>We add the numbers and get seven, so the answer is seven.</think> <answer>7</answer>"
    mixed = "<think>We add 3 and 4. 所以答案是七。 Wait, check again.</think> <answer>7</answer>"
    assert sample_signals(english, "What is 3 + 4?") == {
        "response_truncated": 0.0, "reflection_words": 0.0, "language_mixed": 0.0}
    assert sample_signals(mixed, "What is 3 + 4?", truncated=True) == {
        "response_truncated": 1.0, "reflection_words": 2.0, "language_mixed": 1.0}


def info(acc, fmt, reflection=0.0, mixed=0.0, truncated=0.0):
    return {"score": acc + fmt, "acc": acc, "pred": "7", "accuracy": acc, "format": fmt, "accuracy_reason": "",
            "format_reason": "", "response_truncated": truncated, "reflection_words": reflection,
            "language_mixed": mixed}


# two prompts of 3 responses and one of 2: group a all correct, b mixed, c all wrong
LENGTHS = [10, 20, 30, 40, 50, 60, 70, 80]
UIDS = ["a", "a", "a", "b", "b", "b", "c", "c"]
INFOS = [info(1, 1), info(1, 1, reflection=2), info(1, 1), info(0, 1, mixed=1), info(1, 0, reflection=1),
         info(0, 0, truncated=1), info(0, 0), info(0, 0, reflection=3, truncated=1)]
SCORES = [i["score"] for i in INFOS]
EXPECTED = {
    "r1/response_length/mean": 45.0, "r1/response_length/p90": 73.0, "r1/response_length/max": 80.0,
    "r1/truncation_rate": 2 / 8, "r1/format_rate": 4 / 8,
    "r1/reward/score/mean": 8 / 8, "r1/reward/acc/mean": 4 / 8, "r1/reward/accuracy/mean": 4 / 8,
    "r1/reward/format/mean": 4 / 8,
    "r1/reflection/rate": 3 / 8, "r1/reflection/mean": 6 / 8, "r1/language_mixing_rate": 1 / 8,
    "r1/groups/zero_variance": 2 / 3, "r1/groups/all_correct": 1 / 3, "r1/groups/all_wrong": 1 / 3,
}


def test_step_metrics_of_a_synthetic_batch_are_exact():
    assert step_metrics(LENGTHS, UIDS, SCORES, INFOS) == pytest.approx(EXPECTED, abs=1e-12)


def test_without_reward_infos_truncation_comes_from_the_length_limit():
    out = step_metrics([5, 8, 8], ["x", "x", "y"], [1.0, 1.0, 0.0], [None, None, None], max_response_length=8)
    assert out == pytest.approx({"r1/response_length/mean": 7.0, "r1/response_length/p90": 8.0,
                                 "r1/response_length/max": 8.0, "r1/truncation_rate": 2 / 3,
                                 "r1/groups/zero_variance": 1.0})


def tq_batch(padding_rows: int = 0):
    """The four fields as `tq.kv_batch_get` returns them: jagged nested tensors and NonTensorStack columns."""
    lengths = LENGTHS + [1] * padding_rows
    scores = SCORES + [0.0] * padding_rows
    rm = [torch.zeros(n) for n in lengths]
    for row, s in zip(rm, scores, strict=True):
        row[-1] = s
    extra = [{"reward_extra_info": i, "min_global_steps": 1} for i in INFOS] + [{}] * padding_rows
    return TensorDict({
        "responses": torch.nested.as_nested_tensor([torch.ones(n, dtype=torch.long) for n in lengths],
                                                   layout=torch.jagged),
        "rm_scores": torch.nested.as_nested_tensor(rm, layout=torch.jagged),
        "uid": NonTensorStack(*(NonTensorData(u) for u in UIDS + ["pad0"] * padding_rows)),
        "extra_fields": NonTensorStack(*(NonTensorData(e) for e in extra)),
    }, batch_size=len(lengths))


def test_a_transfer_queue_batch_with_padding_rows_gives_the_same_metrics():
    padding = [False] * 8 + [True] * 2
    assert batch_metrics(tq_batch(2), padding) == pytest.approx(EXPECTED, abs=1e-12)


class FakeTrainer:
    """The part of verl's PPOTrainer the wrapper touches: `_compute_metrics` fills `metrics` in place."""

    config = types.SimpleNamespace(actor_rollout_ref=types.SimpleNamespace(rollout={"response_length": 80}))

    def _compute_metrics(self, batch, metrics, timing_raw, global_steps, epoch):
        metrics.update({"training/global_step": global_steps, "critic/score/mean": 1.0})


def fake_batch():
    return types.SimpleNamespace(keys=[f"k{i}" for i in range(10)], partition_id="train",
                                 tags=[{"is_padding": i >= 8} for i in range(10)])


@pytest.fixture
def fake_tq(monkeypatch):
    calls = []

    def kv_batch_get(keys, partition_id, select_fields):
        calls.append((len(keys), partition_id, select_fields))
        return tq_batch(2)

    module = types.SimpleNamespace(kv_batch_get=kv_batch_get)
    monkeypatch.setitem(sys.modules, "transfer_queue", module)
    return calls


def test_the_wrapper_adds_r1_metrics_to_what_verl_logs_and_they_reach_the_file_tracker(fake_tq, tmp_path,
                                                                                         monkeypatch):
    from verl.utils.tracking import Tracking

    cls = type("Trainer", (FakeTrainer,), {})
    cls._compute_metrics = wrap_compute_metrics(cls._compute_metrics)
    assert wrap_compute_metrics(cls._compute_metrics) is cls._compute_metrics  # installing twice is a no-op
    metrics = {}
    cls()._compute_metrics(fake_batch(), metrics, {}, global_steps=3, epoch=0)
    assert fake_tq == [(10, "train", dynamics.FIELDS)]
    assert metrics == pytest.approx({"training/global_step": 3, "critic/score/mean": 1.0, **EXPECTED}, abs=1e-12)

    log = tmp_path / "run.jsonl"
    monkeypatch.setenv("VERL_FILE_LOGGER_PATH", str(log))
    tracker = Tracking(project_name="r1", experiment_name="dyn", default_backend=["file"])
    tracker.log(data=metrics, step=3)
    tracker.finish()
    record = json.loads(log.read_text().splitlines()[0])
    assert record["step"] == 3
    assert record["data"]["r1/groups/zero_variance"] == pytest.approx(2 / 3)
    assert record["data"]["r1/reflection/rate"] == 3 / 8


def test_a_failing_collection_never_stops_the_step(monkeypatch, caplog):
    def broken(*_, **__):
        raise RuntimeError("transfer queue gone")

    monkeypatch.setitem(sys.modules, "transfer_queue", types.SimpleNamespace(kv_batch_get=broken))
    cls = type("Trainer", (FakeTrainer,), {})
    cls._compute_metrics = wrap_compute_metrics(cls._compute_metrics)
    metrics = {}
    for step in (1, 2):
        cls()._compute_metrics(fake_batch(), metrics, {}, global_steps=step, epoch=0)
    assert metrics == {"training/global_step": 2, "critic/score/mean": 1.0}
    assert sum("training-dynamics metrics are off" in r.message for r in caplog.records) == 1


def test_import_verl_installs_the_wrapper_on_every_v1_trainer():
    code = ("import verl\n"
            "from verl.trainer.ppo.v1 import get_trainer_cls\n"
            "print(all(getattr(get_trainer_cls(m)._compute_metrics, '__r1_dynamics__', False)"
            " and getattr(get_trainer_cls(m)._compute_advantage, '__r1_infra__', False)"
            " for m in ('sync', 'colocate_async', 'separate_async')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.stdout.strip().splitlines()[-1] == "True", out.stderr[-2000:]


# ---- the infra-failure policy: no verdict is not a wrong answer ----------------------------------------------------
def test_infra_failed_responses_get_their_group_mean_so_their_advantage_is_zero():
    from r1_recipe.core.advantage import outcome_advantage

    scores = [1.0, 0.0, 0.0, 1.0, 0.5, 0.0, 0.0]
    uids = ["a", "a", "a", "a", "b", "b", "c"]
    failed = [False, False, True, False, True, True, False]
    filled = signals.fill_infra_failures(scores, uids, failed)
    # a: the failed one gets mean(1, 0, 1); b: no verdict at all, both get their mean; c: untouched
    assert filled.tolist() == pytest.approx([1.0, 0.0, 2 / 3, 1.0, 0.25, 0.25, 0.0])
    rewards = torch.zeros(7, 3)
    rewards[:, -1] = torch.tensor(filled)
    adv, _ = outcome_advantage(token_level_rewards=rewards, response_mask=torch.ones(7, 3),
                               index=np.array(uids, dtype=object))
    assert adv[2].abs().max() < 1e-6 and adv[4:6].abs().max() < 1e-6
    assert adv[1, -1] < 0 < adv[0, -1]  # the real wrong answer still gets a negative advantage


def test_the_advantage_wrapper_rewrites_only_failed_rows_in_transfer_queue(monkeypatch):
    infos = [{"infra_failure": 1.0 if i == 1 else 0.0} for i in range(8)]
    batch_td = tq_batch(2)
    batch_td["extra_fields"] = NonTensorStack(*(NonTensorData(e) for e in
                                                [{"reward_extra_info": i} for i in infos] + [{}, {}]))
    put = {}
    module = types.SimpleNamespace(kv_batch_get=lambda keys, partition_id, select_fields: batch_td,
                                   kv_batch_put=lambda keys, partition_id, fields: put.update(fields=fields))
    monkeypatch.setitem(sys.modules, "transfer_queue", module)
    seen = []

    class Trainer:
        def _compute_advantage(self, batch, metrics):
            seen.append(batch)
            return batch

    Trainer._compute_advantage = infra_policy.wrap_compute_advantage(Trainer._compute_advantage)
    assert infra_policy.wrap_compute_advantage(Trainer._compute_advantage) is Trainer._compute_advantage
    batch, metrics = fake_batch(), {}
    assert Trainer()._compute_advantage(batch, metrics) is batch and seen == [batch]
    assert metrics == {"r1/reward/infra_neutralised": 1.0}  # the per-step count of responses it neutralised
    rows = put["fields"]["rm_scores"].unbind()
    sums = [float(r.sum()) for r in rows]
    group = [i for i in range(8) if UIDS[i] == UIDS[1]]
    expected = [s for i, s in enumerate(SCORES) if i in group and i != 1]
    assert sums[1] == pytest.approx(sum(expected) / len(expected))
    assert sums[:1] + sums[2:8] == pytest.approx(SCORES[:1] + SCORES[2:])
    assert [len(r) for r in rows] == LENGTHS + [1, 1]


def test_a_policy_that_cannot_be_applied_stops_the_step(monkeypatch):
    """Fails closed: no-verdict responses must never train as wrong answers because the policy broke."""
    def broken(*_, **__):
        raise RuntimeError("transfer queue gone")

    monkeypatch.setitem(sys.modules, "transfer_queue", types.SimpleNamespace(kv_batch_get=broken))
    called = []

    class Trainer:
        def _compute_advantage(self, batch, metrics):
            called.append(batch)

    Trainer._compute_advantage = infra_policy.wrap_compute_advantage(Trainer._compute_advantage)
    with pytest.raises(RuntimeError, match="the infra-failure policy could not be applied") as e:
        Trainer()._compute_advantage(fake_batch(), {})
    assert str(e.value.__cause__) == "transfer queue gone" and called == []


@pytest.mark.parametrize("key, value", [("reward.reward_manager.name", "r1"),
                                        ("reward.custom_reward_function.path", "pkg://r1_recipe.rewards")])
def test_a_run_scored_by_our_rewards_stops_at_start_up_without_the_hooked_method(monkeypatch, key, value):
    from omegaconf import OmegaConf

    from r1_recipe.verl import touchpoints

    renamed = touchpoints.Touchpoint(touchpoints.TRAINER_MODULE, ("PPOTrainer._compute_advantage_v2",), "policy",
                                     touchpoints.INFRA_POLICY_KEYS, private=True)
    monkeypatch.setattr(touchpoints, "TOUCHPOINTS", (renamed,))
    with pytest.raises(ValueError, match=rf"^{key} needs verl's .*PPOTrainer._compute_advantage_v2 \(policy\)"):
        touchpoints.require_for_config(OmegaConf.from_dotlist([f"{key}={value}"]))
    touchpoints.require_for_config(OmegaConf.from_dotlist(["reward.reward_manager.name=naive"]))  # not ours: fine

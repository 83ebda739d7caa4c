"""The miniature R1 run (r1_recipe.mini): toy data, recipe mapping, and the short end-to-end configuration (its
pass@1/cons@k come from r1_recipe.pipelines.passk, tested in test_passk.py)."""

import json
from collections import Counter

import pytest

from r1_recipe.mini import data
from r1_recipe.mini.pipeline import MiniConfig


def test_toy_traces_are_in_r1_format():
    from r1_recipe.rewards.format import check_format

    assert data.prompt(3, 4).endswith("User: Compute 3 + 4. Assistant:")
    careful, hasty = data.completion(3, 4), data.hasty_completion(8)
    assert careful == " <think> 3 + 4 = 7 . check : 7 - 4 = 3 . </think> <answer> \\boxed{7} </answer>"
    assert hasty == " <think> guess 8 . </think> <answer> \\boxed{8} </answer>"
    assert check_format(careful) == "" and check_format(hasty) == ""
    assert data.CHECK in careful and data.CHECK not in hasty
    assert len(data.problems(10)) == 100


def _answer(completion: str) -> int:
    return int(completion.split("\\boxed{")[1].split("}")[0])


def test_cold_start_set_covers_every_problem_and_injects_the_asked_imperfection():
    train = data.problems(10)
    careful = data.sft_samples(train, 200, seed=0, hasty=0.0)
    assert Counter(p for p, _ in careful) == {data.prompt(a, b): 2 for a, b in train}
    by_prompt = {data.prompt(a, b): (a, b) for a, b in train}
    assert all(c == data.completion(*by_prompt[p]) for p, c in careful)
    right = {data.prompt(a, b): a + b for a, b in train}
    hasty_right = data.sft_samples(train, 200, seed=0, hasty=1.0, slip=0.0)
    assert all(data.CHECK not in c and _answer(c) == right[p] for p, c in hasty_right)
    slipped = data.sft_samples(train, 200, seed=0, hasty=1.0, slip=1.0)
    assert all(abs(_answer(c) - right[p]) == 1 for p, c in slipped)
    mixed = data.sft_samples(train, 2000, seed=0, hasty=0.5, slip=0.5)
    n_hasty = sum(data.CHECK not in c for _, c in mixed)
    n_wrong = sum(_answer(c) != right[p] for p, c in mixed)
    assert 900 <= n_hasty <= 1100 and 400 <= n_wrong <= 600   # binomial(2000, .5) and (2000, .25): > 4 sigma


def test_bad_sizes_fail_naming_the_flag():
    with pytest.raises(ValueError, match="--hasty must be in"):
        MiniConfig(hasty=1.5)
    with pytest.raises(ValueError, match="--group-size must be >= 2"):
        MiniConfig(group_size=1)
    with pytest.raises(ValueError, match="--grpo-lr must be > 0"):
        MiniConfig(grpo_lr=0.0)


def test_grpo_values_come_from_the_zero_recipe():
    from r1_recipe.mini.recipe import rl_values, sft_values

    rl = rl_values("zero")
    assert (rl.loss_type, rl.scale_rewards, rl.beta, rl.epsilon, rl.epsilon_high, rl.num_iterations) == (
        "grpo", "group", 0.001, 0.2, 0.2, 1)
    assert (rl.temperature, rl.top_p, rl.eval_temperature, rl.eval_top_p, rl.group_size) == (1.0, 1.0, 0.6, 0.95, 16)
    assert (rl.weight_decay, rl.lr_scheduler_type) == (0.1, "constant")
    assert rl.reward == {"components": {"accuracy": 1.0, "format": 1.0}, "timeout_s": 10}
    sft = sft_values("cold_start_sft")
    assert (sft.lr_scheduler_type, sft.min_lr_ratio, sft.warmup_ratio, sft.weight_decay, sft.clip_grad) == (
        "cosine", 0.1, 0.03, 0.1, 1.0)


def test_recipe_value_trl_cannot_reproduce_fails_naming_the_key(tmp_path):
    from r1_recipe.mini.recipe import MiniRecipeError, rl_values
    from r1_recipe.recipe_cli import available

    text = available()["zero"].read_text().replace("loss_agg_mode: seq-mean-token-mean",
                                                   "loss_agg_mode: seq-mean-token-sum")
    (tmp_path / "odd.yaml").write_text(text)
    with pytest.raises(MiniRecipeError, match="actor_rollout_ref.actor.loss_agg_mode='seq-mean-token-sum'"):
        rl_values(str(tmp_path / "odd.yaml"))


def test_mini_quick_end_to_end(tmp_path):
    """The short configuration of the README's main command: SFT -> GRPO -> eval -> report, on CPU."""
    from r1_recipe.cli import main
    from r1_recipe.mini.cli import QUICK

    out = tmp_path / "mini"
    assert main(["mini", "--quick", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert len(m["history"]) == m["config"]["grpo_steps"] == QUICK["grpo_steps"]
    before, after = m["before"], m["after"]
    # cold-start SFT teaches the R1 format: almost every sampled response is well-formed before any RL
    assert before["format"] > 0.9
    # RL moves the policy toward the careful, verified procedure and raises accuracy (held on every seed measured,
    # docs/miniature.md)
    assert after["check_rate"] > before["check_rate"]
    assert after["pass@1"] > before["pass@1"]
    for png in ("reward.png", "accuracy.png", "response_length.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    assert "| pass@1 |" in (out / "report.md").read_text()

"""The miniature R1 run (r1_recipe.mini): metrics by the paper's protocol, and the short end-to-end configuration."""

import json

import pytest

from r1_recipe.mini import data
from r1_recipe.mini.pipeline import pass_cons


def _s(acc, pred):
    return {"acc": acc, "pred": pred}


def test_pass_cons_exact():
    k = 4
    scores = [_s(1, "3"), _s(0, "4"), _s(1, "3"), _s(0, None),   # pass 2/4, majority "3" correct
              _s(0, "9"), _s(0, "9"), _s(1, "7"), _s(0, "8"),   # pass 1/4, majority "9" wrong
              _s(0, None), _s(0, None), _s(0, None), _s(0, None)]  # nothing extracted: cons 0
    assert pass_cons(scores, k) == {"pass@1": (0.5 + 0.25 + 0) / 3, "cons@4": 1 / 3}


def test_pass_cons_rejects_partial_group():
    with pytest.raises(ValueError, match="multiple of k=4"):
        pass_cons([_s(1, "1")] * 3, 4)


def test_toy_data_is_in_r1_format():
    from r1_recipe.rewards.format import check_format
    from r1_recipe.rewards.math import extract_answer

    assert data.prompt(3, 4).endswith("User: Compute 3 + 4. Assistant:")
    c = data.completion(3, 4)
    assert check_format(c) == ""
    assert "\\boxed{7}" in c
    assert len(data.problems(10)) == 100


def test_mini_quick_end_to_end(tmp_path):
    """The short configuration of the README's main command: SFT -> GRPO -> eval -> report, on CPU."""
    from r1_recipe.cli import main

    out = tmp_path / "mini"
    assert main(["mini", "--quick", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert len(m["history"]) == m["config"]["grpo_steps"] == 20
    for phase in ("before", "after"):
        assert 0.0 <= m[phase]["pass@1"] <= 1.0 and 0.0 <= m[phase]["cons@4"] <= 1.0
    # cold-start SFT teaches the R1 format: most sampled responses are well-formed before any RL
    assert m["before"]["format"] > 0.5
    for png in ("reward.png", "accuracy.png", "response_length.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    assert "| pass@1 |" in (out / "report.md").read_text()

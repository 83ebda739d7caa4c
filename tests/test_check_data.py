"""`r1-recipe check-data` and the reward audit `r1-recipe run` makes at start-up: planted bad golds are found, per
data_source, with the reason and the row, and start-up stops above the threshold unless told otherwise."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from r1_recipe.tools.check_data import check_rows, read_rows
from r1_recipe.tools.cli import main

GOOD_CODE = json.dumps({"inputs": ["1 2\n"], "outputs": ["3\n"]})
# (data_source, gold, style): the planted bad golds are the non-numeric ones
ROWS = [("toy", str(i), "rule") for i in range(10)] + [
    ("toy", "", "rule"),                # no gold
    ("toy", None, "rule"),              # no gold
    ("toy", "\\frac{1}{", "rule"),      # the verifier cannot read its own gold back: unclosed brace
    ("toy", "\\text{}", "rule"),        # an empty answer: nothing matches it
    ("lcb", GOOD_CODE, "rule"),
    ("lcb", json.dumps({"inputs": ["1\n"], "outputs": ["1\n", "2\n"]}), "rule"),              # 1 input, 2 outputs
    ("lcb", json.dumps({"inputs": ["[1]"], "outputs": ["1"], "fn_name": "not a name"}), "rule"),
    ("lcb", json.dumps({"inputs": ["{oops"], "outputs": ["1"], "fn_name": "f"}), "rule"),   # call args not JSON
    ("chat", "", "model"),              # scored by a reward model: not a gold to check
]


def write(path, rows=ROWS):
    pd.DataFrame({"prompt": [[{"role": "user", "content": f"q{i}"}] for i in range(len(rows))],
                  "data_source": [r[0] for r in rows],
                  "reward_model": [{"style": r[2], "ground_truth": r[1]} for r in rows],
                  "extra_info": [{"index": i} for i in range(len(rows))]}).to_parquet(path)
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write(tmp_path_factory.mktemp("check") / "train.parquet")


@pytest.fixture(scope="module")
def report(data, composer):
    rows, total = read_rows([data])
    return check_rows(rows, None, total, composer=composer)


def test_planted_bad_golds_are_found_per_data_source(report):
    found = report.to_dict()
    assert (found["component"], found["checked"], found["bad"]) == ("accuracy", 18, 7)
    assert found["bad_rate"] == pytest.approx(7 / 18)
    toy, lcb, chat = (found["sources"][s] for s in ("toy", "lcb", "chat"))
    assert (toy["rows"], toy["checked"], toy["bad"], toy["reasons"]) == (
        14, 14, 4, {"no_gold": 2, "perfect_scores_0": 2})
    assert (lcb["rows"], lcb["checked"], lcb["bad"], lcb["reasons"]) == (4, 4, 3, {"code_tests_unparsable": 3})
    assert (chat["rows"], chat["checked"], chat["model_rows"], chat["bad"]) == (1, 0, 1, 0)


def test_each_failure_names_its_row_gold_and_reason(report):
    found = report.to_dict()["sources"]
    assert found["toy"]["examples"] == [{"row": 10, "gold": "''", "reason": "no_gold"},
                                        {"row": 11, "gold": "null", "reason": "no_gold"},
                                        {"row": 12, "gold": "'\\\\frac{1}{'",
                                         "reason": "perfect_scores_0 (unclosed_boxed)"}]
    assert [e["reason"] for e in found["lcb"]["examples"]] == [
        "code_tests_unparsable: 1 inputs but 2 outputs",
        "code_tests_unparsable: fn_name 'not a name' is not an identifier",
        "code_tests_unparsable: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"]
    assert "  toy                          14       14      4   28.6%  no_gold 2, perfect_scores_0 2" in report.lines()


def test_a_verifier_that_accepts_anything_is_caught(tmp_path, composer):
    """A data_source routed to a component that is not a verifier: the clearly wrong answer scores too."""
    from _components import length

    from r1_recipe.core.rewards import registry

    registry.register("length_as_acc")(length)
    rows, total = read_rows([write(tmp_path / "t.parquet", ROWS[:3])])
    found = check_rows(rows, {"components": {"length_as_acc": 1.0}, "acc_component": "length_as_acc"}, total)
    assert found.to_dict()["sources"]["toy"]["reasons"] == {"wrong_scores_1": 3}


def test_a_code_verifier_on_maths_golds_is_a_routing_error(tmp_path):
    rows, total = read_rows([write(tmp_path / "t.parquet", ROWS[:2] + ROWS[14:15])])
    found = check_rows(rows, {"components": {"code": 1.0}}, total).to_dict()["sources"]
    assert found["toy"]["reasons"] == {"not_code_tests": 2} and found["lcb"]["bad"] == 0


def test_cli_exits_1_above_the_threshold_and_writes_json(data, tmp_path, capsys):
    assert main(["check-data", str(data), "--json", str(tmp_path / "r.json")]) == 1
    out = capsys.readouterr()
    assert "reward audit of the golds with `accuracy`: 18 rows checked, 7 fail (38.9 %)" in out.out
    assert "38.9 % of the golds fail, above --max-bad-rate 0.05" in out.err
    assert json.loads((tmp_path / "r.json").read_text())["bad"] == 7
    assert main(["check-data", str(data), "--max-bad-rate", "0.5", "--reward-config", "zero_dapo"]) == 0


def test_sampling_is_uniform_and_reproducible(data):
    first, total = read_rows([data], sample=5, seed=1)
    again, _ = read_rows([data], sample=5, seed=1)
    assert total == 19 and [r["row"] for r in first] == [r["row"] for r in again] and len(first) == 5


# ------------------------------------------------------------------------------- `r1-recipe run` at start-up
def test_run_reports_the_audit_and_refuses_to_start_above_the_threshold(data, tmp_path, capsys):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text(json.dumps({"max_position_embeddings": 32768}))
    (tmp_path / "model" / "model.safetensors").write_bytes(b"")
    args = ["run", "zero", f"actor_rollout_ref.model.path={tmp_path / 'model'}", f"data.train_files={data}",
            f"data.val_files={data}", "data.train_batch_size=16", "actor_rollout_ref.actor.ppo_mini_batch_size=16",
            "--dry-run"]  # 16 prompts per batch: the 19 rows hold one
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "r1-recipe run: reward audit of the golds with `accuracy`: 18 rows checked, 7 fail (38.9 %)" in err
    assert "r1-recipe run:     row 12: perfect_scores_0 (unclosed_boxed): gold '\\\\frac{1}{'" in err
    assert ("data.train_files: 7 of 18 sampled golds fail the reward audit (38.9 % > --max-bad-golds 0.05; reasons "
            "above, `r1-recipe check-data` for all rows)") in err and "--skip-data-check" in err
    assert main([*args, "--max-bad-golds", "0.5"]) == 0
    assert "7 fail (38.9 %)" in capsys.readouterr().err
    assert main([*args, "--skip-data-check"]) == 0
    assert "reward audit" not in capsys.readouterr().err


def test_a_variant_lends_its_inherited_reward_block():
    from r1_recipe.tools.rejection import load_reward_config

    assert load_reward_config("zero_dapo") == {"components": {"accuracy": 1.0, "format": 1.0}, "timeout_s": 10}

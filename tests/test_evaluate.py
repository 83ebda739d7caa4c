"""`r1-recipe eval`: generations (parquet + jsonl) -> exact pass@1 / pass@k / cons@k per benchmark and overall,
JSON + Markdown outputs, side-by-side comparison, the CLI."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from r1_recipe.tools.cli import main as cli
from r1_recipe.tools.evaluate import compare_table, evaluate, markdown_table


def answer(x: str) -> str:
    return f"<think>Let me compute.</think> The answer is \\boxed{{{x}}}."


AIME = pd.DataFrame({
    "prompt": [[{"role": "user", "content": "Problem A"}], [{"role": "user", "content": "Problem B"}]],
    # A: one half written three ways outvotes a lone 3 (string voting would pick the first answer, 3)
    # B: 5 twice beats a lone correct 12; the last response has no answer
    "responses": [[answer("3"), answer("0.5"), answer("\\frac{1}{2}"), answer("1/2")],
                  [answer("12"), answer("5"), answer("5"), "<think>hmm</think> I give up."]],
    "data_source": ["aime2024", "aime2024"],
    "reward_model": [{"ground_truth": "\\frac{1}{2}", "style": "rule"}, {"ground_truth": "12", "style": "rule"}],
})
GSM8K_ROW = {"prompt": "Problem C", "responses": [answer("4")] * 4, "data_source": "gsm8k",
             "reward_model": {"ground_truth": "4"}, "finish_reasons": ["stop", "stop", "stop", "length"]}

EXPECTED = {
    "aime2024": {"problems": 2, "samples": 8, "pass@1": 0.5, "pass@2": (1.0 + 0.5) / 2, "pass@4": 1.0, "cons@4": 0.5},
    "gsm8k": {"problems": 1, "samples": 4, "pass@1": 0.75, "pass@2": 1.0, "pass@4": 1.0, "cons@4": 1.0},
    "all": {"problems": 3, "samples": 12, "pass@1": 7 / 12, "pass@2": 5 / 6, "pass@4": 1.0, "cons@4": 2 / 3},
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("gen")
    AIME.to_parquet(d / "aime.parquet", index=False)
    (d / "gsm8k.jsonl").write_text(json.dumps(GSM8K_ROW) + "\n")
    return [str(d / "aime.parquet"), str(d / "gsm8k.jsonl")]


@pytest.fixture(scope="module")
def result(inputs, composer):
    return evaluate(inputs, composer=composer, progress=False)


def test_metrics_per_benchmark_and_overall_are_exact(result):
    report, _ = result
    assert report["metrics"] == {k: pytest.approx(v, abs=1e-12) for k, v in EXPECTED.items()}


def test_every_response_is_recorded_with_its_cluster_and_reason(result):
    _, records = result
    a = [r for r in records if r["prompt_index"] == 0]
    assert [(r["acc"], r["pred"], r["cluster"]) for r in a] == [
        (0.0, "3", 0), (1.0, "1/2", 1), (1.0, "1/2", 1), (1.0, "1/2", 1)]
    b_last = records[7]
    assert (b_last["pred"], b_last["reasons"]) == ("", "accuracy_reason:no_answer")
    c_last = records[11]
    assert (c_last["truncated"], c_last["acc"], c_last["reasons"]) == (True, 0.0, "accuracy_reason:truncated")


def test_canonical_keys_alone_unify_one_half_and_ks_are_selectable(inputs, composer):
    report, _ = evaluate(inputs[:1], composer=composer, progress=False, equivalence=False, ks=[2], cons_k=[2, 4])
    # canonical keys alone already unify 0.5 / \frac{1}{2} / 1/2, so cons@4 of A stays 1
    assert report["metrics"] == {"aime2024": pytest.approx(
        {"problems": 2, "samples": 8, "pass@1": 0.5, "pass@2": 0.75, "cons@2": 0.5, "cons@4": 0.5})}


def test_markdown_and_comparison_tables(result):
    report, _ = result
    table = markdown_table(report)
    assert table.splitlines()[:5] == [
        "| benchmark | problems | samples | pass@1 | pass@2 | pass@4 | cons@4 |",
        "|---|---:|---:|---:|---:|---:|---:|",
        "| aime2024 | 2 | 8 | 50.0 | 75.0 | 100.0 | 50.0 |",
        "| gsm8k | 1 | 4 | 75.0 | 100.0 | 100.0 | 100.0 |",
        "| all | 3 | 12 | 58.3 | 83.3 | 100.0 | 66.7 |",
    ]
    other = {"metrics": {"aime2024": {"problems": 2, "samples": 8, "pass@1": 0.25, "cons@4": 0.0}}}
    assert compare_table({"rl": report, "base": other}).splitlines()[:5] == [
        "| benchmark | metric | rl | base |",
        "|---|---|---:|---:|",
        "| aime2024 | pass@1 | 50.0 | 25.0 |",
        "| aime2024 | pass@2 | 75.0 | – |",
        "| aime2024 | pass@4 | 100.0 | – |",
    ]


def test_cli_writes_json_markdown_samples_and_compares_runs(inputs, tmp_path, capsys):
    out = tmp_path / "run1"
    assert cli(["eval", *inputs, "--out", str(out), "--k", "2", "--cons-k", "4"]) == 0
    saved = json.loads((out / "eval.json").read_text())
    assert saved["metrics"]["all"] == pytest.approx(
        {"problems": 3, "samples": 12, "pass@1": 7 / 12, "pass@2": 5 / 6, "cons@4": 2 / 3})
    assert (out / "eval.md").read_text().startswith("| benchmark | problems | samples | pass@1 | pass@2 | cons@4 |")
    assert len((out / "samples.jsonl").read_text().splitlines()) == 12
    capsys.readouterr()
    assert cli(["eval", "--compare", str(out / "eval.json"), str(out / "eval.json")]) == 0
    assert "| all | cons@4 | 66.7 |" in capsys.readouterr().out


def test_cli_errors_name_the_problem(tmp_path, capsys):
    assert cli(["eval", str(tmp_path / "missing.parquet"), "--out", str(tmp_path / "o")]) == 2
    assert "generations file not found" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "x", "answers": ["a"]}) + "\n")
    assert cli(["eval", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "missing column 'responses'" in capsys.readouterr().err


def test_code_problems_get_pass_at_k_but_no_majority_vote(tmp_path, composer):
    gt = json.dumps({"inputs": ["1 2\n"], "outputs": ["3\n"]})
    program = "<think>add</think>\n```python\na, b = map(int, input().split())\nprint(a + b)\n```"
    row = {"prompt": "Add two numbers.", "responses": [program, "<think>?</think> no code"], "data_source": "lcb",
           "reward_model": {"ground_truth": gt}}
    (tmp_path / "code.jsonl").write_text(json.dumps(row) + "\n")
    report, records = evaluate([tmp_path / "code.jsonl"], composer=composer, progress=False)
    assert set(report["metrics"]["lcb"]) == {"problems", "samples", "pass@1", "pass@2"}
    assert records[1]["acc"] == 0.0


def test_a_row_without_responses_is_reported_as_malformed_and_not_counted(tmp_path, composer):
    """As `rejection-sample` drops it: a 0 would understate the model (issue 19)."""
    rows = [{"prompt": "Q1", "responses": [answer("4")], "data_source": "toy", "reward_model": {"ground_truth": "4"}},
            {"prompt": "Q2", "responses": [], "data_source": "toy", "reward_model": {"ground_truth": "5"}}]
    (tmp_path / "g.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    report, records = evaluate([tmp_path / "g.jsonl"], composer=composer, progress=False)
    assert report["metrics"] == {"toy": {"problems": 1, "samples": 1, "pass@1": 1.0, "cons@1": 1.0}}
    assert report["skipped"] == {"malformed": 1, "no_ground_truth": 0, "rows": [
        {"prompt_index": 1, "reason": "malformed_row: ValueError: no responses"}]}
    assert (records[1]["prompt_index"], records[1]["acc"], records[1]["reasons"]) == (
        1, None, "malformed_row: ValueError: no responses")


# ---------------------------------------------------------------- numbers people can quote: intervals, settings
def test_every_metric_gets_its_two_intervals(result):
    report, _ = result
    aime = report["intervals"]["aime2024"]
    assert sorted(aime) == ["cons@4", "pass@1", "pass@2", "pass@4"]
    # per-problem pass@1 of A and B: 3/4 and 1/4; the problem bootstrap's means are 1/4, 1/2, 3/4
    assert aime["pass@1"]["ci95"] == [0.25, 0.75]
    assert aime["pass@4"] == {"ci95": [1.0, 1.0], "ci95_sampling": pytest.approx([0.5, 1.0])}
    # pass@1 resampled within A (3 of 4 right) and B (1 of 4): the mean stays within [0.25, 0.75]
    lo, hi = aime["pass@1"]["ci95_sampling"]
    assert 0.25 <= lo < 0.5 < hi <= 0.75
    assert report["settings"]["bootstrap"] == {"n_boot": 10000, "n_boot_sampling": 2000, "seed": 0,
                                               "confidence": 0.95}
    assert set(report["settings"]["verifier"]) >= {"r1-recipe", "math-verify", "sympy"}


def test_eval_md_prints_the_intervals_and_the_settings(result):
    report, _ = result
    text = markdown_table(report)
    assert "| aime2024 | pass@1 | 50.0 | [25.0, 75.0] |" in text
    assert "Generation settings:" in text and "none recorded" in text  # the test inputs carry none


def test_compare_gives_the_paired_difference_on_common_problems(inputs, composer, tmp_path):
    base, _ = evaluate(inputs, composer=composer, progress=False, cons_k=[4])
    worse = AIME.copy()
    worse["responses"] = [[answer("3")] * 4, AIME["responses"][1]]  # problem A: 0 of 4 right (was 3 of 4)
    worse.to_parquet(tmp_path / "aime.parquet", index=False)
    other, _ = evaluate([str(tmp_path / "aime.parquet")], composer=composer, progress=False, cons_k=[4])
    table = compare_table({"base": base, "other": other})
    # only aime2024 is common; d(pass@1) = [0 - 3/4, 0] on A and B: mean -37.5, resampled means -75, -37.5, 0
    assert "| aime2024 | pass@1 | 2 | -37.5 | [-75.0, 0.0] |" in table
    assert "| aime2024 | cons@4 | 2 | -50.0 | [-100.0, 0.0] |" in table
    assert "| gsm8k |" not in table.split("Paired difference")[1]


def test_generation_settings_in_the_input_are_recorded_and_flags_add_to_them(tmp_path, composer, capsys):
    from r1_recipe.core import provenance

    settings = {"model": {"path": "/m", "config_sha256": "ab"}, "n": 4, "sampling": {"temperature": 0.6}}
    provenance.write_parquet(AIME, tmp_path / "aime.parquet", settings)
    out = tmp_path / "out"
    assert cli(["eval", str(tmp_path / "aime.parquet"), "--out", str(out), "--setting", "dtype=bfloat16",
                "--setting", "rollout.tensor_model_parallel_size=2", "--bootstrap", "500", "--seed", "3"]) == 0
    saved = json.loads((out / "eval.json").read_text())
    assert saved["generation"] == {str(tmp_path / "aime.parquet"): {
        **settings, "dtype": "bfloat16", "rollout.tensor_model_parallel_size": 2}}
    assert saved["settings"]["bootstrap"]["n_boot"] == 500 and saved["settings"]["bootstrap"]["seed"] == 3
    assert (f"- {tmp_path / 'aime.parquet'}: model.config_sha256=ab, model.path=/m, n=4, sampling.temperature=0.6, "
            "dtype=bfloat16, rollout.tensor_model_parallel_size=2") in (out / "eval.md").read_text()
    assert cli(["eval", str(tmp_path / "aime.parquet"), "--out", str(out), "--setting", "oops"]) == 2
    assert "--setting expects KEY=VALUE, got 'oops'" in capsys.readouterr().err

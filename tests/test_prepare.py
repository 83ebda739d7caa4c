"""`r1-recipe prepare`: local files in, verl parquet rows out, with the ground truth each dataset states."""

from __future__ import annotations

import base64
import json
import pickle
import zlib

import pandas as pd
import pytest

from r1_recipe.core.templates import MATH_INSTRUCTION
from r1_recipe.tools.cli import main
from r1_recipe.tools.data import PrepareError, prepare


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def rows(path) -> list[dict]:
    return pd.read_parquet(path).to_dict("records")


def plain(row: dict) -> dict:
    """Parquet gives numpy arrays for lists; compare as Python lists."""
    row = dict(row)
    row["prompt"] = [dict(m) for m in row["prompt"]]
    row["extra_info"] = {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in row["extra_info"].items()}
    return row


def test_gsm8k_answer_after_hashes_chat_template(tmp_path, capsys):
    src = write_jsonl(tmp_path / "gsm.jsonl", [
        {"question": "Tom has 3 apples and buys 1,000 more. How many?", "answer": "3 + 1000 = 1003\n#### 1,003"},
        {"question": "No marker", "answer": "42"},
    ])
    rc = main(["prepare", "gsm8k", "--input", str(src), "--out", str(tmp_path / "out"), "--template", "chat"])
    out = capsys.readouterr()
    assert rc == 0 and "train: 1 rows" in out.out and "row 1: ValueError: no '####'" in out.err
    assert [plain(r) for r in rows(tmp_path / "out" / "train.parquet")] == [{
        "prompt": [{"role": "user", "content": "Tom has 3 apples and buys 1,000 more. How many?\n" + MATH_INSTRUCTION}],
        "data_source": "openai/gsm8k", "ability": "math",
        "reward_model": {"style": "rule", "ground_truth": "1003"},
        "extra_info": {"index": 0, "split": "train", "dataset": "gsm8k",
                       "question": "Tom has 3 apples and buys 1,000 more. How many?", "solution": "3 + 1000 = 1003"},
    }]


def test_math_ground_truth_is_the_last_boxed_of_the_solution_r1_zero_prompt_is_bare(tmp_path):
    src = tmp_path / "math.parquet"
    pd.DataFrame([{"problem": "Half of one?", "solution": "First \\boxed{2}, no: $\\boxed{\\frac{1}{2}}$.",
                   "level": "Level 1", "type": "Algebra"}]).to_parquet(src)
    prepare("math", tmp_path / "out", split="test", input_path=str(src), progress=False)
    [row] = rows(tmp_path / "out" / "test.parquet")
    assert row["reward_model"]["ground_truth"] == "\\frac{1}{2}"
    assert [dict(m) for m in row["prompt"]] == [{"role": "user", "content": "Half of one?"}]
    assert (row["data_source"], row["extra_info"]["level"], row["extra_info"]["split"]) == ("lighteval/MATH",
                                                                                            "Level 1", "test")


@pytest.mark.parametrize("dataset, answer, gold, source", [
    ("aime2024", "033", "33", "aime2024"), ("aime2025", 70, "70", "aime2025"), ("amc", 27.0, "27", "amc"),
    ("math500", "\\frac{14}{3}", "\\frac{14}{3}", "HuggingFaceH4/MATH-500"),
    ("deepscaler", "\\sqrt{2}", "\\sqrt{2}", "deepscaler"), ("openr1_math", "-5", "-5", "openr1_math"),
])
def test_answer_column_sets(tmp_path, dataset, answer, gold, source):
    src = tmp_path / "in.json"
    src.write_text(json.dumps([{"problem": "P?", "answer": answer, "level": 1, "subject": "x"}]))
    result = prepare(dataset, tmp_path / "out", input_path=str(src), progress=False)
    [row] = rows(next(iter(result["files"].values())))
    assert (row["reward_model"]["ground_truth"], row["data_source"]) == (gold, source)


def gpqa_record(q):
    return {"Question": q, "Correct Answer": "right", "Incorrect Answer 1": "w1", "Incorrect Answer 2": "w2",
            "Incorrect Answer 3": "w3"}


def test_gpqa_letter_matches_the_shuffled_correct_option_and_is_stable(tmp_path):
    src = write_jsonl(tmp_path / "g.jsonl", [gpqa_record(f"Question {i}?") for i in range(8)])
    prepare("gpqa_diamond", tmp_path / "a", input_path=str(src), template="chat", progress=False)
    first = rows(tmp_path / "a" / "train.parquet")
    letters = set()
    for row in first:
        options = list(row["extra_info"]["options"])
        letter = row["reward_model"]["ground_truth"]
        letters.add(letter)
        assert sorted(options) == ["right", "w1", "w2", "w3"] and options["ABCD".index(letter)] == "right"
        q = row["extra_info"]["question"]
        assert q.split("\n\n")[1] == "\n".join(f"{L}) {o}" for L, o in zip("ABCD", options, strict=True))
        assert row["prompt"][0]["content"].endswith("put the letter of your final answer within \\boxed{}.")
    assert len(letters) > 1  # the correct answer is not always in the same place
    # same order whatever the row order of the input
    write_jsonl(tmp_path / "r.jsonl", [gpqa_record(f"Question {i}?") for i in reversed(range(8))])
    prepare("gpqa_diamond", tmp_path / "b", input_path=str(tmp_path / "r.jsonl"), progress=False)
    again = {r["extra_info"]["question"]: r["reward_model"]["ground_truth"] for r in rows(tmp_path / "b/train.parquet")}
    assert again == {r["extra_info"]["question"]: r["reward_model"]["ground_truth"] for r in first}


def test_apps_test_cases_become_verl_test_cases_json(tmp_path):
    io_ = {"inputs": ["1 2\n", "3 4\n"], "outputs": ["3\n", "7\n"]}
    src = write_jsonl(tmp_path / "apps.jsonl", [
        {"question": "Add two numbers.", "input_output": json.dumps(io_), "starter_code": ""},
        {"question": "Call it.", "input_output": json.dumps({"inputs": [[1]], "outputs": [2], "fn_name": "inc"}),
         "starter_code": "def inc(x):\n"},
        {"question": "Broken.", "input_output": json.dumps({"inputs": ["1"], "outputs": []})},
    ])
    result = prepare("apps", tmp_path / "out", input_path=str(src), template="chat", progress=False)
    stdin_row, fn_row = rows(tmp_path / "out" / "train.parquet")
    assert json.loads(stdin_row["reward_model"]["ground_truth"]) == io_
    assert json.loads(fn_row["reward_model"]["ground_truth"]) == {"inputs": [[1]], "outputs": [2], "fn_name": "inc"}
    assert fn_row["prompt"][0]["content"] == ("Call it.\n\nStarter code:\n```python\ndef inc(x):\n```\nWrite a Python "
                                              "3 solution that defines `inc` as in the starter code. Put the complete "
                                              "code in a ```python code block.")
    assert result["skipped"] == ["row 2: ValueError: test cases need as many outputs as inputs (got 1 inputs, "
                                 "0 outputs)"]


def lcb_private(obj) -> str:
    return base64.b64encode(zlib.compress(pickle.dumps(obj))).decode()


def test_livecodebench_public_and_private_tests_and_no_unpickling_of_objects(tmp_path):
    public = [{"input": "[1, 2]\n3", "output": "6", "testtype": "functional"}]
    private = [{"input": "[0]\n1", "output": "1", "testtype": "functional"}]
    src = write_jsonl(tmp_path / "lcb.jsonl", [
        {"question_content": "Sum then add k.", "public_test_cases": json.dumps(public),
         "private_test_cases": lcb_private(json.dumps(private)), "metadata": json.dumps({"func_name": "solve"}),
         "starter_code": "class Solution:\n    def solve(self, a, k):", "contest_date": "2024-09-01",
         "difficulty": "easy"},
        {"question_content": "Hostile.", "public_test_cases": "[]", "private_test_cases": lcb_private(pickle.Pickler),
         "metadata": "{}"},
    ])
    result = prepare("livecodebench", tmp_path / "out", input_path=str(src), progress=False)
    [row] = rows(tmp_path / "out" / "test.parquet")
    assert json.loads(row["reward_model"]["ground_truth"]) == {
        "inputs": ["[1, 2]\n3", "[0]\n1"], "outputs": ["6", "1"], "fn_name": "solve"}
    assert (row["ability"], row["extra_info"]["contest_date"]) == ("code", "2024-09-01")
    assert result["skipped"] == [
        "row 1: ValueError: undecodable private_test_cases: refusing to unpickle _pickle.Pickler"]


def test_missing_column_is_an_error_naming_it(tmp_path, capsys):
    src = write_jsonl(tmp_path / "bad.jsonl", [{"prompt": "What?", "answer": "#### 1"}])
    rc = main(["prepare", "gsm8k", "--input", str(src), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and "missing column 'question' (columns present: answer, prompt)" in err
    assert not (tmp_path / "out").exists()
    rc = main(["prepare", "gsm8k", "--input", str(src), "--out", str(tmp_path / "out"), "--question-key", "prompt"])
    assert rc == 0 and rows(tmp_path / "out" / "train.parquet")[0]["prompt"][0]["content"] == "What?"


def test_validation_split_is_deterministic_and_order_independent(tmp_path):
    records = [{"question": f"q{i}", "answer": f"#### {i}"} for i in range(20)]
    write_jsonl(tmp_path / "a.jsonl", records)
    write_jsonl(tmp_path / "b.jsonl", records[::-1])
    ra = prepare("gsm8k", tmp_path / "a", input_path=str(tmp_path / "a.jsonl"), val_size=0.25, progress=False)
    rb = prepare("gsm8k", tmp_path / "b", input_path=str(tmp_path / "b.jsonl"), val_size=5, progress=False)
    assert ra["rows"] == rb["rows"] == {"train": 15, "val": 5}
    val_a = {r["extra_info"]["question"] for r in rows(tmp_path / "a" / "val.parquet")}
    val_b = {r["extra_info"]["question"] for r in rows(tmp_path / "b" / "val.parquet")}
    train_a = {r["extra_info"]["question"] for r in rows(tmp_path / "a" / "train.parquet")}
    assert val_a == val_b and len(val_a) == 5 and not val_a & train_a
    assert {r["extra_info"]["split"] for r in rows(tmp_path / "a" / "val.parquet")} == {"val"}


def test_unknown_dataset_and_missing_file(tmp_path):
    with pytest.raises(PrepareError, match="unknown dataset 'gsm9k'; available: gsm8k, math"):
        prepare("gsm9k", tmp_path)
    with pytest.raises(PrepareError, match="input file '/nonexistent.jsonl' does not exist"):
        prepare("gsm8k", tmp_path, input_path="/nonexistent.jsonl")


def test_rows_load_in_verl_rl_dataset_with_the_r1_zero_template(tmp_path, tiny_tokenizer):
    """The parquet is what verl's RLHFDataset reads; the R1-Zero template renders the bare question."""
    import copy

    from omegaconf import OmegaConf
    from verl.utils.dataset.rl_dataset import RLHFDataset

    from r1_recipe.core.templates import load

    src = write_jsonl(tmp_path / "gsm.jsonl", [{"question": "What is 6*7?", "answer": "#### 42"}])
    prepare("gsm8k", tmp_path / "out", input_path=str(src), progress=False)
    tiny_tokenizer = copy.deepcopy(tiny_tokenizer)  # the session fixture stays a tokenizer with no chat template
    tiny_tokenizer.chat_template = load("r1_zero")
    ds = RLHFDataset([str(tmp_path / "out" / "train.parquet")], tiny_tokenizer,
                     OmegaConf.create({"max_prompt_length": 256, "filter_overlong_prompts": False}))
    item = ds[0]
    assert list(item["raw_prompt"]) == [{"role": "user", "content": "What is 6*7?"}]
    text = tiny_tokenizer.apply_chat_template(item["raw_prompt"], tokenize=False, add_generation_prompt=True)
    assert text.endswith("User: What is 6*7?. Assistant:")
    assert item["reward_model"]["ground_truth"] == "42"


def test_several_input_files_are_concatenated_in_order(tmp_path, capsys):
    a = write_jsonl(tmp_path / "a.jsonl", [{"problem": "A?", "answer": "1"}])
    b = write_jsonl(tmp_path / "b.jsonl", [{"problem": "B?", "answer": "2"}])
    rc = main(["prepare", "aime2025", "--input", str(a), str(b), "--out", str(tmp_path / "out"), "--no-progress"])
    assert rc == 0 and "train: 2 rows" in capsys.readouterr().out
    got = [(r["extra_info"]["question"], r["reward_model"]["ground_truth"], r["extra_info"]["index"])
           for r in rows(tmp_path / "out" / "train.parquet")]
    assert got == [("A?", "1", 0), ("B?", "2", 1)]

"""Every command meets bad input well (issue 19, part 4): a clear error naming the key, the file or the row, with the
exit code of a usage error (2), and nothing lost."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from _cli import run


def rows(n: int) -> list[dict]:
    return [{"prompt": [{"role": "user", "content": f"q{i}"}], "data_source": "gsm8k",
             "reward_model": {"style": "rule", "ground_truth": str(i)}, "extra_info": {"index": i}} for i in range(n)]


@pytest.fixture(scope="module")
def d(tmp_path_factory):
    """A model directory and five-row train/val parquet files."""
    d = tmp_path_factory.mktemp("bad_input")
    (d / "model").mkdir()
    (d / "model" / "config.json").write_text(json.dumps({
        "model_type": "qwen2", "hidden_size": 896, "num_attention_heads": 14, "num_key_value_heads": 2,
        "num_hidden_layers": 24, "intermediate_size": 4864, "vocab_size": 151936, "tie_word_embeddings": True,
        "max_position_embeddings": 32768}))
    (d / "model" / "model.safetensors").write_bytes(b"")
    for name in ("train", "val"):
        pd.DataFrame(rows(5)).to_parquet(d / f"{name}.parquet")
    return d


def zero_args(d) -> list[str]:
    return [f"actor_rollout_ref.model.path={d / 'model'}", f"data.train_files={d / 'train.parquet'}",
            f"data.val_files={d / 'val.parquet'}", "data.train_batch_size=4",
            "actor_rollout_ref.actor.ppo_mini_batch_size=4"]


def errors(err: str) -> list[str]:
    return [line[4:] for line in err.splitlines() if line.startswith("  - ")]


# ------------------------------------------------------------------------------------------------------ run --dry-run
def test_nonsense_values_fail_at_start_up_naming_the_full_key_and_the_value(capsys, d):
    bad = ["data.train_batch_size=abc", "trainer.n_gpus_per_node=-1", "actor_rollout_ref.rollout.n=0",
           "actor_rollout_ref.actor.optim.lr=-1", "actor_rollout_ref.rollout.temperature=-0.5",
           "data.max_response_length=-2048", "actor_rollout_ref.rollout.top_p=1.5"]
    rc, out, err = run(capsys, "run", "zero", *zero_args(d), *bad, "--dry-run")
    assert rc == 2 and out == ""
    assert errors(err) == [
        "trainer.n_gpus_per_node=-1: expected an integer >= 1",
        "data.train_batch_size='abc': expected an integer >= 1",
        "data.max_response_length=-2048: expected an integer >= 1",
        "actor_rollout_ref.rollout.n=0: expected an integer >= 1",
        "actor_rollout_ref.rollout.temperature=-0.5: expected a number >= 0",
        "actor_rollout_ref.rollout.top_p=1.5: expected a number in (0, 1]",
        "actor_rollout_ref.actor.optim.lr=-1: expected a number >= 0",
    ]
    rc, _, err = run(capsys, "run", "zero", *zero_args(d), "data.train_batch_size=-8", "--dry-run")
    assert rc == 2 and errors(err) == ["data.train_batch_size=-8: expected an integer >= 1"]


def test_a_dataset_smaller_than_one_batch_is_refused_naming_the_key_and_the_row_count(capsys, d):
    pd.DataFrame(rows(0)).to_parquet(d / "empty.parquet")
    rc, _, err = run(capsys, "run", "zero", *zero_args(d)[:-2], f"data.val_files={d / 'empty.parquet'}",
                     "--dry-run")  # the recipe's 512 prompts per step
    assert rc == 2
    assert errors(err) == [
        f"data.train_batch_size=512 > the 5 rows of data.train_files ({d / 'train.parquet'}): verl's train dataloader "
        "drops the last partial batch, so it would hold no batch and main_ppo would stop with 'Train dataloader is "
        "empty!'; set data.train_batch_size <= 5 or use more data",
        f"data.val_files ({d / 'empty.parquet'}) has no rows: main_ppo would stop with 'Validation dataloader is "
        "empty!'"]


def test_the_cpu_plan_has_no_vllm_kv_cache_and_says_when_no_reset_falls_in_the_run(capsys, d):
    rc, out, err = run(capsys, "run", "zero", *zero_args(d), "--cpu", "--dry-run")
    assert rc == 0, err
    plan = out.split("# plan:\n")[1].split("# command:")[0].splitlines()
    assert plan[3] == "#   reference reset: every 400 paper steps = every 400 verl steps; none in this run"
    assert plan[5].startswith("#   divisibility: 1 GPUs, actor dp 1 (SP 1), 1 hf replicas (TP 1); ")
    assert plan[6] == ("#   memory per GPU (estimate, 0.49B params; docs/recipes.md \"Memory plan\"): FSDP weights 1.8 "
                       "GiB, grads 1.8 GiB, optimizer 3.7 GiB, gathered bf16 embedding/LM head 0.3 GiB, activations "
                       "16.7 GiB, rollout hf: bf16 model 0.9 GiB + one generate batch 303.5 GiB; reference 0.9 GiB in "
                       "host memory (CPU-offloaded)")   # the recipe's sizes: the generate batch says to shrink them
    assert "KV cache" not in out and "vLLM" not in "".join(plan)


def test_the_gpu_check_does_not_ask_for_the_value_already_set(monkeypatch):
    import torch

    from r1_recipe.verl.recipe_check import Report, _check_gpus

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    report = Report()
    _check_gpus(1, report, "trainer.n_gpus_per_node")
    assert report.errors == ["trainer.n_gpus_per_node=1 but this node has 0 visible GPU(s): launch on a GPU node, "
                             "pass --skip-gpu-check from a head node without GPUs, or add --cpu to run verl's own "
                             "trainers on this CPU host"]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    report = Report()
    _check_gpus(8, report, "trainer.n_gpus_per_node")
    assert report.errors == ["trainer.n_gpus_per_node=8 but this node has 2 visible GPU(s); set "
                             "trainer.n_gpus_per_node=2 (and the size knobs in the recipe's header)"]


# ---------------------------------------------------------------------------------------- input files: file and line
@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("files")
    good = '{"prompt": "q", "responses": ["\\\\boxed{1}"], "ground_truth": "1"}\n'
    (d / "not_utf8.jsonl").write_bytes(good.encode() + b'{"prompt": "\xff"}\n')
    (d / "broken.jsonl").write_text(good + '{"prompt": "q", "responses": [\n')
    (d / "list.jsonl").write_text(good + '["not", "an", "object"]\n')
    (d / "not.parquet").write_text("no parquet here\n")
    pd.DataFrame({"prompt": pd.Series([], dtype=object), "responses": pd.Series([], dtype=object)}).to_parquet(
        d / "empty.parquet")
    (d / "empty.jsonl").write_text("\n")
    return d


@pytest.mark.parametrize("command", ["eval", "rejection-sample"])
def test_generations_errors_name_the_file_and_the_line(capsys, files, tmp_path, command):
    expected = {
        "not_utf8.jsonl": "{}, line 2: not UTF-8 (byte 0xff at column 13); re-encode the file as UTF-8",
        "broken.jsonl": "{}, line 2: invalid JSON (Expecting value at column 31)",
        "list.jsonl": "{}, line 2: expected a JSON object, got list",
        "not.parquet": "{}: not a readable parquet file (Parquet magic bytes not found in footer. Either the file is "
                       "corrupted or this is not a parquet file.)",
        "empty.parquet": "no prompt rows in {}",
        "empty.jsonl": "no prompt rows in {}",
    }
    option = "--no-plot" if command == "rejection-sample" else "--no-equivalence"
    for name, message in expected.items():
        rc, _, err = run(capsys, command, files / name, "--out", tmp_path / name, option)
        # the error is the last line of stderr (rejection-sample's progress bar may be there before it)
        assert (rc, err.splitlines()[-1]) == (2, f"r1-recipe {command}: error: {message.format(files / name)}")


def test_mix_sets_and_compared_reports_are_named_when_unreadable(capsys, files, tmp_path):
    gen = files / "broken.jsonl"  # the mix set is checked before the run reads anything
    rc, _, err = run(capsys, "rejection-sample", gen, "--out", tmp_path / "rs", "--mix", tmp_path / "nope.parquet")
    assert (rc, err) == (2, f"r1-recipe rejection-sample: error: {tmp_path / 'nope.parquet'}: file not found\n")
    rc, _, err = run(capsys, "rejection-sample", files / "not.parquet", "--mix-only", "--mix", files / "empty.parquet",
                     "--out", tmp_path / "rs")
    assert rc == 2 and err.startswith(f"r1-recipe rejection-sample: error: {files / 'not.parquet'}: not a readable "
                                      "parquet file (")
    (tmp_path / "eval.json").write_text('{"metrics":\n  {"aime": }}\n')
    rc, _, err = run(capsys, "eval", "--compare", tmp_path / "eval.json", tmp_path / "eval.json")
    assert (rc, err) == (2, f"r1-recipe eval: error: {tmp_path / 'eval.json'}, line 2: invalid JSON (Expecting value "
                            "at column 12)\n")


def test_prepare_errors_name_the_file_and_the_line_or_row(capsys, files, tmp_path):
    (tmp_path / "gsm8k.jsonl").write_text('{"question": "q0", "answer": "#### 1"}\n{"question": "q1"}\n')
    for name, message in [
        ("broken.jsonl", f"{files / 'broken.jsonl'}, line 2: invalid JSON (Expecting value at column 31)"),
        ("not_utf8.jsonl", f"{files / 'not_utf8.jsonl'}, line 2: not UTF-8 (byte 0xff at column 13); re-encode the "
                           "file as UTF-8"),
        ("not.parquet", f"{files / 'not.parquet'}: not a readable parquet file (Parquet magic bytes not found in "
                        "footer. Either the file is corrupted or this is not a parquet file.)"),
    ]:
        rc, _, err = run(capsys, "prepare", "gsm8k", "--input", files / name, "--out", tmp_path / "o", "--no-progress")
        assert (rc, err) == (2, f"r1-recipe prepare: error: {message}\n")
    rc, _, err = run(capsys, "prepare", "gsm8k", "--input", tmp_path / "gsm8k.jsonl", "--out", tmp_path / "o",
                     "--no-progress")
    assert (rc, err) == (2, f"r1-recipe prepare: error: dataset 'gsm8k' ({tmp_path / 'gsm8k.jsonl'}): row 1: missing "
                            "column 'answer' (columns present: question); rename the column or use "
                            "--question-key/--answer-key\n")
    (tmp_path / "none.jsonl").write_text("\n")
    rc, _, err = run(capsys, "prepare", "gsm8k", "--input", tmp_path / "none.jsonl", "--out", tmp_path / "o")
    assert (rc, err) == (2, f"r1-recipe prepare: error: dataset 'gsm8k' ({tmp_path / 'none.jsonl'}): the input has no "
                            "records\n")
    (tmp_path / "bad.json").write_text('{"data": [\n  {"question": "q0",}\n]}')
    rc, _, err = run(capsys, "prepare", "gsm8k", "--input", tmp_path / "bad.json", "--out", tmp_path / "o")
    assert (rc, err) == (2, f"r1-recipe prepare: error: {tmp_path / 'bad.json'}, line 2: invalid JSON (Expecting "
                            "property name enclosed in double quotes at column 21)\n")


def test_report_names_the_line_of_a_bad_step_and_skips_a_cut_off_line_with_a_warning(capsys, tmp_path, caplog):
    log = tmp_path / "run.jsonl"
    log.write_text('{"step": 1, "data": {"r1/reward/acc/mean": 0.5}}\n{"step": "abc", "data": {"x": 1}}\n')
    rc, _, err = run(capsys, "report", log, "--out", tmp_path / "o")
    assert (rc, err) == (2, f"r1-recipe report: error: {log}, line 2: step 'abc' is not an integer\n")
    log.write_text('{"step": 1, "data": {"r1/reward/acc/mean": 0.5}}\n{"step": 2, "data": {"r1/rew')
    rc, out, _ = run(capsys, "report", log, "--out", tmp_path / "o")
    assert rc == 0 and json.loads((tmp_path / "o" / "curves.json").read_text())["run"]["accuracy"] == {
        "r1/reward/acc/mean": [[1, 0.5]]}
    assert [r.getMessage() for r in caplog.records] == [
        f"skipped {log}, line 2: invalid JSON (Unterminated string starting at column 22)"]


# ---------------------------------------------------------------------------------------------------- --reward-config
def test_reward_config_takes_a_recipe_name_from_any_directory(capsys, tmp_path, monkeypatch):
    from omegaconf import OmegaConf

    from r1_recipe.tools.recipes import available
    from r1_recipe.tools.rejection import load_reward_config

    monkeypatch.chdir(tmp_path)  # no recipes/ here: the name resolves to the installed package's file
    expected = OmegaConf.to_container(OmegaConf.load(available()["reasoning_rl"]).reward.r1)
    assert load_reward_config("reasoning_rl") == expected == {
        "components": {"accuracy": 1.0, "format": {"weight": 1.0, "answer_tag": False}, "language": 1.0},
        "timeout_s": 10}
    (tmp_path / "mine.yaml").write_text("components: {accuracy: 1.0}\n")
    assert load_reward_config("mine.yaml") == {"components": {"accuracy": 1.0}}
    (tmp_path / "gen.jsonl").write_text('{"prompt": "q", "responses": ["a"], "ground_truth": "1"}\n')
    for command in ("eval", "rejection-sample"):
        rc, _, err = run(capsys, command, "gen.jsonl", "--out", "o", "--reward-config", "recipes/reasoning_rl.yaml")
        assert (rc, err) == (2, f"r1-recipe {command}: error: recipe file 'recipes/reasoning_rl.yaml' does not exist "
                                "(the shipped recipe 'reasoning_rl' is named without a path)\n")


# ---------------------------------------------------------------------------------------------- distill template
def test_distill_template_meets_missing_models_and_takes_a_template_by_name(capsys, tmp_path, monkeypatch):
    import time

    from conftest import build_tiny_tokenizer
    from huggingface_hub import constants

    from r1_recipe.verl.distill import main as distill

    def run_distill(*argv):
        rc = distill([str(a) for a in argv])
        return rc, capsys.readouterr().err

    assert run_distill("template", tmp_path / "nope") == (
        2, f"error: '{tmp_path / 'nope'}' is neither an existing directory nor a hub id 'org/name'\n")
    (tmp_path / "empty").mkdir()
    assert run_distill("template", tmp_path / "empty") == (
        2, f"error: '{tmp_path / 'empty'}' has no tokenizer (tokenizer.json, tokenizer_config.json or "
           "tokenizer.model)\n")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    start = time.monotonic()
    assert run_distill("template", "r1-recipe-tests/no-such-model") == (
        2, "error: 'r1-recipe-tests/no-such-model' is not in the local Hugging Face cache and the hub is unreachable "
           "(HF_HUB_OFFLINE is set); download it first or pass a local directory\n")
    assert time.monotonic() - start < 30  # transformers alone retries for about a minute
    build_tiny_tokenizer(tmp_path / "base")  # no chat template of its own, like a base model
    assert run_distill("template", tmp_path / "base", "--chat-template", "nope") == (
        2, "error: --chat-template 'nope': neither a shipped template (r1_zero, r1_chat) nor an existing file\n")
    assert distill(["template", str(tmp_path / "base"), "--chat-template", "r1_chat"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (f"ok: the chat template of {tmp_path / 'base'} keeps the "
                                                        "reasoning in the loss-masked target")  # after verl's prints


# ---------------------------------------------------------------------------------------------------------- doctor
def test_doctor_shows_two_packages_claiming_one_reward_name_as_a_conflict_row(tmp_path):
    import subprocess
    import sys

    from r1_recipe.verl.doctor import render

    for pkg in ("pkga", "pkgb"):
        (tmp_path / f"{pkg}_mod.py").write_text("def score(solution_str, ground_truth, extra_info=None):\n"
                                                "    return 1\n")
        dist = tmp_path / f"{pkg}-1.0.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {pkg}\nVersion: 1.0\n")
        (dist / "entry_points.txt").write_text(f"[r1_recipe.rewards]\nmy_reward = {pkg}_mod:score\n")
    code = "import json\nfrom r1_recipe.verl.doctor import reward_rows\nprint(json.dumps(reward_rows()))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r["status"] for r in rows] == ["ok"] * 5 + ["CONFLICT"]
    first, second = sorted(("pkga", "pkgb"), key=lambda p: rows[-1]["why"].index(f"by {p} "))
    rc, text = render({"checks": rows})
    assert rc == 1
    assert text.splitlines()[-4:] == [
        "CONFLICT reward component     my_reward",
        f"{'':29} reward 'my_reward' is registered twice: by {first} ({first}_mod:score) and by {second} "
        f"({second}_mod:score); rename one of them",
        "",
        "1 check(s) failed"]


# -------------------------------------------------------------------------------------------- a list of accepted golds
def test_a_gold_that_lists_accepted_answers_accepts_any_of_them(tmp_path):
    import numpy as np

    from r1_recipe.core.rewards.math import math_reward

    pd.DataFrame({"ground_truth": [["7", "8"]]}).to_parquet(tmp_path / "g.parquet")
    from_parquet = pd.read_parquet(tmp_path / "g.parquet")["ground_truth"][0]
    assert isinstance(from_parquet, np.ndarray)  # what verl's dataset hands the reward
    for gold in (["7", "8"], ("7", "8"), np.array(["7", "8"]), from_parquet, {"ground_truth": ["7", "8"]}, [7, 8]):
        verdicts = [math_reward(f"<think>...</think> The answer is \\boxed{{{a}}}.", gold) for a in (7, 8, 9)]
        assert [(v.score, v.reason, v.pred) for v in verdicts] == [(1.0, "", "7"), (1.0, "", "8"),
                                                                   (0.0, "wrong", "9")], gold
    for gold in ([], ["", None], np.array([], dtype=object)):
        assert math_reward("\\boxed{7}", gold).reason == "unparsable_gold"


# ------------------------------------------------------------------------------------------------ eval: unscorable rows
def test_eval_reports_rows_it_cannot_score_as_rejection_sample_does(tmp_path, composer):
    from r1_recipe.tools.evaluate import evaluate

    good = {"prompt": "q1", "responses": ["\\boxed{1}", "\\boxed{2}", "\\boxed{1}"], "data_source": "toy",
            "ground_truth": "1"}
    lines = [good, {"prompt": "q2", "data_source": "toy", "ground_truth": "2"},  # no `responses`
             {"prompt": "q3", "responses": ["\\boxed{3}"], "data_source": "toy", "ground_truth": " "}]
    (tmp_path / "g.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    report, records = evaluate([tmp_path / "g.jsonl"], composer=composer, progress=False, equivalence=False)
    assert report["metrics"] == {"toy": pytest.approx({"problems": 1, "samples": 3, "pass@1": 2 / 3, "pass@2": 1.0,
                                                       "pass@3": 1.0, "cons@3": 1.0})}
    assert report["skipped"] == {"malformed": 1, "no_ground_truth": 1, "rows": [
        {"prompt_index": 1, "reason": "malformed_row: no 'responses'"},
        {"prompt_index": 2, "reason": "no_ground_truth"}]}
    assert [(r["prompt_index"], r["acc"], r["reasons"]) for r in records] == [
        (0, 1.0, ""), (0, 0.0, "accuracy_reason:wrong"), (0, 1.0, ""), (1, None, "malformed_row: no 'responses'"),
        (2, None, "no_ground_truth")]
    from r1_recipe.tools.rejection import run as rejection_sample

    report = rejection_sample([tmp_path / "g.jsonl"], tmp_path / "rs", progress=False, plot=False, composer=composer)
    assert report["dropped"]["malformed"] == 1
    assert report["drop_reasons"]["malformed_row: no 'responses'"] == 1


def test_eval_fails_naming_the_column_when_no_row_has_a_ground_truth(tmp_path, capsys):
    lines = [{"prompt": f"q{i}", "responses": ["\\boxed{1}"], "reward_model": {"ground_truth": gold}}
             for i, gold in enumerate(["", [], None])]
    (tmp_path / "g.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    rc, _, err = run(capsys, "eval", tmp_path / "g.jsonl", "--out", tmp_path / "o")
    assert (rc, err) == (2, f"r1-recipe eval: error: no row of {tmp_path / 'g.jsonl'} has a ground truth: "
                            "`reward_model.ground_truth` (or a top-level `ground_truth`) is missing or empty "
                            "everywhere, so every score would be 0\n")


# ------------------------------------------------------------------------------------ scripts without a main guard
GUARD_FIX = ("The reward workers use the 'spawn' start method, which imports the main module again in every worker, "
             "so that code would run again there and break the pool. Put the code that calls r1-recipe under "
             "`if __name__ == \"__main__\":` (as for multiprocessing and torch DataLoader workers).")


def test_a_script_scoring_at_module_level_is_told_to_add_a_main_guard(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "score.py"
    script.write_text("from r1_recipe.rewards import compute_score\n\n"
                      "print(compute_score('gsm8k', '<think>x</think> <answer>7</answer>', '7'))\n")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 1 and "pool broken" not in proc.stderr
    assert proc.stderr.splitlines()[-1] == (
        f"RuntimeError: r1-recipe: a reward worker pool is being started from the top level of {script} (line 3), "
        f"outside `if __name__ == \"__main__\":`. {GUARD_FIX}")


def test_the_main_guard_check_reads_the_calling_line_and_the_worker_bootstrap(tmp_path, monkeypatch):
    import multiprocessing
    import sys
    import types

    from r1_recipe.core.bounded import check_main_guard

    script = tmp_path / "job.py"
    script.write_text("from r1_recipe.core.bounded import check_main_guard\n\n\n"
                      "def main():\n    check_main_guard()\n\n\n"
                      "if __name__ == '__main__' and True:\n    main()\ncheck_main_guard()\n")
    main = types.ModuleType("__main__")
    main.__file__, main.__spec__ = str(script), None
    monkeypatch.setitem(sys.modules, "__main__", main)
    with pytest.raises(RuntimeError) as e:  # the guarded call passes; line 10 is outside the guard
        exec(compile(script.read_text(), str(script), "exec"), vars(main))
    assert str(e.value).startswith(f"r1-recipe: a reward worker pool is being started from the top level of {script} "
                                   "(line 10), outside")
    check_main_guard()  # from here (not the main script's top level): fine
    monkeypatch.setattr(multiprocessing.process.current_process(), "_inheriting", True, raising=False)
    with pytest.raises(RuntimeError) as e:
        check_main_guard()
    assert str(e.value) == ("r1-recipe: a reward worker pool was started while a worker process was importing the "
                            f"main module. {GUARD_FIX}")

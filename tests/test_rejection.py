"""`r1-recipe rejection-sample` end to end on generations built here (R1 §2.3.3): exact keep/drop sets, resume after
an interrupted run, the report, mixing, and the SFT set through verl's MultiTurnSFTDataset loss mask."""

import json

import pandas as pd
import pytest
from conftest import build_tiny_tokenizer

from r1_recipe.tools import rejection
from r1_recipe.tools.cli import main as cli_main
from r1_recipe.tools.filters import FilterConfig
from r1_recipe.tools.generations import read_generations
from r1_recipe.tools.rejection import RejectionConfig, mix_sft, run, sft_assistant


def good(a, b, words="We add them"):
    return f"<think>\n{words}: {a} and {b} make {a + b}.\n</think>\n\nThe answer is \\boxed{{{a + b}}}."


def paragraph(n, prefix="w"):
    """n distinct Latin words."""
    return " ".join(f"{prefix}{chr(97 + i % 26)}{chr(97 + i // 26)}" for i in range(n))


ROWS = [
    {   # prompt 0: one response of each bad kind
        "prompt": [{"role": "user", "content": "What is 3+4?"}],
        "responses": [
            good(3, 4),                                                          # 0 kept
            good(3, 4).replace("7", "8"),                                        # 1 incorrect
            "<think>\nWe add 3 and 4",                                           # 2 truncated (never closed)
            good(3, 4).replace("make", "make,").replace(".", "!", 1),            # 3 near duplicate of 0
            "<think>\n我们 add 3 and 4 得到 7.\n</think>\n\nThe answer is \\boxed{7}.",  # 4 mixed language
            "<think>\n```python\nprint(3 + 4)\n```\n</think>\n\nThe answer is \\boxed{7}.",  # 5 code block
            f"<think>\n{paragraph(50)} so 7.\n</think>\n\nThe answer is \\boxed{{7}}.",  # 6 long paragraph
            "<think>\n" + "3 plus 4 is 7. " * 20 + "\n</think>\n\nThe answer is \\boxed{7}.",  # 7 repetition
            "The answer is \\boxed{7}.",                                         # 8 structure (no think at all)
            good(3, 4, "\n\n".join(paragraph(35, p) for p in "wvu")),            # 9 too long
            good(3, 4, "Adding the two numbers"),                                # 10 truncated by finish reason
        ],
        "finish_reasons": ["stop"] * 10 + ["length"],
        "data_source": "gsm8k",
        "reward_model": {"ground_truth": "7"},
    },
    {   # prompt 1: three distinct correct responses, K = 2
        "prompt": [{"role": "user", "content": "Compute 2+2."}],
        "responses": [good(2, 2, "Two plus two"), good(2, 2, "Counting up from two by two"),
                      good(2, 2, "Doubling two gives")],
        "data_source": "gsm8k",
        "reward_model": {"ground_truth": "4"},
    },
    {   # prompt 2: no ground truth, a judge verdict per response
        "prompt": [{"role": "user", "content": "Write a haiku about autumn."}],
        "responses": ["<think>\nSeasons and leaves.\n</think>\n\nLeaves fall, quiet red",
                      "<think>\nHmm.\n</think>\n\nNo."],
        "judge": ["correct", "wrong"],
        "data_source": "general",
    },
    {   # prompt 3: no ground truth and no verdict
        "prompt": [{"role": "user", "content": "Tell me a joke."}],
        "responses": ["<think>\nA pun.\n</think>\n\nI would tell a chemistry joke but I know I would get no reaction."],
        "data_source": "general",
    },
    {   # prompt 4: a Chinese prompt; the reasoning must be Chinese
        "prompt": [{"role": "user", "content": "二加三等于几？"}],
        "responses": ["<think>\n二加三等于五。\n</think>\n\n答案是 \\boxed{5}。",
                      "<think>\nTwo plus three is five.\n</think>\n\n答案是 \\boxed{5}。"],
        "data_source": "cmath",
        "reward_model": {"ground_truth": "5"},
    },
    {   # prompt 5: the chat template opened <think> in the prompt
        "prompt": [{"role": "user", "content": "What is 1+5?"}],
        "responses": ["One and five make six.\n</think>\n\nThe answer is \\boxed{6}."],
        "data_source": "gsm8k",
        "reward_model": {"ground_truth": "6"},
    },
]

EXPECTED_STATUS = {
    (0, 0): "kept", (0, 1): "incorrect", (0, 2): "truncated", (0, 3): "near_duplicate", (0, 4): "mixed_language",
    (0, 5): "code_block", (0, 6): "long_paragraph", (0, 7): "repetition", (0, 8): "structure", (0, 9): "length",
    (0, 10): "truncated",
    (1, 0): "kept", (1, 1): "kept", (1, 2): "over_k",
    (2, 0): "kept", (2, 1): "incorrect",
    (3, 0): "incorrect",
    (4, 0): "kept", (4, 1): "mixed_language",
    (5, 0): "kept",
}

CFG = RejectionConfig(
    filters=FilterConfig(k=2, selection="first", max_paragraph_units=40, max_chars=400),
    judge_column="judge",
    shard_size=2,
)


@pytest.fixture(scope="module")
def generations(tmp_path_factory):
    path = tmp_path_factory.mktemp("gen") / "gen.parquet"
    pd.DataFrame(ROWS).to_parquet(path)
    return str(path)


@pytest.fixture(scope="module")
def result(generations, composer, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    report = run([generations], out, CFG, progress=False, composer=composer)
    return out, report


def statuses(out):
    records = pd.concat([pd.read_parquet(p) for p in sorted((out / "shards").glob("*.parquet"))])
    return {(r.prompt_index, r.response_index): r.status for r in records.itertuples()}


def test_every_kind_of_bad_sample_is_dropped_by_its_filter(result):
    out, _ = result
    assert statuses(out) == EXPECTED_STATUS


def test_sft_rows_hold_the_prompt_then_think_then_summary(result):
    out, _ = result
    sft = pd.read_parquet(out / "sft.parquet")
    kept = list(zip(sft.prompt_index, sft.response_index, strict=True))
    assert kept == [(0, 0), (1, 0), (1, 1), (2, 0), (4, 0), (5, 0)]
    first = [dict(m) for m in sft.messages[0]]
    assert first == [{"role": "user", "content": "What is 3+4?"},
                     {"role": "assistant",
                      "content": "<think>\nWe add them: 3 and 4 make 7.\n</think>\n\nThe answer is \\boxed{7}."}]
    opened_by_prompt = [dict(m) for m in sft.messages[5]][1]["content"]
    assert opened_by_prompt == "<think>\nOne and five make six.\n</think>\n\nThe answer is \\boxed{6}."
    assert list(sft.data_source) == ["gsm8k", "gsm8k", "gsm8k", "general", "cmath", "gsm8k"]


def test_report_counts_each_filter_and_the_kept_per_prompt_histogram(result):
    out, report = result
    assert report == json.loads((out / "report.json").read_text())
    assert (report["prompts_in"], report["responses_in"], report["kept"]) == (6, 20, 6)
    assert report["dropped"] == {"malformed": 0, "no_verdict": 0, "truncated": 2, "length": 1, "structure": 1,
                                 "repetition": 1, "mixed_language": 2, "long_paragraph": 1, "code_block": 1,
                                 "incorrect": 3, "near_duplicate": 1, "over_k": 1}
    assert report["drop_reasons"]["judge_rejected"] == 1 and report["drop_reasons"]["no_verifier"] == 1
    assert report["kept_per_prompt"] == {"0": 1, "1": 4, "2": 1}
    assert report["length_chars"]["kept"]["count"] == 6
    assert sum(report["length_chars"]["all_hist"]) == 20
    assert (out / "lengths.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_resume_after_an_interrupted_run_gives_the_same_output(generations, composer, result, tmp_path, monkeypatch):
    reference, _ = result
    calls = []
    real = rejection.process_shard

    def dies_on_second_shard(shard, *args, **kwargs):
        calls.append(shard.start)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        return real(shard, *args, **kwargs)

    monkeypatch.setattr(rejection, "process_shard", dies_on_second_shard)
    with pytest.raises(KeyboardInterrupt):
        run([generations], tmp_path, CFG, progress=False, composer=composer)
    assert sorted(p.name for p in (tmp_path / "shards").iterdir()) == ["shard-00000.parquet"]  # no partial file
    # sft.parquet is written as the shards finish, to a temporary file removed when the run fails
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", "shards"]

    calls.clear()
    monkeypatch.setattr(rejection, "process_shard", real)
    resumed = run([generations], tmp_path, CFG, progress=False, composer=composer)
    assert resumed == json.loads((reference / "report.json").read_text())
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "sft.parquet"), pd.read_parquet(reference / "sft.parquet"))
    # the shard read back from its file and those written from memory give the same bytes as an uninterrupted run
    assert (tmp_path / "sft.parquet").read_bytes() == (reference / "sft.parquet").read_bytes()


def test_resuming_with_other_settings_is_refused_unless_overwriting(generations, composer, result, tmp_path):
    run([generations], tmp_path, CFG, progress=False, plot=False, composer=composer)
    other = RejectionConfig(filters=FilterConfig(k=1, selection="first", max_paragraph_units=40, max_chars=400),
                            judge_column="judge", shard_size=2)
    with pytest.raises(RuntimeError, match="different inputs or settings; pass --overwrite"):
        run([generations], tmp_path, other, progress=False, plot=False, composer=composer)
    report = run([generations], tmp_path, other, overwrite=True, progress=False, plot=False, composer=composer)
    assert report["kept_per_prompt"] == {"0": 1, "1": 5}


def test_jsonl_inputs_with_string_prompts_and_a_top_level_ground_truth(tmp_path, composer):
    paths = []
    for i, (a, b) in enumerate([(3, 4), (1, 2)]):
        paths.append(tmp_path / f"gen{i}.jsonl")
        paths[-1].write_text(json.dumps({"prompt": f"What is {a}+{b}?", "responses": [good(a, b)],
                                         "ground_truth": str(a + b)}) + "\n")
    report = run([str(p) for p in paths], tmp_path / "out", CFG, progress=False, plot=False, composer=composer)
    assert report["kept"] == 2
    assert sorted(p.name for p in (tmp_path / "out" / "shards").iterdir()) == [
        "shard-00000.parquet", "shard-00001.parquet"]  # one per file: shards never span two files
    sft = pd.read_parquet(tmp_path / "out" / "sft.parquet")
    assert list(sft.prompt_index) == [0, 1]
    assert [dict(m) for m in sft.messages[1]][0] == {"role": "user", "content": "What is 1+2?"}


def test_a_malformed_row_is_dropped_with_its_reason_and_the_run_goes_on(tmp_path, composer, caplog):
    path = tmp_path / "gen.jsonl"
    rows = [{"prompt": [{"content": "no role"}], "responses": [good(1, 1), good(1, 1)], "ground_truth": "2"},
            {"prompt": "What is 3+4?", "responses": [good(3, 4)], "ground_truth": "7"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = run([str(path)], tmp_path / "out", CFG, progress=False, plot=False, composer=composer)
    assert (report["kept"], report["dropped"]["malformed"]) == (1, 2)
    assert report["drop_reasons"] == {"malformed_row: KeyError: 'role'": 2}
    assert "prompt row 0 dropped: malformed_row: KeyError: 'role'" in caplog.text


def test_missing_columns_are_named(tmp_path):
    path = tmp_path / "gen.parquet"
    pd.DataFrame({"prompt": ["q"], "response": ["a"]}).to_parquet(path)
    with pytest.raises(ValueError, match=r"gen.parquet: missing column 'responses' \(verl's main_generation_server"):
        read_generations([path])


def test_assistant_turn_normalises_think_and_end_of_sequence():
    assert sft_assistant("<think>  a  </think>  b <|im_end|>") == "<think>\na\n</think>\n\nb"


def test_mixing_keeps_the_ratio_and_every_row_of_the_limiting_set():
    r = pd.DataFrame({"messages": [[{"role": "user", "content": f"r{i}"}, {"role": "assistant", "content": "x"}]
                                   for i in range(12)]})
    nr = pd.DataFrame({"messages": [[{"role": "user", "content": f"n{i}"}, {"role": "assistant", "content": "y"}]
                                    for i in range(10)]})
    mixed = mix_sft(r, nr, ratio=3.0, seed=1)
    assert mixed.source.value_counts().to_dict() == {"reasoning": 12, "non_reasoning": 4}
    assert sorted(m[0]["content"] for m in mixed.messages if m[0]["content"].startswith("r")) == sorted(
        f"r{i}" for i in range(12))
    assert mixed.equals(mix_sft(r, nr, ratio=3.0, seed=1))
    limited = mix_sft(r, nr.iloc[:2], ratio=3.0)
    assert limited.source.value_counts().to_dict() == {"reasoning": 6, "non_reasoning": 2}
    with pytest.raises(ValueError, match="non_reasoning: row 0 column 'messages' has no assistant turn"):
        mix_sft(r, pd.DataFrame({"messages": [[{"role": "user", "content": "q"}]]}), ratio=3.0)
    with pytest.raises(ValueError, match="ratio must be positive"):
        mix_sft(r, nr, ratio=0)


def test_cli_writes_the_set_and_the_mix(generations, result, tmp_path, capsys):
    out, _ = result
    nr = tmp_path / "chat.parquet"
    pd.DataFrame({"messages": [[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]] * 5}
                 ).to_parquet(nr)
    code = cli_main(["rejection-sample", str(out / "sft.parquet"), "--out", str(tmp_path / "m"), "--mix-only",
                     "--mix", str(nr), "--mix-ratio", "3"])
    assert code == 0
    assert "mixed 6 reasoning + 2 non-reasoning rows" in capsys.readouterr().out
    assert len(pd.read_parquet(tmp_path / "m" / "mixed.parquet")) == 8
    assert cli_main(["rejection-sample", str(tmp_path / "nope.parquet"), "--out", str(tmp_path / "x")]) == 2
    assert "generations file not found" in capsys.readouterr().err


def test_sft_set_through_verl_multiturn_dataset_masks_exactly_the_assistant_tokens(result, tmp_path):
    from verl.utils.dataset.multiturn_sft_dataset import MultiTurnSFTDataset

    from r1_recipe.core.templates import load

    out, _ = result
    tok = build_tiny_tokenizer(tmp_path / "tok", chat_template=load("r1_chat"))
    ds = MultiTurnSFTDataset(str(out / "sft.parquet"), tok, {"max_length": 256, "truncation": "error"})
    sft = pd.read_parquet(out / "sft.parquet")
    assert len(ds) == len(sft) == 6
    for i in range(len(ds)):
        item = ds[i]
        ids, mask = item["input_ids"], item["loss_mask"].bool()
        attended = item["attention_mask"].bool()
        user, assistant = (dict(m)["content"] for m in sft.messages[i])
        # trained on: the assistant turn after the generation prompt (which already holds "<think>\n"), + EOS
        assert tok.decode(ids[mask].tolist()) == assistant.removeprefix("<think>\n") + "<|im_end|>\n"
        assert tok.decode(ids[attended & ~mask].tolist()) == (
            f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n<think>\n")


def test_reward_config_is_read_from_a_training_recipe(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("reward:\n  r1:\n    components:\n      accuracy: 1.0\n"
                      "      format: {weight: 1.0, answer_tag: false}\n    timeout_s: 5\n")
    assert rejection.load_reward_config(str(recipe)) == {
        "components": {"accuracy": 1.0, "format": {"weight": 1.0, "answer_tag": False}}, "timeout_s": 5}
    (tmp_path / "bad.yaml").write_text("trainer:\n  n_gpus_per_node: 8\n")
    with pytest.raises(ValueError, match=r"bad.yaml: no `reward.r1.components`"):
        rejection.load_reward_config(str(tmp_path / "bad.yaml"))

"""A sample scores the same in training and offline: the same rows through the `r1` reward manager (as verl's reward
loop drives it, token ids and all), through `r1-recipe eval` and through `r1-recipe rejection-sample` give identical
scores, reasons and verdicts, truncated rows included.

The recipe's template (`r1_chat`) opens `<think>` in the generation prompt. Offline, nothing is passed but the
recipe: the `<think>` rule comes from its `custom_chat_template`, truncation from the rows' `finish_reasons`, the
deadline and `score_truncated` from its `reward.r1` block. `score_truncated: true`, so that the cut responses are
scored too (with the default they are 0 with reason `truncated` on every side, which the flags compared below decide).
Before the rule was shared, responses 3 and 5 scored 1 offline (a response that never closes its reasoning was read as
a plain answer, its box counted) and 0 in training.

One run of each tool (three reward pools of one worker: ~8 s on a loaded 2-core machine): the agreement is the
acceptance test of issue 23 and holds only end to end.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

QUESTION = "What is 3 + 4?"
RESPONSE_LENGTH = 24
# (response text, ends with EOS?): every response of one prompt, the third and fifth never close </think>
RESPONSES = [
    ("3 plus 4 is 7. </think> The answer is \\boxed{7}.", True),                 # correct
    ("3 plus 4 is 8. </think> The answer is \\boxed{8}.", True),                 # wrong
    ("3 plus 4 is 7, so \\boxed{7}.", True),                                     # reasoning never closed
    ("3 plus 4 is 7. </think> The answer is \\boxed{7}. " + "Let me check: 3 plus 4 is 7. " * 3, False),  # cut
    ("3 plus 4 is 7, so \\boxed{7}. " * 6, False),                                # cut, never closed
    ("<think> 3 plus 4 is 7. </think> The answer is \\boxed{7}.", True),          # re-opens <think>
]


def recipe(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump({
        "actor_rollout_ref": {"model": {"custom_chat_template": "${r1_template:r1_chat}"},
                              "rollout": {"response_length": RESPONSE_LENGTH}},
        "reward": {"reward_manager": {"name": "r1"}, "r1": {
            "components": {"math": 1.0, "format": {"weight": 0.5, "answer_tag": False}},
            "timeout_s": 20, "score_truncated": True, "workers": 1}},
    }))
    return path


def token_rows(tok):
    """Per response: (token ids as the rollout made them, finish reason as the server reports it)."""
    rows = []
    for text, eos in RESPONSES:
        ids = tok.encode(text)
        if eos:
            ids = ids[: RESPONSE_LENGTH - 1] + [tok.eos_token_id]
        else:
            assert len(ids) >= RESPONSE_LENGTH  # really cut
            ids = ids[:RESPONSE_LENGTH]
        rows.append((ids, "stop" if eos else "length"))
    return rows


def trajectory(prompt_ids, response_ids):
    from verl import DataProto

    ids = torch.tensor([prompt_ids + response_ids])
    return DataProto.from_dict(
        tensors={"prompts": torch.tensor([prompt_ids]), "responses": torch.tensor([response_ids]), "input_ids": ids,
                 "attention_mask": torch.ones_like(ids), "position_ids": torch.arange(ids.shape[1]).unsqueeze(0)},
        non_tensors={"data_source": np.array(["toy"], dtype=object),
                     "reward_model": np.array([{"style": "rule", "ground_truth": "7"}], dtype=object),
                     "extra_info": np.array([{"index": 0}], dtype=object),
                     "raw_prompt": np.array([[{"role": "user", "content": QUESTION}]], dtype=object)},
    )


def online(path, tok, rows) -> list[dict]:
    """The r1 manager's reward_extra_info per response, built from the recipe as verl's reward loop builds it."""
    import verl  # noqa: F401  (the plugin registers `r1` and the r1_template resolver)
    from omegaconf import OmegaConf
    from verl.experimental.reward_loop.reward_manager import get_reward_manager_cls

    from r1_recipe.core.templates import load

    config = OmegaConf.load(path)
    manager = get_reward_manager_cls("r1")(config=config, tokenizer=tok, compute_score=None,
                                           reward_router_address=None, reward_model_tokenizer=None)
    try:
        prompt = tok.apply_chat_template([{"role": "user", "content": QUESTION}], chat_template=load("r1_chat"),
                                         add_generation_prompt=True, tokenize=False)
        prompt_ids = tok.encode(prompt)
        return [manager.loop.run_until_complete(manager.run_single(trajectory(prompt_ids, ids)))["reward_extra_info"]
                for ids, _ in rows]
    finally:
        manager.composer.pool.close()


def generations(tmp_path, tok, rows):
    """What eval_generate writes for these rollouts: the server's texts (no EOS) and finish reasons."""
    path = tmp_path / "gen.parquet"
    texts = [tok.decode(ids[:-1] if reason == "stop" else ids, skip_special_tokens=False) for ids, reason in rows]
    pd.DataFrame({"prompt": [[{"role": "user", "content": QUESTION}]], "data_source": ["toy"],
                  "reward_model": [{"style": "rule", "ground_truth": "7"}], "extra_info": [{"index": 0}],
                  "responses": [texts], "finish_reasons": [[r for _, r in rows]]}).to_parquet(path)
    return path


def reasons(info: dict) -> str:
    return ";".join(f"{k}:{v}" for k, v in info.items() if k.endswith("_reason") and v)


def test_the_same_rows_score_the_same_in_training_eval_and_rejection_sampling(tmp_path, tiny_tokenizer, caplog):
    from r1_recipe.tools import evaluate, rejection

    path = recipe(tmp_path)
    rows = token_rows(tiny_tokenizer)
    trained = online(path, tiny_tokenizer, rows)
    gen = generations(tmp_path, tiny_tokenizer, rows)
    # `r1-recipe eval --reward-config RECIPE` and `r1-recipe rejection-sample --reward-config RECIPE`, nothing else
    out = tmp_path / "eval"
    assert evaluate.main(evaluate.add_parser(_subparsers()).parse_args(
        [str(gen), "--out", str(out), "--reward-config", str(path), "--no-equivalence", "--bootstrap", "10"])) == 0
    evaluated = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert rejection.main(rejection.add_parser(_subparsers()).parse_args(
        [str(gen), "--out", str(tmp_path / "rs"), "--reward-config", str(path), "--no-plot"])) == 0
    sampled = pd.read_parquet(tmp_path / "rs" / "shards" / "shard-00000.parquet").to_dict("records")
    assert "unknown" not in caplog.text  # the rule came from the recipe, not a guess

    assert [t["acc"] for t in trained] == [1.0, 0.0, 0.0, 1.0, 0.0, 1.0]
    assert [t["math_reason"] for t in trained] == ["", "wrong", "unclosed_think", "", "unclosed_think", ""]
    assert [t["format"] for t in trained] == [1.0, 1.0, 0.0, 1.0, 0.0, 0.0]  # the sixth opens <think> twice
    assert [t["response_truncated"] for t in trained] == [0.0, 0.0, 0.0, 1.0, 1.0, 0.0]
    assert [e["score"] for e in evaluated] == [s["score"] for s in sampled] == [t["score"] for t in trained]
    assert [e["acc"] for e in evaluated] == [s["acc"] for s in sampled] == [t["acc"] for t in trained]
    assert [e["pred"] for e in evaluated] == [s["pred"] for s in sampled] == [t["pred"] for t in trained]
    assert [e["reasons"] for e in evaluated] == [s["reward_reasons"] for s in sampled] == list(map(reasons, trained))
    assert [e["truncated"] for e in evaluated] == [bool(t["response_truncated"]) for t in trained]
    settings = json.loads((out / "eval.json").read_text())["settings"]
    assert (settings["think_in_prompt"], settings["timeout_s"], settings["score_truncated"]) == ("yes", 20.0, True)


def _subparsers():
    import argparse

    return argparse.ArgumentParser().add_subparsers()


# ---- where offline scoring takes the <think> rule from ---------------------------------------------------------------
def test_the_rule_is_the_templates_not_a_guess_from_the_response():
    from r1_recipe.core.templates import load, opens_think, render, template_opens_think

    assert opens_think("<|im_start|>assistant\n<think>\n") and not opens_think("Assistant: <think> x </think>")
    assert template_opens_think(load("r1_chat")) and not template_opens_think(load("r1_zero"))
    assert render("r1_chat", [{"role": "user", "content": "q"}]).endswith("<|im_start|>assistant\n<think>\n")


def test_offline_responses_are_read_as_the_manager_reads_them():
    from r1_recipe.tools.generations import open_think

    assert open_think("r </think> a<|im_end|>", "yes") == "<think>r </think> a"
    assert open_think("no close \\boxed{7}", "yes") == "<think>no close \\boxed{7}"  # all reasoning, as in training
    assert open_think("<think> r </think> a", "yes") == "<think><think> r </think> a"  # the model re-opened it
    assert open_think("r </think> a", "no") == "r </think> a"
    assert open_think("r </think> a", "auto") == "<think>r </think> a"  # the guess, when nothing tells
    assert open_think("no close \\boxed{7}", "auto") == "no close \\boxed{7}"


def _gen(path, **settings):
    from r1_recipe.core.provenance import write_parquet

    write_parquet(pd.DataFrame({"prompt": [[{"role": "user", "content": "q"}]], "responses": [["a"]]}), path,
                  settings or None)
    return path


def test_the_rule_comes_from_the_option_then_the_generation_file_then_the_recipe(tmp_path, caplog):
    from r1_recipe.tools.generations import think_rule

    opened, closed, bare = (_gen(tmp_path / "a.parquet", think_in_prompt=True),
                            _gen(tmp_path / "b.parquet", think_in_prompt=False), _gen(tmp_path / "c.parquet"))
    assert think_rule("no", [opened], "reasoning_rl") == ("no", "--think-in-prompt")
    assert think_rule(None, [opened, bare], "zero") == ("yes", f"recorded in {opened}")
    assert think_rule(None, [bare], "reasoning_rl") == ("yes", "reasoning_rl: "
                                                        "actor_rollout_ref.model.custom_chat_template")
    assert think_rule(None, [bare], "zero")[0] == "no"  # r1_zero: the model writes <think> itself
    with pytest.raises(ValueError, match="disagree on whether their prompts opened <think>"):
        think_rule(None, [opened, closed])
    assert caplog.messages == []
    assert think_rule(None, [bare]) == ("auto", "guessed per response (unknown template)")
    assert len(caplog.messages) == 1 and "pass --think-in-prompt yes|no" in caplog.messages[0]


def test_a_generation_file_without_truncation_columns_is_named_in_a_warning(tmp_path, caplog):
    from r1_recipe.tools.generations import warn_if_truncation_unknown

    warn_if_truncation_unknown([_gen(tmp_path / "g.parquet")])
    assert caplog.messages == [f"{tmp_path / 'g.parquet'} has no `truncated` or `finish_reasons` column: responses "
                               "cut at the length limit are scored as complete (training scores them 0 with reason "
                               "`truncated`)"]

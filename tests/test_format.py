"""The R1 format reward: <think>...</think> then <answer>...</answer>, exactly once each, nothing around."""

import pytest

from r1_recipe.core.rewards.format import EOS_STRINGS, check_format, format_reward, strip_eos
from r1_recipe.rewards import get

GOOD = "<think> 2 + 2 is 4 </think> <answer> 4 </answer>"


@pytest.mark.parametrize(
    "text,reason",
    [
        (GOOD, ""),
        ("\n<think>\nreasoning\n</think>\n<answer>\n\\boxed{4}\n</answer>\n", ""),
        (GOOD + "<|im_end|>", ""),
        (GOOD + " <|endoftext|><|endoftext|>", ""),
        ("<think> a </think> <answer> 4 </answer> extra", "text_after_answer"),
        ("Sure! <think> a </think> <answer> 4 </answer>", "text_before_think"),
        ("<think> a </think> so <answer> 4 </answer>", "text_between_think_and_answer"),
        ("<think> a </think> <answer>   </answer>", "empty_answer"),
        ("<think>  </think> <answer> 4 </answer>", "empty_think"),
        ("<think> a </think> <answer> 4", "truncated"),
        ("<think> a still thinking", "no_think_close"),
        ("<answer> 4 </answer>", "no_think_close"),
        ("<think> a </think> <answer> 4 </answer> <answer> 5 </answer>",
         "tag_sequence:<think></think><answer></answer><answer></answer>"),
        ("<think> a <think> b </think> <answer> 4 </answer>", "tag_sequence:<think><think></think><answer></answer>"),
        ("<answer> 4 </answer> <think> a </think>", "tag_sequence:<answer></answer><think></think>"),
    ],
)
def test_r1_format_rules(text, reason):
    assert check_format(text) == reason
    out = format_reward(text, None)
    assert (out.score, out.reason) == (0.0 if reason else 1.0, reason)


def test_think_opened_by_the_prompt():
    # chat templates that end the prompt with "<think>\n": the response starts inside the reasoning block
    assert check_format("reasoning </think> <answer> 4 </answer>", think_in_prompt=True) == ""
    assert check_format("<think> r </think> <answer> 4 </answer>", think_in_prompt=True).startswith("tag_sequence")


def test_chat_form_without_answer_tags():
    assert check_format("<think> r </think> The answer is \\boxed{4}.", answer_tag=False) == ""
    assert check_format("<think> r </think>   ", answer_tag=False) == "empty_answer"


def test_registered_as_format():
    assert get("format") is format_reward


@pytest.mark.parametrize("text, stripped", [
    ("The answer. ", "The answer."), ("The answer.<|im_end|>", "The answer."),
    ("x <|endoftext|>\n</s> <|eot_id|>  ", "x"), ("</s>", ""), ("a</s>b", "a</s>b"), ("", ""),
])
def test_strip_eos_removes_every_trailing_end_of_sequence_string(text, stripped):
    assert strip_eos(text) == stripped
    assert strip_eos(text, tuple(EOS_STRINGS)) == stripped  # the general loop (another tuple) agrees

"""Format reward (DeepSeek-R1 §2.2.2): reasoning inside <think>...</think>, then the answer inside <answer>...</answer>.

Rules (each failure gives 0 with its reason):
- exactly one `<think>` (zero when `think_in_prompt`: the template already opened it) and exactly one `</think>`;
- with `answer_tag` (the R1-Zero form): exactly one `<answer>` and one `</answer>`, after `</think>`, with only
  whitespace between `</think>` and `<answer>`; without it (the chat/distilled form) some text must follow `</think>`;
- nothing before `<think>` but whitespace; nothing after `</answer>` but whitespace and end-of-sequence strings;
- neither the reasoning nor the answer may be empty (an empty `<answer></answer>` is a known reward hack).
"""

from __future__ import annotations

import re

from r1_recipe.core.rewards.types import MAX_RESPONSE_CHARS, RewardOutput

EOS_STRINGS = ("<|endoftext|>", "<|im_end|>", "</s>", "<|eot_id|>", "<｜end▁of▁sentence｜>", "<|end_of_text|>")
_TAGS = re.compile(r"</?think>|</?answer>")
MAX_CHARS = MAX_RESPONSE_CHARS


def strip_eos(text: str, eos_strings=EOS_STRINGS) -> str:
    """Remove trailing end-of-sequence strings and whitespace."""
    text = text.rstrip()
    if eos_strings is EOS_STRINGS and not text.endswith(EOS_STRINGS):  # the common case, in one C call
        return text
    changed = True
    while changed:
        changed = False
        for eos in eos_strings:
            if eos and text.endswith(eos):
                text = text[: -len(eos)].rstrip()
                changed = True
    return text


def check_format(text: str, think_in_prompt: bool = False, answer_tag: bool = True) -> str:
    """Return "" when `text` has the R1 format, else the reason it does not."""
    if len(text) > MAX_CHARS:
        return "too_long"
    text = strip_eos(text)
    tags = [(m.group(), m.start(), m.end()) for m in _TAGS.finditer(text)]
    names = [t[0] for t in tags]
    answer = ["<answer>", "</answer>"] if answer_tag else []
    expected = ([] if think_in_prompt else ["<think>"]) + ["</think>"] + answer
    if "</answer>" not in names and answer_tag and "<answer>" in names:
        return "truncated"
    if "</think>" not in names:
        return "no_think_close"
    if names != expected:
        return "tag_sequence:" + "".join(names)[:80]
    pos = {name: (start, end) for name, start, end in tags}
    think_start = 0 if think_in_prompt else pos["<think>"][1]
    if not think_in_prompt and text[: pos["<think>"][0]].strip():
        return "text_before_think"
    if not text[think_start : pos["</think>"][0]].strip():
        return "empty_think"
    after_think = text[pos["</think>"][1] :]
    if not answer_tag:
        return "" if after_think.strip() else "empty_answer"
    if text[pos["</think>"][1] : pos["<answer>"][0]].strip():
        return "text_between_think_and_answer"
    if not text[pos["<answer>"][1] : pos["</answer>"][0]].strip():
        return "empty_answer"
    if text[pos["</answer>"][1] :].strip():
        return "text_after_answer"
    return ""


def format_reward(
    solution_str: str,
    ground_truth=None,
    extra_info: dict | None = None,
    think_in_prompt: bool = False,
    answer_tag: bool = True,
) -> RewardOutput:
    """1.0 when the response has the R1 format, else 0.0 with the reason. The ground truth is not used."""
    reason = check_format(solution_str, think_in_prompt=think_in_prompt, answer_tag=answer_tag)
    return RewardOutput(0.0 if reason else 1.0, reason)

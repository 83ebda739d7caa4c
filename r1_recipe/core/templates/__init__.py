"""Prompt templates.

- `r1_zero`: DeepSeek-R1 Table 1, exact text, for base models with no chat template. Set it as verl's
  `actor_rollout_ref.model.custom_chat_template` (recipes write `${r1_template:r1_zero}`; the resolver is registered by
  the verl plugin). The dataset's `prompt` stays `[{"role": "user", "content": question}]`.
- `r1_chat`: a ChatML template whose generation prompt opens `<think>\\n`, the usage rule of the DeepSeek-R1 README
  ("force the model to start its response with <think>\\n"). For chat / distilled models of the Qwen family; other
  families keep their own template and set `think_in_prompt` detection (automatic in the `r1` reward manager).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

CHAT_TEMPLATES = ("r1_zero", "r1_chat")

# The user-prompt suffix the DeepSeek-R1 README prescribes for maths (no system prompt).
MATH_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."


@lru_cache
def load(name: str) -> str:
    """The Jinja source of a shipped template."""
    if name not in CHAT_TEMPLATES:
        raise ValueError(f"unknown template {name!r}; shipped templates: {', '.join(CHAT_TEMPLATES)}")
    return resources.files(__name__).joinpath(f"{name}.jinja").read_text(encoding="utf-8")


def render(name: str, messages: list[dict], add_generation_prompt: bool = True, eos_token: str = "") -> str:
    """Render `messages` with a shipped template, as a tokenizer's `apply_chat_template` would (for checks/tests)."""
    import jinja2

    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    return env.from_string(load(name)).render(
        messages=messages, add_generation_prompt=add_generation_prompt, eos_token=eos_token
    )


def last_user_message(messages) -> str:
    """The last user turn of chat `messages` (`[{"role": ..., "content": ...}]`), "" when there is none or the
    value is malformed. The reward manager passes it as `extra_info["prompt"]` (the language reward's target);
    rejection sampling and evaluation do the same, so the three agree."""
    try:
        for message in reversed(list(messages)):
            if message.get("role") == "user":
                return str(message.get("content", ""))
    except (TypeError, AttributeError):
        pass
    return ""

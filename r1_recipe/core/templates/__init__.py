"""Prompt templates.

- `r1_zero`: DeepSeek-R1 Table 1, exact text, for base models with no chat template. Set it as verl's
  `actor_rollout_ref.model.custom_chat_template` (recipes write `${r1_template:r1_zero}`; the resolver is registered by
  the verl plugin). The dataset's `prompt` stays `[{"role": "user", "content": question}]`.
- `r1_chat`: a ChatML template whose generation prompt opens `<think>\\n`, the usage rule of the DeepSeek-R1 README
  ("force the model to start its response with <think>\\n"). For chat / distilled models of the Qwen family; other
  families keep their own template.

The `<think>` rule (`opens_think`), the same in training and offline scoring: a prompt whose rendered text (chat
template applied, generation prompt added) ends with `<think>` has opened the reasoning block, so the response is
scored as `<think>` + response (`core.rewards.tokens.scored_text`). The `r1` reward manager applies it to each
prompt's last tokens; `r1-recipe eval` / `rejection-sample` to the template the generations were made with
(recorded by `eval_generate`, or the `--reward-config` recipe's `custom_chat_template`, `template_opens_think`) or to
`--think-in-prompt yes|no`.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

CHAT_TEMPLATES = ("r1_zero", "r1_chat")

THINK_OPEN = "<think>"
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
    return render_source(load(name), messages, add_generation_prompt, eos_token)


def render_source(source: str, messages: list[dict], add_generation_prompt: bool = True, eos_token: str = "") -> str:
    """Render `messages` with a Jinja chat template's source, with the globals Hugging Face templates use."""
    import jinja2

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.globals["raise_exception"] = raise_exception
    return env.from_string(source).render(messages=messages, add_generation_prompt=add_generation_prompt,
                                          eos_token=eos_token, bos_token="")


def opens_think(rendered_prompt: str) -> bool:
    """The one `<think>` rule: whether a rendered prompt (its end is enough) opened the reasoning block, i.e. its last
    non-blank text is `<think>`. Then the response continues inside the block and is scored as `<think>` + response."""
    return rendered_prompt.rstrip().endswith(THINK_OPEN)


def template_opens_think(source: str) -> bool:
    """`opens_think` of a chat template's Jinja source rendered for one user message with its generation prompt;
    ValueError when the template cannot be rendered."""
    try:
        return opens_think(render_source(source, [{"role": "user", "content": "What is 1 + 1?"}]))
    except Exception as e:  # jinja2's errors, a template that raises on this message
        raise ValueError(f"cannot render the chat template: {type(e).__name__}: {e}") from None


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

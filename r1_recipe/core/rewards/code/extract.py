"""Find the program in a model response: the last fenced block of the requested language, inside `<answer>` if any."""

from __future__ import annotations

import re

_ANSWER = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.S)
# A fence opens with ``` + optional info string; the body is lazy so consecutive blocks stay separate.
_FENCE = re.compile(r"```[ \t]*([\w+#-]*)[^\n]*\n(.*?)```", re.S)


def extract_code(response: str, aliases: tuple[str, ...]) -> tuple[str | None, str]:
    """Return `(code, reason)`: the last fenced block tagged with one of `aliases` (or untagged), else `(None, why)`.

    When the response has an `<answer>` section, only that section is searched (R1 template: the reasoning in
    `<think>` may contain drafts). A block tagged with another language is not taken.
    """
    if not isinstance(response, str) or not response.strip():
        return None, "empty_response"
    answers = _ANSWER.findall(response)
    text = answers[-1] if answers else response
    blocks = [(tag.lower(), body) for tag, body in _FENCE.findall(text)]
    tagged = [body for tag, body in blocks if tag in aliases]
    untagged = [body for tag, body in blocks if tag == ""]
    code = (tagged or untagged or [None])[-1]
    if code is None:
        return None, "no_code_block"
    if not code.strip():
        return None, "empty_code_block"
    return code, ""

"""Responses handed to the reward workers as token ids and decoded there, not in the reward process.

Decoding is the largest per-sample cost of a reward process (~0.7 µs a token with a fast tokenizer: 1 ms for a
1,500-token response, ~45 ms for a 65,536-token one), and a reward process is one Python interpreter feeding all its
pool workers: decoded there, it caps the samples per second however many workers there are. So the `r1` manager sends
`TokenIds` (int32 bytes; pickling them is a copy) and each pool worker decodes with its own copy of the tokenizer,
installed once when the worker starts (`setup`, run by `BoundedPool`'s worker initializer).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from r1_recipe.core.rewards.format import EOS_STRINGS, strip_eos
from r1_recipe.core.templates import THINK_OPEN

_decoders: dict[str, tuple] = {}  # in a pool worker: key -> (tokenizer, end-of-sequence strings)


def setup(key: str, tokenizer, eos_strings: tuple[str, ...]) -> None:
    """Runs in each pool worker when it starts: the tokenizer that decodes `TokenIds` with this `key`."""
    _decoders[key] = (tokenizer, tuple(eos_strings))


def scored_text(text: str, think_opened: bool, eos_strings=EOS_STRINGS) -> str:
    """The text the rewards read, the same in training and offline: the response with trailing end-of-sequence strings
    removed and, when the prompt opened the reasoning block (`core.templates.opens_think`), `<think>` put first."""
    return (THINK_OPEN if think_opened else "") + strip_eos(text, eos_strings)


@dataclass(frozen=True)
class TokenIds:
    """A response as token ids (`ids`: int32 bytes), decoded in the worker with special tokens kept, then made the
    scored text (`scored_text`: trailing end-of-sequence strings removed, `<think>` first when `think_opened`)."""

    key: str
    ids: bytes
    think_opened: bool = False

    @classmethod
    def of(cls, key: str, ids, think_opened: bool = False) -> TokenIds:
        """From a 1-D tensor, array or list of token ids."""
        if hasattr(ids, "cpu"):
            ids = ids.cpu().numpy()
        return cls(key, np.asarray(ids, dtype=np.int32).tobytes(), think_opened)

    def text(self) -> str:
        tokenizer, eos_strings = _decoders[self.key]
        ids = np.frombuffer(self.ids, dtype=np.int32).tolist()
        return scored_text(tokenizer.decode(ids, skip_special_tokens=False), self.think_opened, eos_strings)


def as_text(response) -> str:
    """The response as text, decoding `TokenIds` (in a pool worker)."""
    return response.text() if isinstance(response, TokenIds) else response

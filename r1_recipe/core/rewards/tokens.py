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

from r1_recipe.core.rewards.format import strip_eos

_decoders: dict[str, tuple] = {}  # in a pool worker: key -> (tokenizer, end-of-sequence strings)


def setup(key: str, tokenizer, eos_strings: tuple[str, ...]) -> None:
    """Runs in each pool worker when it starts: the tokenizer that decodes `TokenIds` with this `key`."""
    _decoders[key] = (tokenizer, tuple(eos_strings))


@dataclass(frozen=True)
class TokenIds:
    """A response as token ids (`ids`: int32 bytes), decoded in the worker with special tokens kept, then trailing
    end-of-sequence strings removed; `prefix` is put before the text (`<think>` when the prompt opened it)."""

    key: str
    ids: bytes
    prefix: str = ""

    @classmethod
    def of(cls, key: str, ids, prefix: str = "") -> TokenIds:
        """From a 1-D tensor, array or list of token ids."""
        if hasattr(ids, "cpu"):
            ids = ids.cpu().numpy()
        return cls(key, np.asarray(ids, dtype=np.int32).tobytes(), prefix)

    def text(self) -> str:
        tokenizer, eos_strings = _decoders[self.key]
        ids = np.frombuffer(self.ids, dtype=np.int32).tolist()
        return self.prefix + strip_eos(tokenizer.decode(ids, skip_special_tokens=False), eos_strings)


def as_text(response) -> str:
    """The response as text, decoding `TokenIds` (in a pool worker)."""
    return response.text() if isinstance(response, TokenIds) else response

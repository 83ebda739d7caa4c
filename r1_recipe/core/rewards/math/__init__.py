"""Math accuracy reward (DeepSeek-R1 §2.2.2, "accuracy rewards"): the final answer, checked against the gold.

Three stages, each usable on its own:

- `extract_answer(text)`: the final answer of a response: the `<answer>...</answer>` block when present, else the last
  `\\boxed{}` / `\\fbox{}` after the reasoning, else configurable fallbacks (`Answer:`, `the answer is X`, GSM8K
  `####`, a bare answer; the last number is opt-in). Module `extract`.
- `canonical_answer(s)`: a cheap normalised key (no sympy): `0.5`, `\\frac{1}{2}`, `1/2` -> `1/2`; sets sorted,
  intervals and tuples kept in order. Used by the fast path and by `vote_key`.
  Module `canonical`.
- `vote_key(pred)`: the key majority votes use (verl's `pred` for maj@N, `r1-recipe eval`'s cons@N): the canonical
  key, or for a single symbolic expression its value at fixed points (`\\frac{\\sqrt2}{2}`, `\\frac{1}{\\sqrt2}` ->
  `≈0.7071067812`).
- `is_equivalent(pred, gold)`: keys, then exact rational arithmetic, then structure (sets, tuples, intervals,
  inequalities, percent), and only then sympy through math-verify (signal timeouts off: the caller bounds the time).
  Module `equivalence`; `math_reward` and `verify_batch` are in `reward`.

Reward-hacking rules (each gives score 0 with a reason):
- several different final answers (two `<answer>` blocks, several different boxes after the reasoning) ->
  `multiple_answers`, unless the gold has exactly as many parts (`\\boxed{3}, \\boxed{5}` for `3, 5`); a box that
  merely contains the gold as a substring is compared as a whole, never searched;
- `<answer>` or `\\boxed{` not closed (a truncated response) -> `unclosed_answer` / `unclosed_boxed`;
- an answer that appears only inside `<think>...</think>` -> `answer_in_think` under the default policy
  `think_policy="ignore"`; `think_policy="allow"` accepts it (useful for models that never close the reasoning);
- an answer longer than `MAX_ANSWER_CHARS` or a response longer than `MAX_CHARS` (= `rewards.types.MAX_RESPONSE_CHARS`,
  1 Mi characters: R1 lengths get verdicts) -> `too_long`.

Time bounds: `math_reward` runs inside a worker of `r1_recipe.core.bounded.BoundedPool` (the `r1` reward manager calls
every component with a hard timeout), and `verify_batch` maps pairs over the same kind of pool; `is_equivalent`
itself has no bound. Costly inputs (power towers, huge exponents and factorials) are refused before sympy sees them.
"""

from r1_recipe.core.rewards.math.canonical import MAX_ANSWER_CHARS, MAX_CHARS, canonical_answer, normalize, to_number
from r1_recipe.core.rewards.math.equivalence import is_equivalent, vote_key
from r1_recipe.core.rewards.math.extract import (
    DEFAULT_FALLBACKS,
    FALLBACKS,
    MULTIPLE_POLICIES,
    THINK_POLICIES,
    boxed_contents,
    extract_answer,
)
from r1_recipe.core.rewards.math.reward import math_reward, verify_batch

__all__ = [
    "DEFAULT_FALLBACKS", "FALLBACKS", "MAX_ANSWER_CHARS", "MAX_CHARS", "MULTIPLE_POLICIES", "THINK_POLICIES",
    "boxed_contents", "canonical_answer", "extract_answer", "is_equivalent", "math_reward", "normalize", "to_number",
    "verify_batch", "vote_key",
]  # fmt: skip

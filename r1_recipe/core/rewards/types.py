"""The value every reward component returns."""

from __future__ import annotations

from dataclasses import dataclass, field

# The longest response a rule reward reads, in characters. R1-Zero's second stage samples up to 65,536 tokens, which
# is about 200-300k characters of reasoning (3-5 per token); 1 Mi characters (16 per token) leaves room for dense
# text and never cuts a real response. The rewards read the answer region from the end and scan the rest in linear
# time (regexes, no parsing), so a response this long gets its verdict in well under a second; past it, the
# response is refused (`too_long`, a verdict: such a text is a degenerate one) before any work.
MAX_RESPONSE_CHARS = 1 << 20


@dataclass(frozen=True)
class RewardOutput:
    """One component's verdict on one response.

    score: the reward (the R1 rule rewards are 0/1; pass rates and language shares lie in [0, 1]).
    reason: "" when the verdict is normal; otherwise a short machine-readable reason ("no_answer", "timeout",
        "truncated", "multiple_answers", ...) that is logged in the reward's extra info.
    pred: what was extracted from the response (the answer string, the program), for logging and majority votes.
    info: small extra numbers or strings (e.g. passed/total for code).
    infra: True when there is no verdict, for a reason that is not the response's: the scorer ran out of time, its
        worker died, its pool broke, the step budget ended, the reward model timed out or failed. Set where the
        failure happens (`no_verdict`); every consumer reads this flag (the sample's `infra_failure` key), never the
        reason text. Such a response is not a wrong answer: in training it gets its group's mean reward (advantage
        0); rejection sampling does not keep it; evaluation counts it.
    """

    score: float
    reason: str = ""
    pred: str | None = None
    info: dict = field(default_factory=dict)
    infra: bool = False


def no_verdict(reason: str) -> RewardOutput:
    """A score of 0 that is no verdict on the response (`infra` set): `reason` says why, for logs."""
    return RewardOutput(0.0, reason, infra=True)


def as_output(value) -> RewardOutput:
    """Accept what third-party components may return: a RewardOutput, a number/bool, or a verl-style dict (whose
    `infra: true` marks no verdict)."""
    if isinstance(value, RewardOutput):
        return value
    if isinstance(value, dict):
        rest = {k: v for k, v in value.items() if k not in ("score", "reason", "pred", "infra")}
        return RewardOutput(float(value["score"]), str(value.get("reason", "")), value.get("pred"), rest,
                            bool(value.get("infra", False)))
    if isinstance(value, tuple):  # verl prime_math style (score, ...)
        return RewardOutput(float(value[0]))
    return RewardOutput(float(value))

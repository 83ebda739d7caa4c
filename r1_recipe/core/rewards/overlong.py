"""DAPO's overlong reward shaping ("soft overlong punishment", Yu et al., arXiv 2503.14476 §3.4, eq. 13), read from
the keys verl 0.9.1's `dapo` reward manager reads, with its arithmetic:

    reward.reward_kwargs.max_resp_len                      L_max (tokens; the recipes: ${data.max_response_length})
    reward.reward_kwargs.overlong_buffer_cfg.enable        on/off
    reward.reward_kwargs.overlong_buffer_cfg.len           L_cache: the last L_cache tokens before L_max
    reward.reward_kwargs.overlong_buffer_cfg.penalty_factor  the penalty at L_max (DAPO: 1)
    reward.reward_kwargs.overlong_buffer_cfg.log           add `overlong_reward` and `overlong` to the reward extras

    penalty(|o|) = min(-(|o| - (L_max - L_cache)) / L_cache * penalty_factor, 0)

0 up to L_max - L_cache tokens, then linear down to -penalty_factor at L_max, added to the reward. The `r1` reward
manager applies it (verl's `dapo` manager would replace r1's components, time bounds and signals), so a recipe sets
the same keys for either manager.
"""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "reward.reward_kwargs"


@dataclass(frozen=True)
class OverlongShaping:
    max_resp_len: int
    buffer_len: int
    penalty_factor: float = 1.0
    log: bool = False

    def penalty(self, length: int) -> float:
        """The shaping term for a response of `length` tokens (<= 0)."""
        exceed = length - (self.max_resp_len - self.buffer_len)
        return min(-exceed / self.buffer_len * self.penalty_factor, 0.0)

    @classmethod
    def from_config(cls, reward_kwargs, max_response_length: int | None = None) -> OverlongShaping | None:
        """From the `reward.reward_kwargs` node (None, or a buffer not enabled: no shaping). ValueError naming the key
        for what verl's `dapo` manager would assert on deep in a reward worker, and for a L_max above the rollout's
        `max_response_length` (the penalty would never reach its full size)."""
        kwargs = dict(reward_kwargs or {})
        buffer = dict(kwargs.get("overlong_buffer_cfg", None) or {})
        if not buffer.get("enable", False):
            return None
        key = f"{PREFIX}.overlong_buffer_cfg"
        unknown = sorted(set(buffer) - {"enable", "len", "penalty_factor", "log"})
        if unknown:
            raise ValueError(f"unknown key(s) {', '.join(f'{key}.{k}' for k in unknown)}; allowed: enable, len, "
                             "log, penalty_factor")
        max_len, buffer_len = kwargs.get("max_resp_len", None), buffer.get("len", None)
        for name, value in ((f"{PREFIX}.max_resp_len", max_len), (f"{key}.len", buffer_len)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive number of tokens when {key}.enable=true, got {value!r}")
        if buffer_len > max_len:
            raise ValueError(f"{key}.len={buffer_len} > {PREFIX}.max_resp_len={max_len}: the buffer must fit inside "
                             "the length limit")
        if max_response_length is not None and max_len > int(max_response_length):
            raise ValueError(f"{PREFIX}.max_resp_len={max_len} > data.max_response_length={max_response_length}: "
                             "responses stop before the penalty reaches its full size")
        factor = buffer.get("penalty_factor", 1.0)
        if isinstance(factor, bool) or not isinstance(factor, int | float) or factor < 0:
            raise ValueError(f"{key}.penalty_factor must be a number >= 0, got {factor!r}")
        return cls(int(max_len), int(buffer_len), float(factor), bool(buffer.get("log", False)))

"""R1's rule rewards as framework-free components (format, math, code, language, accuracy), their registry and
their weighted composition (`compose.Composer`). The public names are re-exported by `r1_recipe.rewards`."""

from __future__ import annotations

from r1_recipe.core.rewards.registry import (
    ENTRY_POINT_GROUP,
    RewardRegistryError,
    available,
    conflicts,
    get,
    provider,
    register,
)
from r1_recipe.core.rewards.types import RewardOutput, no_verdict

__all__ = ["ENTRY_POINT_GROUP", "RewardOutput", "RewardRegistryError", "available", "conflicts", "get", "no_verdict",
           "provider", "register"]

"""GRPO advantages (DeepSeekMath §4.1; DeepSeek-R1 §2.2.1, eq. 3). Pure torch + numpy: no verl import here.

Outcome supervision (`outcome_advantage`, registered in verl as `r1_grpo`):
    A_i = (r_i - mean(r_group)) / (std(r_group) + eps), the same A_i for every response token of o_i.

Process supervision (`process_advantage`, registered as `r1_grpo_process`, DeepSeekMath §4.1.3):
    step rewards r_i^{(j)} are normalised over all steps of all outputs of the group,
    r~ = (r - mean(R_group)) / (std(R_group) + eps), and the advantage of token t of output i is the sum of the
    normalised rewards of the steps of o_i that end at or after t.

Conventions (identical to verl's `grpo`, so that `r1_grpo` is a drop-in replacement):
- a group is the set of rows sharing a uid (`index`); groups may be smaller than `rollout.n` (failed sessions);
- a group of one gets mean 0 and std 1 (its advantage is its raw reward, as in verl); a group of identical rewards
  gets advantage 0; padding rows (uid `pad...`, all-zero mask) get 0 everywhere through the mask;
- std is unbiased (N-1) by default; `unbiased_std: false` gives the population std.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from r1_recipe.core.config import Block, Key

# The `algorithm.r1` block, defined once (core.config): the estimators read epsilon and unbiased_std,
# r1_recipe.verl.ref_reset reads ref_reset_steps; README.md's table lists it (tested), the dry-run prints it.
ALGORITHM_R1 = Block("algorithm.r1", (
    Key("epsilon", 1e-6, "added to the std", low=0),
    Key("unbiased_std", True, "N−1 (as verl's `grpo`) or population std", kind="bool"),
    Key("ref_reset_steps", None, "the KL reference becomes the current policy every N policy updates (paper steps), "
        "as in R1", kind="int", above=0, null=True, must="a positive number of steps (or null)"),
))


@dataclass(frozen=True)
class GRPOOptions:
    norm_by_std: bool = True  # False = Dr.GRPO (Liu et al. 2025): A_i = r_i - mean
    epsilon: float = ALGORITHM_R1["epsilon"].default
    unbiased_std: bool = ALGORITHM_R1["unbiased_std"].default

    @classmethod
    def from_config(cls, config: Mapping | None) -> GRPOOptions:
        """Read verl's `algorithm` config: `norm_adv_by_std_in_grpo` plus our `algorithm.r1` (`ALGORITHM_R1`: every
        key is checked, an unknown one fails naming it)."""
        if config is None:
            return cls()
        r1 = ALGORITHM_R1.parse(config.get("r1", None))
        return cls(bool(config.get("norm_adv_by_std_in_grpo", True)), r1["epsilon"], r1["unbiased_std"])


def group_index(index, device=None) -> tuple[torch.Tensor, int]:
    """Map uid labels (np object array of str, or ints) to contiguous group ids 0..G-1 (hash-based, no sort)."""
    if index is None:
        raise ValueError("GRPO needs the uid of each response (`index`); verl passes it when `uid` is in the batch")
    if isinstance(index, torch.Tensor):
        index = index.cpu().numpy()
    codes, uniques = pd.factorize(np.asarray(index).reshape(-1))
    return torch.from_numpy(codes.astype(np.int64)).to(device), len(uniques)


def group_stats(values: torch.Tensor, gidx: torch.Tensor, num_groups: int, unbiased: bool = True):
    """Per-group mean and std of `values (N,)` grouped by `gidx (N,)`; groups of one get mean 0, std 1."""
    values = values.to(torch.float32)
    count = torch.zeros(num_groups, dtype=torch.float32, device=values.device).index_add_(
        0, gidx, torch.ones_like(values)
    )
    total = torch.zeros_like(count).index_add_(0, gidx, values)
    mean = total / count.clamp_min(1)
    centred = values - mean[gidx]
    sq = torch.zeros_like(count).index_add_(0, gidx, centred * centred)  # two-pass: no cancellation error
    denom = (count - 1).clamp_min(1) if unbiased else count.clamp_min(1)
    std = (sq / denom).sqrt()
    single = count <= 1
    mean = torch.where(single, torch.zeros_like(mean), mean)
    std = torch.where(single, torch.ones_like(std), std)
    return mean, std


@torch.no_grad()
def outcome_advantage(
    token_level_rewards: torch.Tensor,
    response_mask: torch.Tensor,
    index,
    options: GRPOOptions = GRPOOptions(),
) -> tuple[torch.Tensor, torch.Tensor]:
    """Outcome-supervision GRPO.

    Args:
        token_level_rewards: `(bs, T)`; the sequence reward is the row sum (verl puts it on the last valid token).
        response_mask: `(bs, T)` 0/1.
        index: `(bs,)` uid per row; rows of one prompt share it.
    Returns:
        `(advantages, returns)`, both `(bs, T)` and equal, zero outside the mask.
    """
    scores = token_level_rewards.sum(dim=-1).to(torch.float32)
    gidx, num_groups = group_index(index, scores.device)
    mean, std = group_stats(scores, gidx, num_groups, options.unbiased_std)
    adv = scores - mean[gidx]
    if options.norm_by_std:
        adv = adv / (std[gidx] + options.epsilon)
    adv = adv.unsqueeze(-1) * response_mask
    return adv, adv


@torch.no_grad()
def default_step_mask(token_level_rewards: torch.Tensor, response_mask: torch.Tensor) -> torch.Tensor:
    """Step ends when none are given: every token that carries a non-zero reward, plus the last valid token
    (the final step, which carries the outcome reward, counts even when that reward is 0)."""
    mask = response_mask.bool()
    last = mask.long().cumsum(-1).argmax(-1)  # index of the last valid token (0 for an all-masked row)
    ends = (token_level_rewards != 0) & mask
    rows = torch.arange(mask.size(0), device=mask.device)
    ends[rows, last] |= mask[rows, last]
    return ends


@torch.no_grad()
def process_advantage(
    token_level_rewards: torch.Tensor,
    response_mask: torch.Tensor,
    index,
    step_mask: torch.Tensor | None = None,
    options: GRPOOptions = GRPOOptions(),
) -> tuple[torch.Tensor, torch.Tensor]:
    """Process-supervision GRPO (DeepSeekMath §4.1.3).

    Args:
        token_level_rewards: `(bs, T)`; the reward of step j sits on the token where step j ends.
        response_mask: `(bs, T)` 0/1.
        index: `(bs,)` uid per row.
        step_mask: `(bs, T)` bool, True on the last token of each step. Default: `default_step_mask` (non-zero
            rewards plus the last valid token), which cannot see an intermediate step whose reward is exactly 0.
    Returns:
        `(advantages, returns)`, `(bs, T)`: A_{i,t} = sum of normalised step rewards r~_i^{(j)} with end(j) >= t.
    """
    mask = response_mask.bool()
    ends = default_step_mask(token_level_rewards, response_mask) if step_mask is None else (step_mask.bool() & mask)
    gidx, num_groups = group_index(index, token_level_rewards.device)
    row_of_step = gidx.unsqueeze(-1).expand_as(ends)[ends]
    rewards = token_level_rewards.to(torch.float32)[ends]
    mean, std = group_stats(rewards, row_of_step, num_groups, options.unbiased_std)
    normed = rewards - mean[row_of_step]
    if options.norm_by_std:
        normed = normed / (std[row_of_step] + options.epsilon)
    per_token = torch.zeros_like(token_level_rewards, dtype=torch.float32)
    per_token[ends] = normed
    adv = per_token.flip(-1).cumsum(-1).flip(-1) * response_mask  # suffix sum: steps ending at or after t
    return adv, adv

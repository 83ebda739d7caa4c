"""The miniature run's training values, read from the same recipe files the GPU runs use.

`rl_values("zero")` composes `r1_recipe/recipes/zero.yaml` with verl's config (exactly as `r1-recipe run zero` would)
and maps the algorithm onto TRL's `GRPOConfig`; `sft_values("cold_start_sft")` does the same for the cold-start loop.
Only sizes (steps, batch, group size, learning rate, lengths) are the miniature run's own; see docs/miniature.md.

What maps (verl key -> TRL / miniature):
    algorithm.adv_estimator r1_grpo, norm_adv_by_std_in_grpo  -> scale_rewards "group" (A = (r - mean) / std)
    actor.loss_agg_mode seq-mean-token-mean                   -> loss_type "grpo" (token-mean per sequence, seq-mean)
    actor.use_kl_loss, kl_loss_coef, kl_loss_type low_var_kl  -> beta (TRL's KL term is k3 = low_var_kl)
    actor.clip_ratio_low / clip_ratio_high                    -> epsilon / epsilon_high
    actor.ppo_epochs                                          -> num_iterations
    actor.optim.weight_decay                                  -> weight_decay
    rollout.temperature, rollout.top_p                        -> temperature, top_p (training rollouts)
    rollout.val_kwargs.temperature, top_p                     -> evaluation sampling
    reward.r1                                                 -> the Composer config (accuracy + format weights)
"""

from __future__ import annotations

from dataclasses import dataclass

# verl `loss_agg_mode` -> TRL `loss_type` with the same aggregation over tokens and sequences.
LOSS_TYPES = {"seq-mean-token-mean": "grpo", "token-mean": "dapo", "seq-mean-token-sum-norm": "dr_grpo"}
SCHEDULERS = {"constant": "constant", "cosine": "cosine"}


class MiniRecipeError(ValueError):
    """A recipe value the miniature run cannot use (on the TRL host: cannot reproduce); the message names the key."""


@dataclass(frozen=True)
class RLValues:
    loss_type: str
    scale_rewards: str
    beta: float
    epsilon: float
    epsilon_high: float
    num_iterations: int
    weight_decay: float
    lr_scheduler_type: str
    temperature: float
    top_p: float
    eval_temperature: float
    eval_top_p: float
    group_size: int            # the recipe's G (rollout.n); the miniature run overrides it as a size
    reward: dict


@dataclass(frozen=True)
class EvalValues:
    """What the evaluation and its Composer read from an RL recipe, on either host."""
    eval_temperature: float
    eval_top_p: float
    reward: dict


@dataclass(frozen=True)
class SFTValues:
    lr_scheduler_type: str
    min_lr_ratio: float
    warmup_ratio: float
    weight_decay: float
    clip_grad: float


def _compose(name: str):
    from r1_recipe.tools.recipes import RecipeError, compose

    try:
        return compose(name)[0]
    except RecipeError as e:
        raise MiniRecipeError(str(e)) from None


def _pick(table: dict, value, key: str) -> str:
    if value not in table:
        raise MiniRecipeError(f"{key}={value!r} has no equivalent in the miniature (TRL) run; supported: "
                              f"{', '.join(table)}")
    return table[value]


def rl_values(recipe: str = "zero") -> RLValues:
    """GRPO values of an RL recipe, mapped onto TRL's GRPOConfig (the TRL host). Raises MiniRecipeError naming the key
    it cannot map."""
    c = _compose(recipe)
    alg, actor, rollout = c.algorithm, c.actor_rollout_ref.actor, c.actor_rollout_ref.rollout
    if alg.adv_estimator not in ("r1_grpo", "grpo"):
        raise MiniRecipeError(f"algorithm.adv_estimator={alg.adv_estimator!r}: the miniature run implements GRPO only")
    if alg.use_kl_in_reward:
        raise MiniRecipeError("algorithm.use_kl_in_reward=true: TRL puts the KL in the loss only")
    if actor.use_kl_loss and actor.kl_loss_type not in ("low_var_kl", "k3"):
        raise MiniRecipeError(f"actor_rollout_ref.actor.kl_loss_type={actor.kl_loss_type!r}: TRL's KL is k3 "
                              "(low_var_kl)")
    ev = _eval_values(c)
    return RLValues(
        loss_type=_pick(LOSS_TYPES, actor.loss_agg_mode, "actor_rollout_ref.actor.loss_agg_mode"),
        scale_rewards="group" if alg.norm_adv_by_std_in_grpo else "none",
        beta=float(actor.kl_loss_coef) if actor.use_kl_loss else 0.0,
        epsilon=float(actor.clip_ratio_low if actor.clip_ratio_low is not None else actor.clip_ratio),
        epsilon_high=float(actor.clip_ratio_high if actor.clip_ratio_high is not None else actor.clip_ratio),
        num_iterations=int(actor.ppo_epochs),
        weight_decay=float(actor.optim.weight_decay),
        lr_scheduler_type=_pick(SCHEDULERS, actor.optim.lr_scheduler_type,
                                "actor_rollout_ref.actor.optim.lr_scheduler_type"),
        temperature=float(rollout.temperature), top_p=float(rollout.top_p),
        eval_temperature=ev.eval_temperature, eval_top_p=ev.eval_top_p, group_size=int(rollout.n), reward=ev.reward)


def eval_values(recipe: str = "zero") -> EvalValues:
    """The evaluation's sampling (`rollout.val_kwargs`) and reward (`reward.r1`) of an RL recipe: all the verl host
    reads itself, since verl runs the recipe's algorithm as written (no mapping, so no TRL limits)."""
    return _eval_values(_compose(recipe))


def _eval_values(c) -> EvalValues:
    from omegaconf import OmegaConf

    if "r1" not in c.reward:
        raise MiniRecipeError("reward.r1 is missing: the miniature run scores with r1-recipe's Composer")
    val = c.actor_rollout_ref.rollout.val_kwargs
    return EvalValues(eval_temperature=float(val.temperature), eval_top_p=float(val.top_p),
                      reward=OmegaConf.to_container(c.reward.r1, resolve=True))


def sft_values(recipe: str = "cold_start_sft") -> SFTValues:
    """Optimiser schedule of an SFT recipe (the learning rate and step count are sizes, set by the miniature run)."""
    c = _compose(recipe)
    if "optim" not in c:
        raise MiniRecipeError(f"recipe {recipe!r} has no optim section: not an SFT recipe")
    o = c.optim
    return SFTValues(lr_scheduler_type=_pick(SCHEDULERS, o.lr_scheduler_type, "optim.lr_scheduler_type"),
                     min_lr_ratio=float(o.min_lr_ratio), warmup_ratio=float(o.lr_warmup_steps_ratio),
                     weight_decay=float(o.weight_decay), clip_grad=float(o.clip_grad))

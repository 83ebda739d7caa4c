"""verl plugin: imported by `import verl` in every process through the `verl.plugins` entry point.

Registers, at import time (verl only imports this module, never calls it):
- advantage estimators `r1_grpo` and `r1_grpo_process` (`algorithm.adv_estimator`);
- reward manager `r1` (`reward.reward_manager.name`);
- a wrapper around verl's `PPOTrainer._compute_metrics` that logs the `r1/` training-dynamics metrics;
- the infra-failure policy, a wrapper around `PPOTrainer._compute_advantage` (r1_recipe.verl.infra_policy);
- the periodic reference reset `algorithm.r1.ref_reset_steps` (a worker method and two trainer wrappers);
- the bound on DAPO's dynamic sampling, `algorithm.filter_groups.max_num_gen_batches` (r1_recipe.verl.dynamic_sampling);
- OmegaConf resolver `r1_template` (`custom_chat_template: ${r1_template:r1_zero}`);
- Hydra's search path for the recipes (pkg://verl.trainer.config, pkg://r1_recipe.recipes: r1_recipe.verl.searchpath);
- rollout `hf` (`actor_rollout_ref.rollout.name=hf`, r1_recipe.verl.hf_rollout), on every host, when verl's
  rollout modules are imported;
- on hosts with no accelerator only: verl platform `cpu` (r1_recipe.verl.cpu.platform).

Before registering, the modules of every verl name we rely on are looked for on disk (`touchpoints.check_at_import`,
nothing imported): a missing one is a WARNING naming what stops working.

verl swallows plugin exceptions at DEBUG level, so a failure here is logged as a WARNING with its traceback, and
`r1-recipe doctor` re-checks everything in a fresh process. Keep this module light: it runs in every Ray worker.
"""

from __future__ import annotations

import logging

logger = logging.getLogger("r1_recipe")


def r1_grpo(token_level_rewards, response_mask, index=None, config=None, **kwargs):
    """`algorithm.adv_estimator: r1_grpo`: outcome-supervision GRPO (see r1_recipe.core.advantage.outcome_advantage).

    Options: `algorithm.norm_adv_by_std_in_grpo` (False = Dr.GRPO), `algorithm.r1.epsilon`, `algorithm.r1.unbiased_std`.
    """
    from r1_recipe.core.advantage import GRPOOptions, outcome_advantage

    return outcome_advantage(token_level_rewards, response_mask, index, GRPOOptions.from_config(config))


def r1_grpo_process(token_level_rewards, response_mask, index=None, config=None, step_mask=None, **kwargs):
    """`algorithm.adv_estimator: r1_grpo_process`: process-supervision GRPO
    (r1_recipe.core.advantage.process_advantage).

    Step rewards sit in `token_level_rewards` on the token that ends each step; `step_mask` marks step ends when a
    caller has it (verl 0.9.1's trainer passes only the rewards: steps are then the non-zero reward tokens plus the
    last valid token).
    """
    from r1_recipe.core.advantage import GRPOOptions, process_advantage

    return process_advantage(token_level_rewards, response_mask, index, step_mask, GRPOOptions.from_config(config))


def _template(name: str) -> str:
    from r1_recipe.core.templates import load

    return load(name)


def _register() -> None:
    from omegaconf import OmegaConf
    from verl.experimental.reward_loop.reward_manager import register as register_reward_manager
    from verl.trainer.ppo.core_algos import register_adv_est

    from r1_recipe.verl.dynamic_sampling import install as install_dynamic_sampling
    from r1_recipe.verl.dynamics import install as install_dynamics_hook
    from r1_recipe.verl.infra_policy import install as install_infra_policy
    from r1_recipe.verl.ref_reset import install as install_ref_reset
    from r1_recipe.verl.reward_manager import R1RewardManager
    from r1_recipe.verl.searchpath import install as install_searchpath

    register_adv_est("r1_grpo")(r1_grpo)
    register_adv_est("r1_grpo_process")(r1_grpo_process)
    register_reward_manager("r1")(R1RewardManager)
    install_dynamics_hook()  # r1/ training-dynamics metrics in verl's step logs (verl/dynamics.py)
    install_infra_policy()  # no reward verdict -> the group's mean reward, advantage 0 (verl/infra_policy.py)
    install_ref_reset()  # algorithm.r1.ref_reset_steps (ref_reset.py)
    install_dynamic_sampling()  # algorithm.filter_groups.max_num_gen_batches (dynamic_sampling.py)
    install_searchpath()  # recipes that inherit from recipes (`defaults: [zero, _self_]`), searchpath.py
    if not OmegaConf.has_resolver("r1_template"):
        OmegaConf.register_new_resolver("r1_template", _template)


try:
    from r1_recipe.verl.touchpoints import check_at_import

    check_at_import()
except Exception:
    logger.warning("r1-recipe: checking verl's touchpoints failed", exc_info=True)

try:
    _register()
except Exception:  # verl would hide this at DEBUG level
    logger.warning("r1-recipe: registering the verl plugin failed; run `r1-recipe doctor`", exc_info=True)

# verl 0.9.1 + TRL >= 1.13: verl's FSDP model build imports a TRL class that TRL removed (r1_recipe/verl/compat.py).
try:
    from r1_recipe.verl.compat import install as _install_verl_compat

    _install_verl_compat()
except Exception:
    logger.warning("r1-recipe: the verl/TRL compatibility fix failed", exc_info=True)

# Rollout `hf` (Hugging Face generate on the CPU or the trainer's GPU; vLLM stays the default), on every host.
try:
    from r1_recipe.verl.hf_rollout import install as _install_hf_rollout

    _install_hf_rollout()
except Exception:
    logger.warning("r1-recipe: registering rollout hf failed; see docs/cpu.md", exc_info=True)

# CPU-only hosts (CI, laptops): verl platform `cpu`, so that verl's own trainers run there (docs/cpu.md).
# No-op where an accelerator is found: GPU/NPU nodes keep verl's built-in platforms.
try:
    from r1_recipe.verl.cpu.platform import install as _install_cpu_platform

    _install_cpu_platform()
except Exception:
    logger.warning("r1-recipe: registering the CPU platform failed; see docs/cpu.md", exc_info=True)

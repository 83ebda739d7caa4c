"""Every verl name r1-recipe relies on, in one table (verl 0.9.1).

verl has no stable extension API beyond its registries, and it renames things between minor releases (a registry
dict moved between 0.8 and 0.9). A name that disappears must not fail silently: a post-import hook whose module moved
never fires, and `algorithm.r1.ref_reset_steps: 400` would still be accepted while R1's reference reset silently
stops. So each name is listed here with what uses it and which config keys need it, and is checked

- at plugin import (`check_at_import`, cheap: module files are looked for on disk, nothing of verl's trainer is
  imported): a missing module is a loud WARNING naming the touchpoint;
- when a hooked module is imported (`require_attrs`, before patching): a missing attribute is a WARNING and the
  patch is skipped, never a half-applied patch;
- at start-up of a run whose config needs it (`require_for_config`, from `r1-recipe run` and the `r1` reward
  manager's constructor): a ValueError naming the config key and the missing name;
- by `r1-recipe doctor` and tests/test_layers.py (`missing()`: resolves every name against the installed verl; the
  test also checks that every `verl` import in the source is listed here).

Public names are verl's documented extension points (registries, getters, config dataclasses); private ones
(underscored, or a class used in a way verl does not intend) are marked `private=True` and say why no public way
exists.

What counts as a name we rely on: every verl (and TransferQueue, Hydra plugin) module, class, function, method and
attribute the source reads, writes, calls, wraps or overrides, including attributes of objects verl hands us
(`RECEIVED`: the trainer a wrapper receives as `self`, the step's batch, the replay buffer...) and instance
attributes verl's classes set in their own code (`PPOTrainer.global_steps`: checked by `missing()` in the class's
source, its deeper parts only by the end-to-end tests). tests/test_layers.py walks the source (tests/_source_walk.py
states its rule and limits) and fails on a use that is not declared here. Names r1-recipe adds to verl objects start
with `r1_`, `_r1_` or `__r1_`. The methods we wrap are named once, below (`COMPUTE_METRICS`, ...): the hooks read
them from here (`wrap_method`), no other module spells them.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger("r1_recipe")


@dataclass(frozen=True)
class Touchpoint:
    module: str               # e.g. "verl.trainer.ppo.v1.trainer_base"
    attrs: tuple[str, ...]    # dotted attribute paths inside it, e.g. ("PPOTrainer._compute_metrics",); () = module
    used_by: str              # which r1-recipe feature breaks without it
    config_keys: tuple[str, ...] = ()  # config keys that cannot work without it (fail at start-up)
    private: bool = False     # not a verl extension point: why is in `used_by`
    extra: str | None = None  # pip extra without which the module cannot be imported (resolved only where installed)

    def names(self) -> list[str]:
        return [f"{self.module}:{a}" for a in self.attrs] or [self.module]


# Modules patched after their import (r1_recipe.verl.hooks): named once, here.
TRAINER_MODULE = "verl.trainer.ppo.v1.trainer_base"
WORKER_MODULE = "verl.workers.engine_workers"
HYDRA_PLUGINS_MODULE = "hydra.core.plugins"  # the recipes' search path (r1_recipe.verl.searchpath)
# The trainer methods we wrap (post-import hooks): named once, here; `wrap_method` installs a wrapper by this name.
COMPUTE_METRICS = "PPOTrainer._compute_metrics"          # r1/ metrics (dynamics.py)
COMPUTE_ADVANTAGE = "PPOTrainer._compute_advantage"      # infra-failure policy (infra_policy.py)
UPDATE_ACTOR = "PPOTrainer._update_actor"                # reference reset (ref_reset.py)
LOAD_CHECKPOINT = "PPOTrainer._load_checkpoint"          # reference reset on resume (ref_reset.py)
BUILD_REPLAY_BUFFER = "PPOTrainer._build_replay_buffer"  # the bound on dynamic sampling (dynamic_sampling.py)
# Owners ("module:Class") of the objects verl hands to our hooks.
PPO_TRAINER = f"{TRAINER_MODULE}:PPOTrainer"
ACTOR_WORKER = f"{WORKER_MODULE}:ActorRolloutRefWorker"
KV_BATCH_META = "transfer_queue.metadata:KVBatchMeta"
REPLAY_BUFFER = "verl.trainer.ppo.v1.replay_buffer:ReplayBuffer"
PLATFORM = "verl.plugin.platform:PlatformBase"
# verl's entry points that `r1-recipe run` launches, by recipe kind.
ENTRY_POINTS = {"main_ppo": "verl.trainer.main_ppo", "main_generation_server": "verl.trainer.main_generation_server",
                "sft_trainer": "verl.trainer.sft_trainer"}
CONFIG_PACKAGE = "verl.trainer.config"  # hydra.searchpath of every recipe: pkg://verl.trainer.config
# a run scored by r1-recipe's rewards, which flag infra failures the policy must neutralise
INFRA_POLICY_KEYS = ("reward.reward_manager.name", "reward.custom_reward_function.path")

_PLATFORM_METHODS = (
    "device_name", "vendor_name", "device_module", "is_available", "is_platform_available", "current_device",
    "device_count", "set_device", "synchronize", "manual_seed", "manual_seed_all", "set_allocator_settings",
    "empty_cache", "get_device_capability", "communication_backend_name", "visible_devices_envvar",
    "ray_resource_name", "ray_resource_options", "ray_noset_envvars", "is_ipc_supported", "nvtx_range",
    "profiler_start", "profiler_stop", "cudart")

TOUCHPOINTS: tuple[Touchpoint, ...] = (
    # ---- registries the plugin writes into at `import verl` (public)
    Touchpoint("verl.trainer.ppo.core_algos", ("register_adv_est", "get_adv_estimator_fn"),
               "advantage estimators r1_grpo / r1_grpo_process", ("algorithm.adv_estimator",)),
    Touchpoint("verl.experimental.reward_loop.reward_manager", ("register", "get_reward_manager_cls"),
               "reward manager r1", ("reward.reward_manager.name",)),
    Touchpoint("verl.experimental.reward_loop.reward_manager.base",
               ("RewardManagerBase", "RewardManagerBase.run_single", "RewardManagerBase.tokenizer"),
               "reward manager r1: the method verl calls per trajectory, the tokenizer its constructor stores"),
    Touchpoint("verl", ("DataProto", "DataProto.batch", "DataProto.non_tensor_batch", "DataProto.__getitem__"),
               "reward manager r1 (one trajectory per run_single call: its tensors, its row fields, `data[-1:]`)"),
    Touchpoint("verl.plugin.platform", ("PlatformBase", "PlatformRegistry.register", "PlatformRegistry.get",
                                        *(f"PlatformBase.{m}" for m in _PLATFORM_METHODS)),
               "verl platform cpu (CPU-only hosts): PlatformBase's interface, implemented", ("trainer.device",)),
    Touchpoint("verl.workers.rollout.replica", ("RolloutReplica", "RolloutReplicaRegistry.register",
                                                "RolloutReplicaRegistry.get", "TokenOutput"),
               "rollout hf (HF generate, CPU or GPU)", ("actor_rollout_ref.rollout.name",)),
    Touchpoint("verl.workers.rollout.replica",
               tuple(f"RolloutReplica.{a}" for a in (
                   "launch_servers", "rollout_worker_use_gpu", "config", "model_config", "workers", "replica_rank",
                   "is_reward_model", "is_teacher_model", "name_suffix", "max_concurrency", "servers",
                   "_server_handle", "_server_address")),
               "rollout hf: the replica's interface (overridden) and the state verl's RolloutReplica keeps (read, and "
               "written by launch_servers as verl's own replicas do)", ("actor_rollout_ref.rollout.name",),
               private=True),
    Touchpoint("verl.workers.rollout.base", ("BaseRollout", "_ROLLOUT_REGISTRY", "BaseRollout.resume",
                                             "BaseRollout.release", "BaseRollout.update_weights", "BaseRollout.config"),
               "rollout hf: verl 0.9.1 has no public way to register a worker-side rollout class",
               ("actor_rollout_ref.rollout.name",), private=True),
    Touchpoint("verl.workers.config",
               ("HFModelConfig", "RolloutConfig", "HFModelConfig.local_path", "HFModelConfig.tokenizer",
                *(f"RolloutConfig.{f}" for f in ("dtype", "seed", "max_model_len", "max_num_seqs", "prompt_length",
                                                 "response_length", "tensor_model_parallel_size",
                                                 "pipeline_model_parallel_size"))),
               "rollout hf: the server reads the rollout and model configs verl hands it"),
    Touchpoint("verl.utils.device", ("get_device_name",), "rollout hf: whether the rollout uses an accelerator",
               ("actor_rollout_ref.rollout.name",)),
    Touchpoint("verl.plugin.platform", ("get_platform",),
               "rollout hf: the trainer worker's device, Ray resource and visible-devices variable (placement)",
               ("actor_rollout_ref.rollout.name",)),
    Touchpoint("verl.trainer.ppo.v1.replay_buffer", ("ReplayBuffer",),
               "CPU speed overrides: the 50 ms replay-buffer poll (r1_recipe.verl.cpu.sampler), a subclass verl loads "
               "through its custom-sampler hook", ("trainer.v1.sampler.custom_sampler.name",)),
    # ---- trainer patches (post-import hooks; private methods: verl has no per-step callback API)
    Touchpoint(TRAINER_MODULE, (COMPUTE_METRICS, "PPOTrainer.config"),
               "r1/ training-dynamics metrics: the one method every v1 trainer mode calls once per step",
               private=True),
    Touchpoint(TRAINER_MODULE, (UPDATE_ACTOR, LOAD_CHECKPOINT, "PPOTrainer.global_steps", "PPOTrainer.ref_policy_wg",
                                "PPOTrainer.actor_rollout_wg", "PPOTrainer.use_reference_policy",
                                "PPOTrainer.ref_in_actor"),
               "periodic reference reset: after the actor update; on resume (the trainer's step, worker groups and "
               "reference settings)", ("algorithm.r1.ref_reset_steps",), private=True),
    Touchpoint(WORKER_MODULE, ("ActorRolloutRefWorker", "ActorRolloutRefWorker.actor.engine.module",
                               "ActorRolloutRefWorker.ref.engine.module"),
               "periodic reference reset (worker-group method: the actor's and the reference's modules)",
               ("algorithm.r1.ref_reset_steps",), private=True),
    Touchpoint("verl.single_controller.base.decorator", ("register", "Dispatch.ONE_TO_ALL"),
               "periodic reference reset (worker-group method)", ("algorithm.r1.ref_reset_steps",)),
    Touchpoint(TRAINER_MODULE, (BUILD_REPLAY_BUFFER,),
               "the bound on DAPO dynamic sampling that verl's v1 replay buffer ignores (verl/dynamic_sampling.py)",
               ("algorithm.filter_groups.max_num_gen_batches",), private=True),
    Touchpoint("verl.trainer.ppo.v1.replay_buffer", ("ReplayBuffer", "ReplayBuffer.sample", "ReplayBuffer.refill_fn",
                                                     "ReplayBuffer.filter_groups_metric"),
               "the bound on DAPO dynamic sampling: the sync buffer's sampling and the refill it calls",
               ("algorithm.filter_groups.max_num_gen_batches",), private=True),
    # the infra-failure policy fails closed: a run scored by our rewards needs these (r1_recipe.verl.infra_policy)
    Touchpoint(TRAINER_MODULE, (COMPUTE_ADVANTAGE,),
               "infra-failure policy: infra-failed responses get their group's mean reward before the advantage",
               INFRA_POLICY_KEYS, private=True),
    Touchpoint("transfer_queue", ("kv_batch_get",), "r1/ training-dynamics metrics and the infra-failure policy "
               "(read the step's batch)", INFRA_POLICY_KEYS),
    Touchpoint("transfer_queue", ("kv_batch_put",), "infra-failure policy (writes the rewritten rm_scores back)",
               INFRA_POLICY_KEYS),
    Touchpoint("transfer_queue.metadata", ("KVBatchMeta", "KVBatchMeta.keys", "KVBatchMeta.partition_id",
                                           "KVBatchMeta.tags"),
               "r1/ metrics and the infra-failure policy: the step's batch as the trainer hands it (keys, partition, "
               "padding tags)", INFRA_POLICY_KEYS),
    Touchpoint("verl.utils.tensordict_utils", ("get_tensordict",), "infra-failure policy (the fields it writes)",
               INFRA_POLICY_KEYS),
    Touchpoint("verl.experimental.reward_loop.reward_loop",
               ("RewardLoopWorker.compute_score_disrm", "RewardLoopWorker.config",
                "RewardLoopWorker.reward_router_address", "RewardLoopWorker.input_tokenizer",
                "RewardLoopWorker.reward_model_tokenizer"),
               "RL for all scenarios: verl's reward-model request code, used without its constructor (which would "
               "build a second reward manager): `object.__new__(RewardLoopWorker)` with the four attributes "
               "compute_score_disrm reads set by hand", ("reward.r1.reward_model",), private=True),
    # ---- the TRL compatibility fix (r1_recipe.verl.compat)
    Touchpoint("verl.utils.import_utils", ("is_trl_available",), "verl/TRL >= 1.13 compatibility fix", private=True),
    # ---- recipe validation in `r1-recipe run` (public helpers main_ppo itself calls)
    Touchpoint("verl.utils.config", ("validate_config", "omega_conf_to_dataclass"), "r1-recipe run validation"),
    Touchpoint("verl.trainer.main_generation_server", ("start_server",),
               "r1_recipe.verl.generate: verl's vLLM server replicas behind our chunked, resumable client",
               extra="gpu"),  # the module imports openai, which only the gpu extra (vllm) brings
    Touchpoint("verl.trainer.ppo.utils", ("need_reference_policy", "need_critic"), "r1-recipe run validation"),
    Touchpoint("verl.utils.dataset.multiturn_sft_dataset", ("MultiTurnSFTDataset",),
               "distillation check: the student template's loss mask"),
    Touchpoint(CONFIG_PACKAGE, (), "every recipe (hydra.searchpath)"),
    *(Touchpoint(module, (), f"r1-recipe run ({kind} recipes)") for kind, module in ENTRY_POINTS.items()),
    # ---- Hydra's plugin registry: the recipes' search path (r1_recipe.verl.searchpath; Hydra's documented hook)
    Touchpoint(HYDRA_PLUGINS_MODULE, ("Plugins.instance", "Plugins.register", "Plugins.discover"),
               "recipes that inherit from recipes (hydra.searchpath only in the primary config)"),
    Touchpoint("hydra.plugins.search_path_plugin", ("SearchPathPlugin", "SearchPathPlugin.manipulate_search_path"),
               "the recipes' search path"),
    Touchpoint("hydra", ("compose", "initialize_config_dir", "main"), "recipe composition (r1-recipe run, checks) and "
               "the generation entry point"),
    Touchpoint("hydra.errors", ("HydraException",), "recipe composition errors named in r1-recipe run"),
)

# Objects verl hands to our hooks, by the function that receives them ("module:qualified name" -> {name: owner}):
# the source walk of tests/test_layers.py checks that their attributes we use are declared above.
RECEIVED: dict[str, dict[str, str]] = {
    "r1_recipe.verl.dynamics:collect": {"trainer": PPO_TRAINER, "batch": KV_BATCH_META},
    "r1_recipe.verl.dynamics:wrap_compute_metrics._compute_metrics": {"self": PPO_TRAINER, "batch": KV_BATCH_META},
    "r1_recipe.verl.dynamics:patch_trainer_module": {"module": f"{TRAINER_MODULE}:"},
    "r1_recipe.verl.infra_policy:apply": {"batch": KV_BATCH_META},
    "r1_recipe.verl.infra_policy:wrap_compute_advantage._compute_advantage": {"self": PPO_TRAINER,
                                                                             "batch": KV_BATCH_META},
    "r1_recipe.verl.infra_policy:patch_trainer_module": {"module": f"{TRAINER_MODULE}:"},
    "r1_recipe.verl.ref_reset:reset_reference": {"self": ACTOR_WORKER},
    "r1_recipe.verl.ref_reset:patch_worker_module": {"module": f"{WORKER_MODULE}:"},
    "r1_recipe.verl.ref_reset:_reset": {"trainer": PPO_TRAINER},
    "r1_recipe.verl.ref_reset:patch_trainer_module": {"module": f"{TRAINER_MODULE}:"},
    "r1_recipe.verl.ref_reset:wrap_load_checkpoint._load_checkpoint": {"self": PPO_TRAINER},
    "r1_recipe.verl.ref_reset:wrap_update_actor._update_actor": {"self": PPO_TRAINER},
    "r1_recipe.verl.dynamic_sampling:bound_sample": {"buffer": REPLAY_BUFFER},
    "r1_recipe.verl.dynamic_sampling:patch_trainer_module": {"module": f"{TRAINER_MODULE}:"},
    "r1_recipe.verl.dynamic_sampling:wrap_build_replay_buffer._build_replay_buffer": {"self": PPO_TRAINER},
    "r1_recipe.verl.hf_rollout:_register_replica": {"replica": "verl.workers.rollout.replica:"},
    "r1_recipe.verl.hf_rollout:_register_adapter": {"base": "verl.workers.rollout.base:"},
    "r1_recipe.verl.hf_rollout:_replica_class.HFReplica._placement": {"platform": PLATFORM},
    "r1_recipe.verl.searchpath:_register": {"module": f"{HYDRA_PLUGINS_MODULE}:"},
}


def wrap_method(module, hooked: str, wrapper) -> None:
    """Replace the method `hooked` ("Class.method", one of the constants above) of `module` by `wrapper(original)`."""
    owner, _, method = hooked.rpartition(".")
    cls = getattr(module, owner)
    setattr(cls, method, wrapper(getattr(cls, method)))


# Modules that verl itself or the compat fix imports by name (listed so the source scan finds them declared).
COMPAT_MODULES = ("verl.utils.model", "verl.models.transformers.monkey_patch")


class MissingTouchpoint(LookupError):
    """A verl name r1-recipe relies on is absent from the installed verl."""


def resolve(module: str, attr: str = "", instance: bool = False):
    """Import `module` and follow the dotted `attr`; MissingTouchpoint naming both when anything is absent. With
    `instance`, an attribute a class sets on its instances (`instance_attribute`) ends the walk (returns None): what it
    holds at run time is not checked here."""
    try:
        obj = importlib.import_module(module)
    except ImportError as e:
        raise MissingTouchpoint(f"{module}: cannot import ({e})") from None
    for part in attr.split(".") if attr else ():
        if not hasattr(obj, part):
            if instance and isinstance(obj, type) and instance_attribute(obj, part):
                return None
            raise MissingTouchpoint(f"{module}:{attr}: no attribute {part!r}")
        obj = getattr(obj, part)
    return obj


def instance_attribute(cls: type, attr: str) -> bool:
    """Whether `cls` (or a base of it from the same package) gives its instances `attr`: a dataclass field, an
    annotation, or `self.<attr>` in its source."""
    import inspect
    import re

    top = cls.__module__.split(".")[0]
    for klass in cls.__mro__:
        if not klass.__module__.startswith(top):
            continue
        if attr in getattr(klass, "__dataclass_fields__", {}) or attr in getattr(klass, "__annotations__", {}):
            return True
        try:
            if re.search(rf"self\.{re.escape(attr)}\b", inspect.getsource(klass)):
                return True
        except (OSError, TypeError):
            continue
    return False


def missing(touchpoints=TOUCHPOINTS) -> list[tuple[Touchpoint, str, str]]:
    """`(touchpoint, "module:attr", why)` for every name that does not resolve in the installed verl (imports verl's
    modules: not for the plugin's import path)."""
    out = []
    for tp in touchpoints:
        if not tp.attrs:  # a module we launch or point Hydra at: it must exist, importing it is its own job
            if not _module_file_present(tp.module):
                out.append((tp, tp.module, f"{tp.module}: no such module"))
            continue
        for attr, name in zip(tp.attrs, tp.names(), strict=True):
            try:
                resolve(tp.module, attr, instance=True)
            except MissingTouchpoint as e:
                if tp.extra and "No module named" in str(e) and "No module named 'verl" not in str(e):
                    continue  # a dependency of the `gpu` extra is absent here (CPU install): nothing to resolve
                out.append((tp, name, str(e)))
    return out


def _module_file_present(module: str) -> bool:
    """Whether `module`'s file exists, without importing it or its parent packages (only the top package's spec)."""
    top, _, rest = module.partition(".")
    spec = importlib.util.find_spec(top)
    if spec is None:
        return False
    if not rest:
        return True
    base = Path(next(iter(spec.submodule_search_locations or []), "")) / rest.replace(".", "/")
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def check_at_import() -> list[str]:
    """The cheap check of the plugin's import path: the modules we hook or launch exist on disk. Logs one WARNING
    per missing module (naming what stops working) and returns their names."""
    absent = []
    for module in dict.fromkeys(tp.module for tp in TOUCHPOINTS if tp.module.startswith("verl")):
        if not _module_file_present(module):
            absent.append(module)
            uses = "; ".join(tp.used_by for tp in TOUCHPOINTS if tp.module == module)
            logger.warning("r1-recipe: verl module %s is missing (installed verl is not 0.9.1?): %s will not work",
                           module, uses)
    return absent


def require_attrs(module_obj, attrs: tuple[str, ...], what: str) -> bool:
    """Before patching a just-imported module: True when every dotted attr exists, else a WARNING naming them."""
    absent = []
    for attr in attrs:
        obj = module_obj
        for part in attr.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                absent.append(f"{module_obj.__name__}:{attr}")
                break
    if absent:
        logger.warning("r1-recipe: %s is off: verl has no %s (installed verl is not 0.9.1?)", what, ", ".join(absent))
    return not absent


def config_value(config, key: str):
    """The value at dotted `key` of a (Dict)config, None when any part is absent."""
    node = config
    for part in key.split("."):
        try:
            node = node.get(part, None)
        except AttributeError:
            return None
        if node is None:
            return None
    return node


# Config keys whose touchpoints are checked at start-up only when the key holds one of our names.
_OUR_VALUES = {"algorithm.adv_estimator": ("r1_grpo", "r1_grpo_process"), "reward.reward_manager.name": ("r1",),
               "trainer.device": ("cpu",), "actor_rollout_ref.rollout.name": ("hf",),
               "reward.custom_reward_function.path": ("pkg://r1_recipe.rewards",),
               "trainer.v1.sampler.custom_sampler.name": ("QuickPollReplayBuffer",)}


def require_for_config(config) -> None:
    """ValueError naming the config key when a key this run sets needs a touchpoint the installed verl lacks."""
    for tp in TOUCHPOINTS:
        for key in tp.config_keys:
            value = config_value(config, key)
            needed = value in _OUR_VALUES[key] if key in _OUR_VALUES else value not in (None, False, "", 0)
            if not needed:
                continue
            problems = missing((tp,))
            if problems:
                raise ValueError(f"{key} needs verl's {problems[0][1]} ({tp.used_by}), which the installed verl "
                                 f"lacks: {problems[0][2]} (r1-recipe supports verl 0.9.1; run `r1-recipe doctor`)")

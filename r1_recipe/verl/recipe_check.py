"""Recipe validation against verl 0.9.1: compose a recipe with verl's Hydra config exactly as the verl entry point
will, and check everything that can be checked before a GPU is touched (every error names the key's full path).

Kinds of recipe, by the verl entry point they are written for (`entry_point`):
- PPO/GRPO recipes (`defaults: [ppo_trainer]`)          -> verl.trainer.main_ppo
- generation recipes (`ppo_trainer` + data.output_path) -> verl.trainer.main_generation_server
- SFT recipes (`defaults: [sft_trainer_engine]`)        -> verl.trainer.sft_trainer
The `r1-recipe run` command around it is `r1_recipe.tools.recipes`.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from r1_recipe.verl import touchpoints

PPO, GENERATION, SFT = "main_ppo", "main_generation_server", "sft_trainer"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # org/name on the HF hub
_REMOTE = ("hdfs://", "s3://", "gs://", "http://", "https://")


class RecipeError(ValueError):
    """A recipe that cannot run; the message names the key."""


def is_hub_id(path) -> bool:
    """`org/name` on the Hugging Face hub (not a path: no leading /, ~, . or $)."""
    return not str(path).startswith(("/", "~", ".", "$")) and bool(_HUB_ID.match(str(path)))


# ------------------------------------------------------------------------------------------------------------ compose

def compose(path: Path, overrides: list[str] | None = None):
    """Compose the recipe file `path` with verl's config plus Hydra `overrides`, as the verl entry point will.
    `import verl` first: it loads our plugin (estimators, `r1_template`)."""
    import verl  # noqa: F401  (plugins: r1_grpo, reward manager r1, ${r1_template:...})
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        with initialize_config_dir(config_dir=str(path.parent), version_base=None):
            cfg = hydra_compose(config_name=path.stem, overrides=list(overrides or []))
    except (HydraException, OmegaConfBaseException) as e:
        msg = str(e).strip()
        if "is not in struct" in msg or "Could not override" in msg:
            msg += "\n(a key absent from verl's schema needs a leading '+', e.g. +reward.r1.timeout_s=20)"
        raise RecipeError(f"cannot compose recipe {path.stem!r}: {msg}") from None
    return cfg


def entry_point(cfg) -> str:
    if "engine" in cfg and "optim" in cfg and "actor_rollout_ref" not in cfg:
        return SFT
    if "output_path" in cfg.get("data", {}):
        return GENERATION
    return PPO


# ----------------------------------------------------------------------------------------------------------- validate
@dataclass
class Report:
    errors: list[str] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)


# Keys each kind of recipe cannot run without (the recipes leave them null; `???` would not override verl's defaults).
REQUIRED = {
    PPO: ("actor_rollout_ref.model.path", "data.train_files", "data.val_files"),
    GENERATION: ("actor_rollout_ref.model.path", "data.train_files", "data.output_path"),
    SFT: ("model.path", "data.train_files"),
}


# Sections verl turns into dataclasses (an unknown key there is a TypeError deep in a worker); `algorithm`, `reward` and
# `data` stay DictConfigs and accept extra keys by design.
STRICT = {
    PPO: ("actor_rollout_ref.actor", "actor_rollout_ref.rollout", "actor_rollout_ref.model"),
    GENERATION: ("actor_rollout_ref.rollout", "actor_rollout_ref.model"),
    SFT: ("model", "engine", "optim", "checkpoint"),
}


@dataclass(frozen=True)
class Bound:
    """The values a numeric key takes: an integer or any number, >= `low` (> `low` when `open_low`), <= `high`;
    null only when `optional`."""

    integer: bool
    low: float
    open_low: bool = False
    high: float | None = None
    optional: bool = False

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a number"
        if self.high is None:
            text = f"{kind} {'>' if self.open_low else '>='} {self.low:g}"
        else:
            text = f"{kind} in {'(' if self.open_low else '['}{self.low:g}, {self.high:g}]"
        return text + (" or null" if self.optional else "")

    def admits(self, value) -> bool:
        if value is None:
            return self.optional
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            return False
        if self.integer and not float(value).is_integer():
            return False
        return (value > self.low if self.open_low else value >= self.low) and (self.high is None or
                                                                               value <= self.high)


COUNT, OPTIONAL_COUNT = Bound(True, 1), Bound(True, 1, optional=True)  # sizes, lengths, counts
NON_NEGATIVE = Bound(False, 0)  # learning rates, coefficients, temperatures (0: greedy)
FRACTION = Bound(False, 0, open_low=True, high=1)  # top_p, gpu_memory_utilization
_RUN = {"trainer.n_gpus_per_node": COUNT, "trainer.nnodes": COUNT, "trainer.total_epochs": COUNT,
        "trainer.total_training_steps": OPTIONAL_COUNT, "data.train_batch_size": COUNT}
_ROLLOUT = {"data.max_prompt_length": COUNT, "data.max_response_length": COUNT, "data.gen_batch_size": OPTIONAL_COUNT,
            "data.val_batch_size": OPTIONAL_COUNT}
_ROLLOUT.update({f"actor_rollout_ref.rollout.{k}": b for k, b in {
    "n": COUNT, "temperature": NON_NEGATIVE, "top_p": FRACTION, "val_kwargs.n": COUNT,
    "val_kwargs.temperature": NON_NEGATIVE, "val_kwargs.top_p": FRACTION, "tensor_model_parallel_size": COUNT,
    "gpu_memory_utilization": FRACTION, "max_model_len": OPTIONAL_COUNT}.items()})
_ACTOR = {f"actor_rollout_ref.actor.{k}": b for k, b in {
    "ppo_mini_batch_size": COUNT, "ppo_epochs": COUNT, "ppo_micro_batch_size_per_gpu": OPTIONAL_COUNT,
    "ppo_max_token_len_per_gpu": COUNT, "ulysses_sequence_parallel_size": COUNT, "optim.lr": NON_NEGATIVE,
    "optim.weight_decay": NON_NEGATIVE, "clip_ratio": NON_NEGATIVE, "kl_loss_coef": NON_NEGATIVE}.items()}
# Checked first: every later check, the plan and verl itself do arithmetic on them. An absent key is skipped.
BOUNDS = {
    PPO: {**_RUN, **_ROLLOUT, **_ACTOR},
    GENERATION: {**_RUN, **_ROLLOUT},
    SFT: {**_RUN, "data.max_length": COUNT, "data.micro_batch_size_per_gpu": COUNT,
          "data.max_token_len_per_gpu": COUNT, "engine.ulysses_sequence_parallel_size": COUNT,
          "optim.lr": NON_NEGATIVE, "optim.weight_decay": NON_NEGATIVE},
}


def out_of_bounds(cfg, bounds: dict[str, Bound]) -> list[str]:
    """`key=value: expected ...` for every key whose value `bounds` does not admit (a string where a number belongs,
    a negative size, a zero count, a negative learning rate or temperature)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    absent, errors = object(), []
    for key, bound in bounds.items():
        try:
            value = OmegaConf.select(cfg, key, default=absent)
        except OmegaConfBaseException as e:  # an interpolation that does not resolve
            errors.append(f"{key}: {e}".splitlines()[0])
            continue
        if value is not absent and not bound.admits(value):
            errors.append(f"{key}={'null' if value is None else repr(value)}: expected {bound.describe()}")
    return errors


def _missing_keys(cfg, kind: str) -> list[str]:
    """Required keys left null, plus `???` values outside sections that are switched off (verl's own reward-model
    rollout has `name: ???` even when no reward model is used)."""
    from omegaconf import OmegaConf

    off = []
    if not OmegaConf.select(cfg, "reward.reward_model.enable", default=False):
        off.append("reward.reward_model.")
    if not OmegaConf.select(cfg, "distillation.enabled", default=False):
        off.append("distillation.")
    missing = [k for k in OmegaConf.missing_keys(cfg) if not k.startswith(tuple(off))]
    missing += [k for k in REQUIRED[kind] if OmegaConf.select(cfg, k, default=None) in (None, "", [])]
    return sorted(set(missing))


def _unknown_dataclass_keys(node, path: str, out: list[str]) -> None:
    """Keys under a `_target_: <dataclass>` node that the dataclass does not have (verl raises TypeError on them only
    deep inside a worker). Walks the whole tree."""
    from omegaconf import DictConfig

    if not isinstance(node, DictConfig):
        return
    target = node.get("_target_", None) if "_target_" in node else None
    if isinstance(target, str):
        cls = _import_target(target)
        if cls is not None and dataclasses.is_dataclass(cls):
            names = {f.name for f in dataclasses.fields(cls)}
            for key in node.keys():
                if key != "_target_" and key not in names:
                    out.append(f"{path}.{key}" if path else str(key))
    for key in node.keys():
        child = node._get_node(key)
        if isinstance(child, DictConfig):
            _unknown_dataclass_keys(child, f"{path}.{key}" if path else str(key), out)


def _import_target(target: str):
    import importlib

    module, _, attr = target.rpartition(".")
    try:
        return getattr(importlib.import_module(module), attr)
    except Exception:  # an unimportable target is verl's to report
        return None


def _as_list(files) -> list[str]:
    if files is None:
        return []
    if isinstance(files, str):
        return [files]
    return [str(f) for f in files]


def _check_files(cfg, keys: list[str], report: Report) -> None:
    from omegaconf import OmegaConf

    for key in keys:
        for f in _as_list(OmegaConf.select(cfg, key)):
            if f.startswith(_REMOTE):
                continue
            if not Path(f).expanduser().exists():
                report.errors.append(f"{key}: file {f!r} does not exist (prepare it with `r1-recipe prepare`)")


def dataset_rows(files) -> int | None:
    """Rows in parquet data files (None when one cannot be read here: remote, not parquet, ...)."""
    try:
        import pyarrow.parquet as pq

        return sum(pq.ParquetFile(str(Path(f).expanduser())).metadata.num_rows for f in _as_list(files))
    except Exception:
        return None


def _check_rows(cfg, kind: str, report: Report) -> None:
    """verl's train dataloader drops the last partial batch: a training set smaller than one batch has no step (verl
    stops inside the trainer: main_ppo with "Train dataloader is empty!"). An empty validation set stops main_ppo
    the same way. Unreadable files are left to verl."""
    from omegaconf import OmegaConf

    files = ", ".join(_as_list(cfg.data.train_files))
    rows = dataset_rows(cfg.data.train_files)
    cap = OmegaConf.select(cfg, "data.train_max_samples", default=None)
    if rows is not None and isinstance(cap, int) and 0 < cap < rows:
        rows, files = cap, f"data.train_max_samples={cap}"
    key = "data.gen_batch_size" if OmegaConf.select(cfg, "data.gen_batch_size", default=None) else \
        "data.train_batch_size"
    batch = int(OmegaConf.select(cfg, key))
    if rows is not None and rows < batch:
        stop = " and main_ppo would stop with 'Train dataloader is empty!'" if kind == PPO else ""
        report.errors.append(f"{key}={batch} > the {rows} rows of data.train_files ({files}): verl's train "
                             f"dataloader drops the last partial batch, so it would hold no batch{stop}; set "
                             f"{key} <= {rows} or use more data")
    if kind == PPO and dataset_rows(cfg.data.val_files) == 0:
        val = ", ".join(_as_list(cfg.data.val_files))
        report.errors.append(f"data.val_files ({val}) has no rows: main_ppo would stop with 'Validation dataloader "
                             "is empty!'")


WEIGHT_FILES = ("*.safetensors", "pytorch_model*.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json")


def has_weights(path) -> bool:
    local = Path(str(path)).expanduser()
    return any(next(local.glob(pattern), None) is not None for pattern in WEIGHT_FILES)


def checkpoint_export(path, rl: bool) -> Path | None:
    """The HF export of the latest checkpoint when `path` is a verl checkpoint directory (`trainer.default_local_dir`,
    which holds latest_checkpointed_iteration.txt): `global_step_N/actor/huggingface` for RL runs (trainer_base
    `_save_checkpoint`), `global_step_N/huggingface` for SFT (CheckpointHandler); None otherwise."""
    root = Path(str(path)).expanduser()
    tracker = root / "latest_checkpointed_iteration.txt"
    if not tracker.is_file():
        return None
    step = root / f"global_step_{tracker.read_text().strip()}"
    for candidate in ((step / "actor" / "huggingface", step / "huggingface") if rl else
                      (step / "huggingface", step / "actor" / "huggingface")):
        if candidate.is_dir():
            return candidate
    return step / ("actor/huggingface" if rl else "huggingface")


def _check_model(cfg, key: str, report: Report) -> int | None:
    """Check the model path (a Hugging Face directory with config.json AND weights, or a hub id); return the model's
    `max_position_embeddings` (after `override_config`) when it is a local directory, else None."""
    import json

    from omegaconf import OmegaConf

    path = OmegaConf.select(cfg, key)
    local = Path(str(path)).expanduser()
    if not local.exists():
        if not is_hub_id(path):
            report.errors.append(f"{key}: model {path!r} is neither an existing directory nor a hub id 'org/name'")
        return None
    export = checkpoint_export(local, rl=True)
    if export is not None:
        report.errors.append(f"{key}: {path!r} is a verl checkpoint directory; its latest HF export is {export} "
                             "(`r1-recipe run` resolves this itself)")
        return None
    if not (local / "config.json").is_file():
        report.errors.append(f"{key}: {path!r} has no config.json (not a Hugging Face model directory)")
        return None
    if not has_weights(local):
        report.errors.append(f"{key}: {path!r} has config.json but no weights (*.safetensors / pytorch_model*.bin): "
                             "verl writes HF weights only with checkpoint save_contents including hf_model")
        return None
    hf = json.loads((local / "config.json").read_text())
    override = OmegaConf.select(cfg, key.rsplit(".", 1)[0] + ".override_config.max_position_embeddings")
    max_pos = override or hf.get("max_position_embeddings") or (hf.get("text_config") or {}).get(
        "max_position_embeddings")
    return int(max_pos) if isinstance(max_pos, int) else None


def _check_gpus(n_per_node: int, report: Report, key: str) -> None:
    import torch

    visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if visible == 0:
        report.errors.append(f"{key}={n_per_node} but this node has 0 visible GPU(s): launch on a GPU node, "
                             "pass --skip-gpu-check from a head node without GPUs, or add --cpu to run verl's own "
                             "trainers on this CPU host")
    elif visible < n_per_node:
        report.errors.append(f"{key}={n_per_node} but this node has {visible} visible GPU(s); "
                             f"set {key}={visible} (and the size knobs in the recipe's header)")


def validate(cfg, kind: str, check_gpus: bool = True) -> Report:
    """Everything that can be checked before a GPU is touched. Errors name the key's full path."""
    from omegaconf import OmegaConf

    report = Report()
    missing = _missing_keys(cfg, kind)
    for key in missing:
        report.errors.append(f"{key}: required value missing; set it on the command line ({key}=...)")
    if missing:  # the rest needs a complete config
        return report
    unknown: list[str] = []
    for section in STRICT[kind]:
        node = OmegaConf.select(cfg, section)
        if node is not None:
            _unknown_dataclass_keys(node, section, unknown)
    for key in unknown:
        report.errors.append(f"{key}: unknown key (not a field of its verl config class)")
    if unknown:
        return report
    report.errors += out_of_bounds(cfg, BOUNDS[kind])
    if report.errors:  # the rest computes with these values
        return report
    if kind == SFT:
        _validate_sft(cfg, report, check_gpus)
    else:
        _validate_rollout(cfg, kind, report, check_gpus)
    return report


def _validate_sft(cfg, report: Report, check_gpus: bool) -> None:
    from omegaconf import OmegaConf
    from verl.utils.config import omega_conf_to_dataclass

    _check_files(cfg, ["data.train_files", "data.val_files"], report)
    if not report.errors:
        _check_rows(cfg, SFT, report)
    max_pos = _check_model(cfg, "model.path", report)
    d = cfg.data
    if max_pos is not None and max_pos < int(d.max_length):
        # the exported config keeps max_position_embeddings, and vLLM (eval_generate, rejection_sampling) then
        # refuses the paper's 32k generation length
        report.errors.append(f"data.max_length={d.max_length} > the model's max_position_embeddings={max_pos}: the "
                             f"exported checkpoint would keep {max_pos}, which eval_generate refuses; set "
                             f"+model.override_config.max_position_embeddings={d.max_length} (R1's distilled "
                             "Qwen2.5-Math students: 131072, same rope theta) or shorten data.max_length")
    sp = int(OmegaConf.select(cfg, "engine.ulysses_sequence_parallel_size", default=1) or 1)
    # verl budgets max_token_len_per_gpu x SP size per micro-batch of an SP group (workers/engine/utils.py)
    if d.use_dynamic_bsz and int(d.max_token_len_per_gpu) * sp < int(d.max_length):
        report.errors.append(f"data.max_token_len_per_gpu={d.max_token_len_per_gpu} x "
                             f"engine.ulysses_sequence_parallel_size={sp} < data.max_length={d.max_length}: "
                             "a full-length sample would not fit one micro-batch")
    n_gpus = int(cfg.trainer.n_gpus_per_node) * int(cfg.trainer.nnodes)
    if n_gpus % sp:
        report.errors.append(f"engine.ulysses_sequence_parallel_size={sp} does not divide trainer.n_gpus_per_node x "
                             f"trainer.nnodes = {n_gpus}")
    for section in ("engine", "optim", "checkpoint"):
        try:
            omega_conf_to_dataclass(cfg[section])
        except Exception as e:  # verl's dataclass validation (value ranges, choices)
            report.errors.append(f"{section}: {e}")
    _check_distill(cfg, ["model.path"], report)
    if check_gpus:
        _check_gpus(int(cfg.trainer.n_gpus_per_node), report, "trainer.n_gpus_per_node")


def has_tokenizer(path) -> bool:
    local = Path(str(path)).expanduser()
    return any((local / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model"))


def _check_distill(cfg, model_keys: list[str], report: Report) -> None:
    """The distillation checks (student template keeps the reasoning in the SFT target; teacher and student share a
    tokenizer) on local models. Hub ids are left to verl at launch: checking them here would download them."""
    from omegaconf import OmegaConf

    from r1_recipe.verl.distill import DistillCheckError, check_distill_config

    if not all(has_tokenizer(OmegaConf.select(cfg, k)) for k in model_keys):
        return
    try:
        check_distill_config(cfg)
    except DistillCheckError as e:
        report.errors.append(str(e))


def _check_algorithm(cfg, report: Report) -> None:
    """`algorithm.r1.*` (the estimator options, the periodic reference reset) and the pieces of the GRPO variants
    that must fit together: DAPO's dynamic sampling and overlong shaping, Dr. GRPO's constant normaliser."""
    from omegaconf import OmegaConf
    from verl.trainer.ppo.utils import need_reference_policy

    from r1_recipe.core.advantage import GRPOOptions
    from r1_recipe.core.rewards.overlong import OverlongShaping
    from r1_recipe.verl import dynamic_sampling, ref_reset

    try:
        GRPOOptions.from_config(cfg.algorithm)
        lora = int(cfg.actor_rollout_ref.model.get("lora_rank", 0) or 0) > 0
        ref_reset.check_config(cfg, need_reference_policy(cfg), lora)
    except ValueError as e:
        report.errors.append(str(e))
    errors, warns = dynamic_sampling.check_config(cfg, dataset_rows(cfg.data.train_files))
    report.errors += errors
    report.warnings += warns
    try:
        shaping = OverlongShaping.from_config(OmegaConf.select(cfg, "reward.reward_kwargs"),
                                              int(cfg.data.max_response_length))
    except ValueError as e:
        report.errors.append(str(e))
    else:
        manager = cfg.reward.reward_manager.name
        if shaping is not None and manager not in ("r1", "dapo"):
            report.warnings.append(f"reward.reward_kwargs.overlong_buffer_cfg.enable=true: the {manager!r} reward "
                                   "manager ignores it (r1 and verl's dapo apply it)")
    actor = cfg.actor_rollout_ref.actor
    if actor.loss_agg_mode == "seq-mean-token-sum-norm" and actor.get("loss_scale_factor", None) is None:
        report.warnings.append("actor_rollout_ref.actor.loss_agg_mode=seq-mean-token-sum-norm with "
                               "actor_rollout_ref.actor.loss_scale_factor=null divides by each micro-batch's padded "
                               "length, not a constant (Dr. GRPO); set loss_scale_factor=${data.max_response_length}")
    # verl applies rollout correction only when the rollout returned log-probs; without them it silently does nothing
    correction = cfg.algorithm.get("rollout_correction", None) or {}
    if (correction.get("rollout_is") or correction.get("rollout_rs") or correction.get("bypass_mode")) and \
            not cfg.actor_rollout_ref.rollout.get("calculate_log_probs", False):
        report.errors.append("algorithm.rollout_correction is on but actor_rollout_ref.rollout.calculate_log_probs="
                             "false: verl would skip the correction; set it to true (or rollout_is=null)")


def _validate_rollout(cfg, kind: str, report: Report, check_gpus: bool) -> None:
    from omegaconf import OmegaConf
    from verl.experimental.reward_loop.reward_manager import get_reward_manager_cls
    from verl.trainer.ppo.core_algos import get_adv_estimator_fn

    d, rollout, trainer = cfg.data, cfg.actor_rollout_ref.rollout, cfg.trainer
    seq_len = int(d.max_prompt_length) + int(d.max_response_length)
    _check_files(cfg, ["data.train_files"] + (["data.val_files"] if kind == PPO else []), report)
    if kind == PPO and not report.errors:
        _check_rows(cfg, kind, report)
    max_pos = _check_model(cfg, "actor_rollout_ref.model.path", report)
    if rollout.max_model_len is not None and int(rollout.max_model_len) < seq_len:
        report.errors.append(f"actor_rollout_ref.rollout.max_model_len={rollout.max_model_len} < "
                             f"data.max_prompt_length + data.max_response_length = {seq_len}")
    # verl's vLLM server refuses max_model_len > max_position_embeddings, and without max_model_len caps the context
    # there: both only show once the server starts on the GPUs.
    if max_pos is not None and rollout.max_model_len is not None and int(rollout.max_model_len) > max_pos:
        report.errors.append(f"actor_rollout_ref.rollout.max_model_len={rollout.max_model_len} > the model's "
                             f"max_position_embeddings={max_pos} (vLLM refuses it)")
    elif max_pos is not None and rollout.max_model_len is None and max_pos < seq_len:
        report.errors.append(f"data.max_prompt_length + data.max_response_length = {seq_len} > the model's "
                             f"max_position_embeddings={max_pos}; shorten data.max_response_length or set "
                             "actor_rollout_ref.model.override_config.max_position_embeddings (with rope scaling)")
    tp = int(rollout.tensor_model_parallel_size)
    n_gpus = int(trainer.n_gpus_per_node) * int(trainer.nnodes)
    if n_gpus % tp:
        report.errors.append(f"actor_rollout_ref.rollout.tensor_model_parallel_size={tp} does not divide "
                             f"trainer.n_gpus_per_node x trainer.nnodes = {n_gpus}")
    if check_gpus:
        _check_gpus(int(trainer.n_gpus_per_node), report, "trainer.n_gpus_per_node")
    if OmegaConf.select(cfg, "distillation.enabled", default=False):
        teachers = OmegaConf.select(cfg, "distillation.teacher_models", default=None) or {}
        keys = [f"distillation.teacher_models.{name}.model_path" for name, t in teachers.items()
                if OmegaConf.select(cfg, f"distillation.teacher_models.{name}.model_path", default=None)]
        _check_distill(cfg, ["actor_rollout_ref.model.path", *keys], report)
    if kind == GENERATION:
        from r1_recipe.verl.generate import ClientConfig

        try:
            ClientConfig.from_config(OmegaConf.select(cfg, "r1_generation", default=None))
        except (ValueError, TypeError) as e:
            report.errors.append(str(e))
        if rollout.load_format == "dummy":
            report.errors.append("actor_rollout_ref.rollout.load_format=dummy samples from random weights; use auto")
        return
    try:
        touchpoints.require_for_config(cfg)
    except ValueError as e:
        report.errors.append(str(e))
    est = cfg.algorithm.adv_estimator
    if not _registered(get_adv_estimator_fn, est):
        report.errors.append(f"algorithm.adv_estimator: {est!r} is not registered (ours: r1_grpo, r1_grpo_process; "
                             "verl's: grpo, gae, rloo, ...; run `r1-recipe doctor`)")
    _check_algorithm(cfg, report)
    manager = cfg.reward.reward_manager
    if manager.source == "register" and not _registered(get_reward_manager_cls, manager.name):
        report.errors.append(f"reward.reward_manager.name: {manager.name!r} is not registered (ours: r1; verl's: "
                             "naive, dapo, ...; run `r1-recipe doctor`)")
    if manager.name == "r1":
        from r1_recipe.core.rewards.compose import parse_config, reward_model_errors

        try:
            parse_config(cfg.reward.get("r1", None), prefix="reward.r1")
        except (ValueError, KeyError, TypeError) as e:
            report.errors.append(str(e))
        report.errors += reward_model_errors(OmegaConf.select(cfg, "reward.r1.reward_model", default=None),
                                             bool(cfg.reward.reward_model.enable),
                                             cfg.reward.custom_reward_function.path)
    _check_batches(cfg, seq_len, n_gpus, report)
    if report.errors:
        return
    try:
        _verl_validate(cfg)
    except (AssertionError, ValueError, TypeError) as e:
        report.errors.append(f"verl validate_config: {e}")


def _check_batches(cfg, seq_len: int, n_gpus: int, report: Report) -> None:
    """Token budgets with sequence parallelism and the batch divisibility verl asserts only at the first update."""
    actor, ref, rollout = cfg.actor_rollout_ref.actor, cfg.actor_rollout_ref.ref, cfg.actor_rollout_ref.rollout
    sp = int(actor.get("ulysses_sequence_parallel_size", 1) or 1)
    # verl budgets max_token_len_per_gpu x SP size per micro-batch of an SP group (workers/engine/utils.py) and
    # asserts that budget >= the longest sequence (utils/seqlen_balancing.py)
    budgets = [("actor_rollout_ref.actor.ppo_max_token_len_per_gpu", actor.use_dynamic_bsz,
                actor.ppo_max_token_len_per_gpu),
               ("actor_rollout_ref.ref.log_prob_max_token_len_per_gpu", ref.get("log_prob_use_dynamic_bsz", False),
                ref.get("log_prob_max_token_len_per_gpu", None)),
               ("actor_rollout_ref.rollout.log_prob_max_token_len_per_gpu", rollout.log_prob_use_dynamic_bsz,
                rollout.log_prob_max_token_len_per_gpu)]
    for key, dynamic, budget in budgets:
        if dynamic and budget is not None and int(budget) * sp < seq_len:
            report.errors.append(f"{key}={budget} x actor_rollout_ref.actor.ulysses_sequence_parallel_size={sp} < "
                                 f"data.max_prompt_length + data.max_response_length = {seq_len}")
    if n_gpus % sp:
        report.errors.append(f"actor_rollout_ref.actor.ulysses_sequence_parallel_size={sp} does not divide "
                             f"trainer.n_gpus_per_node x trainer.nnodes = {n_gpus}")
        return
    dp, n = n_gpus // sp, int(rollout.n)
    mini = int(actor.ppo_mini_batch_size) * n
    # workers/engine_workers.py asserts mini_batch_size % dp == 0 in update_actor, with or without dynamic batching
    if mini % dp:
        report.errors.append(f"actor_rollout_ref.actor.ppo_mini_batch_size x actor_rollout_ref.rollout.n = {mini} "
                             f"outputs per update is not divisible by the data-parallel size {dp} "
                             "(trainer.n_gpus_per_node x trainer.nnodes / ulysses_sequence_parallel_size): verl "
                             "would stop at the first update")
    if int(cfg.data.train_batch_size) % int(actor.ppo_mini_batch_size):
        report.warnings.append(f"data.train_batch_size={cfg.data.train_batch_size} is not a multiple of "
                               f"actor_rollout_ref.actor.ppo_mini_batch_size={actor.ppo_mini_batch_size}: verl pads "
                               "each rollout with empty rows up to a multiple (a smaller last update)")


def _registered(getter, name) -> bool:
    """verl's public registry getters raise ValueError for an unknown name."""
    try:
        return getter(name) is not None
    except (ValueError, KeyError):
        return False


def _verl_validate(cfg) -> None:
    """verl's own start-up checks (main_ppo calls the same), on a resolved copy; its progress print is silenced."""
    import contextlib
    import io

    from omegaconf import OmegaConf
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        validate_config(cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg))



# -------------------------------------------------------------------------------------------------------- CPU hosts
def _override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def cpu_overrides(kind: str, overrides: list[str], config=None) -> list[str]:
    """The overrides that run this kind of recipe on a CPU-only host (r1_recipe.verl.cpu.overrides) before the user's;
    a key the user sets wins. Given the composed `config`, the quick-poll sampler is left out where the run needs
    verl's own replay buffer (an asynchronous `trainer.v1.trainer_mode`)."""
    from r1_recipe.verl.cpu import overrides as cpu

    if kind not in (SFT, PPO):
        raise RecipeError(f"--cpu runs SFT and RL recipes (verl's sft_trainer, main_ppo), not {kind}")
    base = cpu.SFT if kind == SFT else cpu.PPO
    if kind == PPO and config is not None and cpu.needs_verls_replay_buffer(config):
        base = [o for o in base if not _override_key(o).startswith("trainer.v1.sampler.")]
    mine = {_override_key(o) for o in overrides}
    return [o for o in base if _override_key(o) not in mine] + list(overrides)



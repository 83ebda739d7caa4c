"""The arithmetic of a run, before any GPU is booked: how many outputs and optimizer updates one rollout makes, how
verl's steps map to the paper's, when the reference resets, and a per-GPU memory estimate. Plain numbers in, plain
numbers out (no verl import): `r1-recipe run --dry-run` prints it, `ref_reset` uses the same step arithmetic.

Units. A verl step (`trainer.global_steps`, `total_training_steps`, `save_freq`, `test_freq`) is one rollout of
`data.train_batch_size` prompts x `rollout.n` outputs, followed by `ppo_epochs x ceil(train_batch_size /
ppo_mini_batch_size)` optimizer updates. The paper's step is one update (DeepSeek-R1, Nature Methods: "each rollout
generates 8,192 outputs, which are randomly split into 16 mini-batches and trained for only a single inner epoch"; a
step has 512 outputs; "every 400 steps" the reference is replaced).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

GIB = 1024**3


# ------------------------------------------------------------------------------------------------------------ steps
def updates_per_rollout(train_batch_size: int, ppo_mini_batch_size: int, ppo_epochs: int = 1) -> int:
    """Optimizer updates in one verl step: verl upsamples the batch to a multiple of the mini-batch and iterates it
    `ppo_epochs` times."""
    return int(ppo_epochs) * math.ceil(int(train_batch_size) / int(ppo_mini_batch_size))


def reset_due(step: int, updates_per_step: int, every_updates: int) -> bool:
    """Whether verl step `step` (1-based) completes a multiple of `every_updates` policy updates. Resets happen at
    rollout boundaries: when `every_updates` is not a multiple of `updates_per_step`, the reset falls on the first verl
    step at or after the multiple."""
    done, before = step * updates_per_step, (step - 1) * updates_per_step
    return done // every_updates > before // every_updates


def reset_steps(total_steps: int, updates_per_step: int, every_updates: int) -> list[int]:
    """Verl steps (1-based) after whose update the reference resets."""
    return [s for s in range(1, total_steps + 1) if reset_due(s, updates_per_step, every_updates)]


@dataclass(frozen=True)
class Schedule:
    """The step arithmetic of one RL run (`dataset_prompts` is None when the data file could not be read)."""

    train_batch_size: int
    n: int
    ppo_mini_batch_size: int
    ppo_epochs: int = 1
    dataset_prompts: int | None = None
    total_epochs: int = 1
    total_training_steps: int | None = None
    ref_reset_updates: int | None = None

    @property
    def outputs_per_rollout(self) -> int:
        return self.train_batch_size * self.n

    @property
    def outputs_per_update(self) -> int:
        return self.ppo_mini_batch_size * self.n

    @property
    def updates_per_rollout(self) -> int:
        return updates_per_rollout(self.train_batch_size, self.ppo_mini_batch_size, self.ppo_epochs)

    @property
    def rollouts_per_epoch(self) -> int | None:  # verl's train dataloader drops the last partial batch
        return None if self.dataset_prompts is None else self.dataset_prompts // self.train_batch_size

    @property
    def updates_per_epoch(self) -> int | None:
        r = self.rollouts_per_epoch
        return None if r is None else r * self.updates_per_rollout

    @property
    def total_rollouts(self) -> int | None:
        if self.total_training_steps is not None:
            return self.total_training_steps
        r = self.rollouts_per_epoch
        return None if r is None else r * self.total_epochs

    @property
    def total_updates(self) -> int | None:
        t = self.total_rollouts
        return None if t is None else t * self.updates_per_rollout

    def resets(self) -> list[int] | None:
        """Verl steps at which the reference resets (None without a reset or a known length)."""
        if self.ref_reset_updates is None or self.total_rollouts is None:
            return None
        return reset_steps(self.total_rollouts, self.updates_per_rollout, self.ref_reset_updates)


# ----------------------------------------------------------------------------------------------------------- memory
@dataclass(frozen=True)
class ModelShape:
    """A dense decoder's shapes from its Hugging Face config.json (Qwen2 / Llama family)."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    tied: bool
    qkv_bias: bool
    max_position_embeddings: int | None = None

    @classmethod
    def from_config(cls, hf: dict) -> ModelShape:
        hf = hf.get("text_config") or hf
        h, heads = int(hf["hidden_size"]), int(hf["num_attention_heads"])
        bias = hf.get("attention_bias", hf.get("model_type") == "qwen2")
        return cls(hidden=h, layers=int(hf["num_hidden_layers"]), heads=heads,
                   kv_heads=int(hf.get("num_key_value_heads") or heads), head_dim=int(hf.get("head_dim") or h // heads),
                   intermediate=int(hf["intermediate_size"]), vocab=int(hf["vocab_size"]),
                   tied=bool(hf.get("tie_word_embeddings", False)), qkv_bias=bool(bias),
                   max_position_embeddings=hf.get("max_position_embeddings"))

    def params(self) -> int:
        h, q, kv = self.hidden, self.heads * self.head_dim, self.kv_heads * self.head_dim
        attn = h * q + 2 * h * kv + q * h + ((q + 2 * kv) if self.qkv_bias else 0)
        layer = attn + 3 * h * self.intermediate + 2 * h  # gated MLP (gate, up, down) + two RMSNorms
        embed = self.vocab * h * (1 if self.tied else 2)
        return self.layers * layer + embed + h

    def kv_bytes_per_token(self, dtype_bytes: int = 2) -> int:
        return 2 * self.layers * self.kv_heads * self.head_dim * dtype_bytes

    def activation_bytes(self, tokens: int, grad: bool) -> int:
        """Peak activations of one micro-batch of `tokens` tokens on one GPU, with gradient checkpointing: the saved
        layer inputs (bf16), one layer's recomputed working set (~34 bytes per token per hidden unit, flash
        attention: Korthikanti et al. 2022 without the attention-score term) and the logits in bf16 with their
        gradient or their log-softmax (verl computes log-probs of every token)."""
        logits = tokens * self.vocab * 4
        if not grad:
            return logits + tokens * self.hidden * 34
        return tokens * self.layers * self.hidden * 2 + tokens * self.hidden * 34 + logits


@dataclass(frozen=True)
class Memory:
    """Per-GPU bytes, by phase. `reference_host` lives in host memory (verl CPU-offloads the reference)."""

    weights: int          # FSDP shard of the fp32 master weights
    grads: int            # FSDP shard of the fp32 gradients (during the update)
    optimizer: int        # FSDP shard of Adam's two fp32 moments
    reference_host: int   # the reference model's shard, host memory
    rollout_weights: int  # vLLM's bf16 weights per GPU (1/TP)
    kv_cache: int         # what vLLM keeps for the KV cache: gpu_memory_utilization x GPU - its weights
    activations: int      # training micro-batch
    inference_activations: int  # log-prob micro-batch (old / ref log-probs)
    gpu: int

    @property
    def rollout_peak(self) -> int:  # vLLM awake, actor shards resident
        return self.weights + self.optimizer + self.rollout_weights + self.kv_cache

    @property
    def logprob_peak(self) -> int:
        return self.weights + self.optimizer + self.inference_activations

    @property
    def train_peak(self) -> int:
        return self.weights + self.grads + self.optimizer + self.activations

    @property
    def peak(self) -> int:
        return max(self.rollout_peak, self.logprob_peak, self.train_peak)


def rl_memory(shape: ModelShape, n_gpus: int, tp: int, gpu_bytes: int, gpu_memory_utilization: float,
              train_tokens_per_gpu: int, logprob_tokens_per_gpu: int, ref_dtype_bytes: int = 2,
              param_offload: bool = False, optimizer_offload: bool = False, rollout: bool = True) -> Memory:
    """Per-GPU estimate for an FSDP actor sharded over all `n_gpus` (verl's default fsdp_size -1) colocated with vLLM
    replicas of `tp` GPUs. Offloaded parameters/optimizer count as 0 on the GPU."""
    p = shape.params()
    rollout_weights = 2 * p // tp if rollout else 0
    return Memory(
        weights=0 if param_offload else 4 * p // n_gpus,
        grads=4 * p // n_gpus,
        optimizer=0 if optimizer_offload else 8 * p // n_gpus,
        reference_host=ref_dtype_bytes * p // n_gpus,
        rollout_weights=rollout_weights,
        kv_cache=max(int(gpu_memory_utilization * gpu_bytes) - rollout_weights, 0) if rollout else 0,
        activations=shape.activation_bytes(train_tokens_per_gpu, grad=True),
        inference_activations=shape.activation_bytes(logprob_tokens_per_gpu, grad=False),
        gpu=gpu_bytes,
    )


def gib(b: int | float) -> str:
    return f"{b / GIB:.1f} GiB"

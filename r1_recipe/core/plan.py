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
# Per-GPU memory of verl 0.9.1's FSDP engine (verl/workers/engine/fsdp/transformer_impl.py), term by term. Calibrated
# on one measured run (NVIDIA H200, torch 2.11, transformers 5.17, docs/recipes.md "GPU results"): cold_start_sft on
# Qwen2.5-1.5B's shape, 1 GPU, sdpa, no flash-attn, gradient checkpointing, remove padding, 2 x 16,384-token samples
# per 32,768-token micro-batch: peak 54.9 GiB allocated from step 2 (43.4 at step 1, before Adam's states exist),
# 66.0 GiB reserved. The terms below give 54.88 and 43.38.
MEASURED_ALLOCATED_GIB = 54.9
MEASURED_RESERVED_GIB = 66.0
# reserved / allocated of PyTorch's caching allocator at that peak (default settings, no expandable segments)
FRAGMENTATION = MEASURED_RESERVED_GIB / MEASURED_ALLOCATED_GIB


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

    def layer_params(self) -> int:
        h, q, kv = self.hidden, self.heads * self.head_dim, self.kv_heads * self.head_dim
        attn = h * q + 2 * h * kv + q * h + ((q + 2 * kv) if self.qkv_bias else 0)
        return attn + 3 * h * self.intermediate + 2 * h  # gated MLP (gate, up, down) + two RMSNorms

    def embedding_params(self) -> int:
        """Input embedding and LM head (one matrix when tied) plus the final norm: verl's root FSDP unit."""
        return self.vocab * self.hidden * (1 if self.tied else 2) + self.hidden

    def params(self) -> int:
        return self.layers * self.layer_params() + self.embedding_params()

    def kv_bytes_per_token(self, dtype_bytes: int = 2) -> int:
        return 2 * self.layers * self.kv_heads * self.head_dim * dtype_bytes


@dataclass(frozen=True)
class Kernels:
    """What the run's software does with the two big tensors of a micro-batch, the logits and the attention.

    flash_attn: `attn_implementation: flash_attention_2` (verl's default). It needs flash-attn installed, and with
      flash-attn verl computes log-probs with its in-place cross-entropy (`logprobs_from_logits`); otherwise (sdpa,
      eager) verl's row loop `logprobs_from_logits_v2` keeps a float32 log-softmax of every token for the backward
      (log_softmax runs in float32 under autocast), and transformers gives sdpa a (T, T) boolean block mask for a
      packed micro-batch.
    packed: dynamic batching puts several sequences in one micro-batch (verl's `use_dynamic_bsz`).
    compiled: verl's `use_torch_compile` (default true) fuses the entropy of the log-prob pass; eager, it holds a
      float32 softmax and its product with the logits.
    """

    flash_attn: bool = True
    packed: bool = True
    compiled: bool = True


def micro_batch_terms(shape: ModelShape, tokens: int, grad: bool, kernels: Kernels = Kernels(),
                      entropy: bool = False) -> list[tuple[str, int]]:
    """The named activation bytes at the peak of one micro-batch of `tokens` tokens on one GPU (after the Ulysses
    split), gradient checkpointing on. Training (`grad`) peaks either at the end of the forward (logits and what the
    log-prob keeps for backward) or in the backward of a layer (its recomputed activations): the larger set counts.
    `entropy`: the entropy of every token in the graph (RL update with entropy_coeff != 0)."""
    t, h, v = int(tokens), shape.hidden, shape.vocab
    logits = ("logits bf16 (tokens x vocab x 2)", 2 * t * v)
    mask = [("sdpa block mask of the packed micro-batch (tokens^2 bytes)", t * t)] \
        if kernels.packed and not kernels.flash_attn else []
    if not grad:
        eager = [] if kernels.compiled else [("entropy, eager: fp32 softmax and product (8 x tokens x vocab)",
                                              8 * t * v)]
        return [logits, *eager, *mask]
    saved = ("checkpointed layer inputs (layers x tokens x hidden x 2)", shape.layers * t * h * 2)
    end = [saved, logits]
    if not kernels.flash_attn:
        end.append(("fp32 log-softmax of every token, kept for backward (tokens x vocab x 4)", 4 * t * v))
    if entropy:
        end.append(("entropy: fp32 softmax kept for backward (tokens x vocab x 4)", 4 * t * v))
    end += mask
    # One layer's recomputation: the tensors a bf16 Qwen2 decoder layer saves for its backward, counted on CPU with
    # saved_tensors_hooks (20h + 8i + 5 kv_dim bytes per token at three model sizes), plus its backward's two
    # largest gradients (gate and up, 2 x 2i); its parameters: gathered, prefetched and unsharded grads in bf16.
    kv_dim = shape.kv_heads * shape.head_dim
    layer = [saved, ("one layer recomputed for its backward (tokens x (20 hidden + 12 intermediate + 5 kv_dim))",
                     t * (20 * h + 12 * shape.intermediate + 5 * kv_dim)),
             ("3 gathered layers' bf16 parameters/gradients", 3 * 2 * shape.layer_params()), *mask]
    if mask:
        layer.append(("sdpa: the mask as a bf16 bias in the layer's backward (2 x tokens^2)", 2 * t * t))
    return end if sum(b for _, b in end) >= sum(b for _, b in layer) else layer


@dataclass(frozen=True)
class Memory:
    """Per-GPU bytes, by phase. `reference_host` lives in host memory (verl CPU-offloads the reference)."""

    weights: int          # FSDP shard of the fp32 master weights
    grads: int            # FSDP shard of the fp32 gradients, accumulated over the micro-batches of an update
    optimizer: int        # FSDP shard of Adam's two fp32 moments
    gathered: int         # verl's root FSDP unit (embedding, LM head) all-gathered in bf16 for the whole step
    reference_host: int   # the reference model's shard, host memory
    rollout_weights: int  # vLLM's bf16 weights per GPU (1/TP); rollout hf: its bf16 copy of the model
    kv_cache: int         # what vLLM keeps for the KV cache: gpu_memory_utilization x GPU - its weights; rollout hf:
                          # one generate batch (hf_generate_bytes)
    activation_terms: tuple[tuple[str, int], ...]   # training micro-batch, named (micro_batch_terms)
    inference_activations: int  # log-prob micro-batch (old / ref log-probs)
    gpu: int
    idle_weights: int = -1     # weights / optimizer left on the GPU between phases (verl's param/optimizer_offload
    idle_optimizer: int = -1   # move them to the host there, and back for the update); -1: same as during the update

    @property
    def activations(self) -> int:
        return sum(b for _, b in self.activation_terms)

    @property
    def rollout_peak(self) -> int:  # vLLM awake, actor shards resident unless offloaded
        return self._idle(self.idle_weights, self.weights) + self._idle(self.idle_optimizer, self.optimizer) + \
            self.rollout_weights + self.kv_cache

    @property
    def logprob_peak(self) -> int:  # verl's eval mode loads the weights, not the optimizer
        return self.weights + self._idle(self.idle_optimizer, self.optimizer) + self.gathered + \
            self.inference_activations

    @property
    def train_peak(self) -> int:  # verl's train mode loads weights and optimizer back (offload or not)
        return self.weights + self.grads + self.optimizer + self.gathered + self.activations

    @property
    def peak(self) -> int:
        return max(self.rollout_peak, self.logprob_peak, self.train_peak)

    @property
    def reserved(self) -> int:
        """What the GPU must hold: the trainer's allocations times the measured `FRAGMENTATION` (vLLM sizes its own
        pool: its weights and KV cache count once)."""
        vllm = self.rollout_weights + self.kv_cache
        return int(max((self.rollout_peak - vllm) * FRAGMENTATION + vllm, self.logprob_peak * FRAGMENTATION,
                       self.train_peak * FRAGMENTATION))

    @staticmethod
    def _idle(idle: int, resident: int) -> int:
        return resident if idle < 0 else idle


def hf_generate_bytes(shape: ModelShape, seqs: int, prompt: int, response: int, logprobs: bool = True) -> int:
    """What rollout `hf` allocates for one `generate` batch of `seqs` sequences: the bf16 KV cache of prompt +
    response tokens and, with log-probs (verl's `rollout.calculate_log_probs`, which rollout correction needs), the
    fp32 scores `generate` keeps for every step (response x vocab x 4 bytes a sequence)."""
    per_seq = (prompt + response) * shape.kv_bytes_per_token() + (response * shape.vocab * 4 if logprobs else 0)
    return int(seqs) * per_seq


def rl_memory(shape: ModelShape, n_gpus: int, tp: int, gpu_bytes: int, gpu_memory_utilization: float,
              train_tokens_per_gpu: int, logprob_tokens_per_gpu: int, ref_dtype_bytes: int = 2,
              param_offload: bool = False, optimizer_offload: bool = False, rollout: bool = True,
              kernels: Kernels = Kernels(), entropy: bool = False, offload_policy: bool = False,
              hf_generate: int | None = None) -> Memory:
    """Per-GPU estimate for an FSDP actor sharded over all `n_gpus` (verl's default fsdp_size -1) colocated with vLLM
    replicas of `tp` GPUs (`rollout=False`: SFT, no vLLM; `hf_generate`: rollout `hf` instead, its bf16 copy of the
    model plus `hf_generate_bytes` of one generate batch in place of vLLM's KV-cache share).

    verl's `param_offload` / `optimizer_offload` free the GPU between phases (the vLLM rollout) but load the shards
    back for the update (its engine's train mode), so they do not lower the training peak; FSDP2's `offload_policy`
    keeps weights, gradients and Adam on the host throughout (the optimizer steps on the CPU)."""
    p = shape.params()
    rollout_weights = 2 * p // tp if rollout else 0
    on_gpu = 0 if offload_policy else 1
    return Memory(
        weights=on_gpu * 4 * p // n_gpus,
        grads=on_gpu * 4 * p // n_gpus,
        optimizer=on_gpu * 8 * p // n_gpus,
        gathered=2 * shape.embedding_params(),
        reference_host=ref_dtype_bytes * p // n_gpus,
        rollout_weights=rollout_weights,
        kv_cache=(hf_generate if hf_generate is not None else
                  max(int(gpu_memory_utilization * gpu_bytes) - rollout_weights, 0)) if rollout else 0,
        activation_terms=tuple(micro_batch_terms(shape, train_tokens_per_gpu, True, kernels, entropy)),
        inference_activations=sum(b for _, b in micro_batch_terms(shape, logprob_tokens_per_gpu, False, kernels)),
        gpu=gpu_bytes,
        idle_weights=0 if param_offload else -1,
        idle_optimizer=0 if optimizer_offload else -1,
    )


def gib(b: int | float) -> str:
    return f"{b / GIB:.1f} GiB"

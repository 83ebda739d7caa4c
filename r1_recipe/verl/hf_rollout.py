"""verl rollout `hf`: Hugging Face `generate` behind the interface verl's agent loop talks to, on the CPU or a GPU.

verl 0.9.1's trainer (`main_ppo`) generates through rollout *servers*: the agent loop sends
`generate(prompt_ids, sampling_params, request_id)` to a Ray actor and gets a `TokenOutput` back; after each update the
actor worker pushes its weights through a `BaseRollout` adapter. verl ships vLLM, SGLang and TensorRT-LLM servers, all
GPU-only. This module provides the same three pieces on plain PyTorch:

- `HFRolloutServer`: one Ray actor per replica holding a `transformers` model on the device of the trainer worker it
  serves (`Placement`): float32 on the CPU, `rollout.dtype` (bfloat16) on a GPU. Concurrent requests are
  batched: the requests waiting when the model becomes free are grouped by sampling parameters and generated in one
  left-padded `model.generate` call of at most `rollout.max_num_seqs` rows. Log-probs are "processed" (after
  temperature / top-k / top-p), as verl's vLLM server returns them by default (`rollout.logprobs_mode:
  processed_logprobs`).
- `HFReplica` (`RolloutReplica`): starts that actor (`launch_servers`).
- `HFServerAdapter` (`BaseRollout`): lives in the actor/rollout worker; `update_weights` sends the full state dict to
  its replica's server; `resume` / `release` are no-ops (no KV cache is kept between requests).

Selected with `actor_rollout_ref.rollout.name=hf` (registered on every host by `install()`, which r1_recipe.verl.plugin
calls; vLLM stays verl's default). Scope: text-only models, tensor/pipeline parallel size 1 (one replica per trainer
rank), the hybrid engine (`main_ppo`'s default). For checks, small GPUs and environments without vLLM: `generate` has
no paged KV cache or continuous batching, so it is many times slower than vLLM (docs/cpu.md, "The hf rollout on a GPU").
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any

import ray
import torch

NAME = "hf"


def server_name(replica_rank: int, kind: str = "", suffix: str = "") -> str:
    """Ray actor name of a replica's server (looked up by the adapter in the trainer's worker)."""
    return f"hf_rollout_server{kind}_{replica_rank}{suffix}"


_DTYPES = {"bf16": "bfloat16", "fp16": "float16", "half": "float16", "fp32": "float32", "float": "float32"}


def rollout_dtype(device: str, dtype: str = "bfloat16") -> torch.dtype:
    """The dtype the server holds the model in: `rollout.dtype` (verl's default bfloat16, what vLLM serves) on an
    accelerator; float32 on the CPU, where bf16 matmuls are slow without AMX/AVX512-BF16 and the models are tiny."""
    if str(device).partition(":")[0] == "cpu":
        return torch.float32
    name = _DTYPES.get(str(dtype), str(dtype))
    value = getattr(torch, name, None)
    if not isinstance(value, torch.dtype):
        raise ValueError(f"actor_rollout_ref.rollout.dtype={dtype!r} is not a torch dtype")
    return value


@dataclass(frozen=True)
class Placement:
    """Where a replica's server runs: the device type of verl's platform and the Ray accelerator id of the trainer
    worker the replica serves (hybrid engine: server and worker share that device, as verl's vLLM servers do)."""

    device_type: str = "cpu"
    accelerator_id: str | None = None
    visible_envvar: str = "CUDA_VISIBLE_DEVICES"

    def device(self, env=None) -> str:
        """The torch device in the server's process. The server is started with Ray's NOSET variable, so it sees the
        devices its node was started with (`visible_envvar` in `env`): the worker's id is looked up there; unset, the
        id is the device index."""
        if self.device_type == "cpu" or self.accelerator_id is None:
            return "cpu"
        env = os.environ if env is None else env
        visible = [v.strip() for v in env.get(self.visible_envvar, "").split(",") if v.strip()]
        if not visible:
            return f"{self.device_type}:{int(self.accelerator_id)}"
        if str(self.accelerator_id) not in visible:
            raise RuntimeError(f"rollout `hf`: the trainer worker's device {self.accelerator_id} is not among "
                               f"{self.visible_envvar}={','.join(visible)} of the server's process")
        return f"{self.device_type}:{visible.index(str(self.accelerator_id))}"


def placement_options(node_id: str | None, noset_envvars: list[str]) -> dict:
    """Ray actor options that put a server next to its trainer worker: the same node, and Ray's NOSET variables so that
    an actor holding no GPU resource still sees the node's devices (Ray hides them from such actors otherwise)."""
    if node_id is None:
        return {}
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return {"scheduling_strategy": NodeAffinitySchedulingStrategy(node_id=node_id, soft=False),
            "runtime_env": {"env_vars": {var: "1" for var in noset_envvars}}}


def _worker_placement(worker, resource: str) -> tuple[str, str | None]:
    """Run inside a trainer worker (`__ray_call__`): its node and the id of the accelerator Ray gave it."""
    context = ray.get_runtime_context()
    ids = context.get_accelerator_ids().get(resource) or [None]
    return context.get_node_id(), ids[0]


def max_new_tokens(prompt_len: int, sampling_params: dict, prompt_length: int, response_length: int,
                   max_model_len: int) -> int:
    """The response budget, computed as verl's vLLM server does: an explicit `max_tokens`/`max_new_tokens`, else
    min(response_length, prompt_length + response_length - prompt_len), clamped to [1, max_model_len - prompt_len]."""
    room = max_model_len - prompt_len
    if room < 1:
        raise ValueError(f"prompt of {prompt_len} tokens leaves no room within max_model_len={max_model_len}")
    requested = sampling_params.get("max_tokens", sampling_params.get("max_new_tokens"))
    if requested is None:
        requested = min(response_length, prompt_length + response_length - prompt_len)
    return max(1, min(int(requested), room))


def _generate_kwargs(params: dict) -> dict:
    """vLLM-style sampling parameters -> `model.generate` keyword arguments."""
    temperature = float(params.get("temperature", 1.0))
    do_sample = temperature > 0
    kwargs: dict[str, Any] = {"do_sample": do_sample,
                              "repetition_penalty": float(params.get("repetition_penalty", 1.0) or 1.0)}
    if do_sample:
        top_k = int(params.get("top_k", -1) or -1)
        kwargs.update(temperature=temperature, top_p=float(params.get("top_p", 1.0)), top_k=top_k if top_k > 0 else 0)
    return kwargs


def _batch_key(request: dict) -> tuple:
    params = request["params"]
    return (request["max_new_tokens"], bool(params.get("logprobs")), bool(params.get("ignore_eos")),
            tuple(sorted(_generate_kwargs(params).items())))


class HFRolloutServer:
    """Rollout server for one replica: a `transformers` causal LM on `placement`'s device, driven by verl's agent
    loop. `dtype` defaults to `rollout_dtype(device, rollout.dtype)`."""

    def __init__(self, config, model_config, replica_rank: int, placement: Placement | None = None,
                 dtype: torch.dtype | None = None):
        from transformers import AutoModelForCausalLM
        from verl.utils.config import omega_conf_to_dataclass
        from verl.workers.config import HFModelConfig, RolloutConfig

        self.config: RolloutConfig = omega_conf_to_dataclass(config)
        self.model_config: HFModelConfig = omega_conf_to_dataclass(model_config, dataclass_type=HFModelConfig)
        self.replica_rank = replica_rank
        self.device = torch.device((placement or Placement()).device())
        self.dtype = dtype or rollout_dtype(self.device.type, self.config.dtype)
        self.model = AutoModelForCausalLM.from_pretrained(self.model_config.local_path, dtype=self.dtype,
                                                          attn_implementation="sdpa").to(self.device)
        self.model.eval()
        print(f"rollout hf: replica {replica_rank} serves on {self.device} in {self.dtype}", flush=True)
        torch.manual_seed(self.config.seed + replica_rank)  # as verl seeds vLLM: rollout.seed, one stream per replica
        hf_config = self.model.config
        self.max_model_len = self.config.max_model_len or hf_config.max_position_embeddings
        tokenizer = self.model_config.tokenizer
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if tokenizer is not None and tokenizer.eos_token_id is not None:
            eos_ids.add(tokenizer.eos_token_id)
        self.eos_ids = sorted(eos_ids)
        pad = tokenizer.pad_token_id if tokenizer is not None else None
        self.pad_id = pad if pad is not None else (self.eos_ids[0] if self.eos_ids else 0)
        self.global_steps = None
        self.max_batch = max(1, int(self.config.max_num_seqs or 1))
        self._pending: list[dict] = []
        self._worker: asyncio.Task | None = None
        self._model_lock = asyncio.Lock()
        self._allowed = asyncio.Event()
        self._allowed.set()

    def get_server_address(self) -> str:
        return server_name(self.replica_rank)

    # -- generation ------------------------------------------------------------------------------------------------

    async def generate(self, prompt_ids, sampling_params: dict[str, Any], request_id: str, image_data=None,
                       video_data=None, audio_data=None, mm_processor_kwargs=None, **kwargs):
        from verl.workers.rollout.replica import TokenOutput

        if image_data or video_data or audio_data:
            raise NotImplementedError("rollout `hf` serves text-only models")
        await self._allowed.wait()
        prompt = [int(t) for t in prompt_ids]
        budget = max_new_tokens(len(prompt), sampling_params, self.config.prompt_length, self.config.response_length,
                                self.max_model_len)
        future = asyncio.get_running_loop().create_future()
        self._pending.append({"prompt": prompt, "params": dict(sampling_params), "max_new_tokens": budget,
                              "future": future})
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        token_ids, log_probs = await future
        return TokenOutput(token_ids=token_ids, log_probs=log_probs, stop_reason="completed",
                           extra_fields={"global_steps": self.global_steps})

    async def _drain(self):
        while self._pending:
            await asyncio.sleep(0.01)  # let the requests sent together arrive before batching
            batch, rest = [], []
            key = _batch_key(self._pending[0])
            for request in self._pending:  # at most rollout.max_num_seqs at once: a GPU holds their KV and scores
                (batch if _batch_key(request) == key and len(batch) < self.max_batch else rest).append(request)
            self._pending = rest
            try:
                async with self._model_lock:
                    results = await asyncio.to_thread(self._generate_batch, batch)
                for request, result in zip(batch, results, strict=True):
                    request["future"].set_result(result)
            except Exception as e:  # every waiting request fails, not only the first
                for request in batch:
                    if not request["future"].done():
                        request["future"].set_exception(e)

    @torch.no_grad()
    def _generate_batch(self, batch: list[dict]) -> list[tuple[list[int], list[float] | None]]:
        params = batch[0]["params"]
        want_logprobs = bool(params.get("logprobs"))
        budget = batch[0]["max_new_tokens"]
        width = max(len(r["prompt"]) for r in batch)
        input_ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, request in enumerate(batch):  # left padding: every row's last prompt token sits at `width - 1`
            n = len(request["prompt"])
            input_ids[i, width - n:] = torch.tensor(request["prompt"])
            attention_mask[i, width - n:] = 1
        input_ids, attention_mask = input_ids.to(self.device), attention_mask.to(self.device)
        out = self.model.generate(input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=budget,
                                  min_new_tokens=budget if params.get("ignore_eos") else None,
                                  eos_token_id=self.eos_ids or None, pad_token_id=self.pad_id,
                                  return_dict_in_generate=True, output_scores=want_logprobs,
                                  **_generate_kwargs(params))
        new = out.sequences[:, width:]
        logprobs = None
        if want_logprobs:  # out.scores: T x (bs, vocab), after the logits processors; one step at a time, not a copy
            logprobs = torch.stack([torch.log_softmax(step.float(), dim=-1).gather(-1, new[:, t:t + 1]).squeeze(-1)
                                    for t, step in enumerate(out.scores)], dim=1).cpu()
        new = new.cpu()
        results = []
        eos = torch.tensor(self.eos_ids, dtype=torch.long)
        for i in range(len(batch)):
            is_eos = torch.isin(new[i], eos)
            length = int(is_eos.nonzero()[0, 0]) + 1 if is_eos.any() else new.shape[1]  # keep the EOS, as vLLM
            tokens = new[i, :length].tolist()
            results.append((tokens, logprobs[i, :length].tolist() if logprobs is not None else None))
        return results

    # -- weights and lifecycle (called by HFServerAdapter and by verl's replica/checkpoint managers) ----------------

    async def update_weights(self, state_dict: dict[str, torch.Tensor], global_steps: int | None = None):
        async with self._model_lock:
            missing, unexpected = self.model.load_state_dict(state_dict, strict=False)
            tied = set(getattr(self.model, "_tied_weights_keys", None) or [])
            if unexpected or set(missing) - tied - {"lm_head.weight"}:
                raise ValueError(f"weights do not match the rollout model: missing {missing}, unexpected {unexpected}")
            if self.model.config.tie_word_embeddings:
                self.model.tie_weights()
        self.global_steps = global_steps

    async def set_global_steps(self, global_steps: int):
        self.global_steps = global_steps

    async def abort_all_requests(self, reject_request: bool = False):
        # Requests already batched finish (a CPU generate cannot be interrupted); new ones wait for resume.
        self._allowed.clear()

    async def resume_generation(self):
        self._allowed.set()

    def _free_device_cache(self) -> None:
        # The trainer shares this GPU: hand back the blocks `generate` cached (its KV cache is freed with its output).
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    async def wake_up(self):
        return None

    async def sleep(self):
        self._free_device_cache()

    async def clear_kv_cache(self):
        self._free_device_cache()

    async def release_kv_cache(self):
        self._free_device_cache()

    async def resume_kv_cache(self):
        return None

    async def start_profile(self, **kwargs):
        return None

    async def stop_profile(self):
        return None


def _replica_class():
    from verl.workers.rollout.replica import RolloutReplica

    class HFReplica(RolloutReplica):
        """One `HFRolloutServer` actor per replica; tensor/pipeline parallel size must be 1."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            for key in ("tensor_model_parallel_size", "pipeline_model_parallel_size"):
                if getattr(self.config, key) != 1:
                    raise ValueError(f"actor_rollout_ref.rollout.{key}={getattr(self.config, key)}: rollout `hf` "
                                     "runs one whole model per replica; set it to 1")

        def rollout_worker_use_gpu(self) -> bool:
            from verl.utils.device import get_device_name

            return get_device_name() != "cpu"

        async def _placement(self) -> tuple[Placement, dict]:
            """The server's placement and Ray options: next to the trainer worker it serves, on that worker's
            accelerator (what verl's vLLM replica does); the CPU when verl's platform is `cpu`."""
            from verl.plugin.platform import get_platform

            platform = get_platform()
            if platform.device_name == "cpu" or not self.workers:
                return Placement(), {}
            node_id, accelerator_id = await self.workers[0].__ray_call__.remote(_worker_placement,
                                                                                platform.ray_resource_name())
            placement = Placement(platform.device_name, accelerator_id, platform.visible_devices_envvar())
            return placement, placement_options(node_id, platform.ray_noset_envvars())

        async def launch_servers(self):
            kind = "_reward" if self.is_reward_model else "_teacher" if self.is_teacher_model else ""
            name = server_name(self.replica_rank, kind, self.name_suffix)
            placement, options = await self._placement()
            # num_cpus=0: the server holds no logical CPU (verl's vLLM servers use Ray's actor default, which holds
            # none once running); asking for 1 CPU each stalled start-up with 2 trainer ranks. It holds no GPU
            # resource either: the trainer worker's bundle has it, and the server shares that device (placement).
            server = ray.remote(HFRolloutServer).options(
                name=name, num_cpus=0, max_concurrency=self.max_concurrency, **options,
            ).remote(config=self.config, model_config=self.model_config, replica_rank=self.replica_rank,
                     placement=placement)
            await server.get_server_address.remote()  # raises here if the model failed to load
            self.servers = [server]
            self._server_handle = server
            self._server_address = name

    return HFReplica


def _adapter_class():
    from verl.workers.rollout.base import BaseRollout

    class HFServerAdapter(BaseRollout):
        """Rollout side of the trainer worker: pushes the actor's weights to this rank's `HFRolloutServer`."""

        def __init__(self, config, model_config, device_mesh, replica_rank: int = -1, **kwargs):
            super().__init__(config, model_config, device_mesh)
            # tensor/pipeline parallel size 1: every data-parallel rank is the leader of its own replica
            self.replica_rank = device_mesh["dp"].get_local_rank() if device_mesh is not None else replica_rank
            self._server = None

        def _server_handle(self):
            if self._server is None:
                self._server = ray.get_actor(server_name(self.replica_rank))
            return self._server

        async def resume(self, tags: list[str]):
            return None

        async def release(self):
            return None

        async def update_weights(self, weights, wire_format: str = "named_tensors", peft_config=None,
                                 global_steps: int | None = None, **kwargs):
            if wire_format != "named_tensors":
                raise NotImplementedError(f"rollout `hf` takes full named tensors, not wire_format={wire_format!r}")
            if peft_config is not None:
                raise NotImplementedError("rollout `hf` needs merged weights: set actor_rollout_ref.model.lora.merge="
                                          "true for LoRA")
            # The generator all-gathers sharded parameters: every rank must consume it. Tensors cross to the server
            # in its dtype (bf16 from a GPU: half the bytes) through host memory, one state dict per update.
            dtype = self.config.dtype
            state = {name: tensor.detach().to("cpu", rollout_dtype(tensor.device.type, dtype), copy=True)
                     for name, tensor in weights}
            await self._server_handle().update_weights.remote(state, global_steps)

    return HFServerAdapter


def __getattr__(name: str):
    # verl resolves the adapter by dotted path (`_ROLLOUT_REGISTRY`): build the class on first access, once.
    if name in globals():
        return globals()[name]
    if name == "HFServerAdapter":
        cls = _adapter_class()
        globals()[name] = cls
        return cls
    if name == "HFReplica":
        cls = _replica_class()
        globals()[name] = cls
        return cls
    raise AttributeError(name)


def _register_replica(replica) -> None:
    replica.RolloutReplicaRegistry.register(NAME, lambda: __getattr__("HFReplica"))


def _register_adapter(base) -> None:
    # verl 0.9.1 has no public registration for adapters; this dict is what get_rollout_class reads.
    base._ROLLOUT_REGISTRY[(NAME, "async")] = f"{__name__}.HFServerAdapter"


def register() -> None:
    """Register rollout `hf` with verl now (`actor_rollout_ref.rollout.name=hf`); imports verl's rollout modules."""
    from verl.workers.rollout import base, replica

    _register_adapter(base)
    _register_replica(replica)


def install() -> None:
    """Register rollout `hf` when verl's rollout modules are imported (now if they are): the plugin calls this at
    `import verl` in every process, on every host, without importing them itself."""
    from r1_recipe.verl.hooks import after_import

    after_import("verl.workers.rollout.base", _register_adapter, "rollout hf (worker adapter)")
    after_import("verl.workers.rollout.replica", _register_replica, "rollout hf (replica)")

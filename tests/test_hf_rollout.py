"""Rollout `hf` (r1_recipe.verl.hf_rollout): the server verl's agent loop talks to, without Ray; its placement on
the trainer worker's device and its dtype. Device-dependent tests take the device as a parameter: `cpu` here, `cuda`
too where a GPU is visible."""

from __future__ import annotations

import asyncio
import types

import pytest
import torch

from r1_recipe.verl import hf_rollout
from r1_recipe.verl.hf_rollout import (
    HFRolloutServer,
    Placement,
    _generate_kwargs,
    max_new_tokens,
    placement_options,
    rollout_dtype,
)

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU"))]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from _cpu_fixtures import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("hf_rollout") / "model", seed=0)


def make_server(model_dir, response_length=8, device="cpu", dtype=None):
    from verl.workers.config import HFModelConfig, RolloutConfig

    placement = Placement() if device == "cpu" else Placement(device, "0")
    return HFRolloutServer(RolloutConfig(name="hf", prompt_length=64, response_length=response_length),
                           HFModelConfig(path=str(model_dir)), replica_rank=0, placement=placement, dtype=dtype)


def generate_all(server, prompts, params):
    async def run():
        return await asyncio.gather(*[server.generate(prompt_ids=p, sampling_params=dict(params), request_id=str(i))
                                      for i, p in enumerate(prompts)])
    return asyncio.run(run())


PROMPTS = [[5, 17, 33, 8], [40, 2], [9, 9, 100, 101, 102, 7]]   # different lengths: the batch is left-padded


@pytest.mark.parametrize("prompt_len, params, expected", [
    (10, {}, 8),                          # response_length
    (60, {}, 8),                          # prompt_length + response_length - prompt_len = 12 > 8
    (70, {}, 2),                          # 64 + 8 - 70
    (10, {"max_tokens": 3}, 3),
    (10, {"max_new_tokens": 5}, 5),
    (500, {"max_tokens": 50}, 12),        # max_model_len 512 - 500
])
def test_response_budget_follows_verls_vllm_server(prompt_len, params, expected):
    assert max_new_tokens(prompt_len, params, prompt_length=64, response_length=8, max_model_len=512) == expected


def test_a_prompt_that_fills_the_context_is_refused():
    with pytest.raises(ValueError, match="no room"):
        max_new_tokens(512, {}, prompt_length=64, response_length=8, max_model_len=512)


def test_sampling_parameters_map_to_generate_arguments():
    assert _generate_kwargs({"temperature": 0.6, "top_p": 0.95, "top_k": -1, "repetition_penalty": 1.0}) == {
        "do_sample": True, "repetition_penalty": 1.0, "temperature": 0.6, "top_p": 0.95, "top_k": 0}
    assert _generate_kwargs({"temperature": 0, "top_p": 1.0, "top_k": 20}) == {"do_sample": False,
                                                                              "repetition_penalty": 1.0}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [None, torch.bfloat16], ids=["default", "bf16"])
def test_batched_greedy_generation_equals_one_prompt_at_a_time_and_log_probs_match_the_model(model_dir, device, dtype):
    server = make_server(model_dir, device=device, dtype=dtype)
    expected_dtype = dtype or (torch.float32 if device == "cpu" else torch.bfloat16)
    assert server.device.type == device
    assert {p.dtype for p in server.model.parameters()} == {expected_dtype}
    assert {p.device.type for p in server.model.parameters()} == {device}
    outputs = generate_all(server, PROMPTS, {"temperature": 0, "top_p": 1.0, "top_k": -1, "logprobs": True})
    model = server.model
    for prompt, out in zip(PROMPTS, outputs, strict=True):
        assert 1 <= len(out.token_ids) <= 8
        assert out.stop_reason == "completed"
        with torch.no_grad():
            logits = model(torch.tensor([prompt + out.token_ids], device=device)).logits[0, len(prompt) - 1:-1]
        log_softmax = torch.log_softmax(logits.float(), -1).cpu()
        expected = log_softmax.gather(-1, torch.tensor(out.token_ids)[:, None])[:, 0]
        if expected_dtype == torch.float32:
            alone = model.generate(torch.tensor([prompt], device=device), max_new_tokens=8, do_sample=False,
                                   eos_token_id=server.eos_ids, pad_token_id=server.pad_id)[0, len(prompt):].tolist()
            assert out.token_ids == alone[:len(out.token_ids)]
            torch.testing.assert_close(torch.tensor(out.log_probs), expected, atol=1e-4, rtol=0)
        else:  # bf16: left padding and the KV cache round differently; greedy up to near-ties, log-probs to 0.05
            torch.testing.assert_close(torch.tensor(out.log_probs), expected, atol=0.05, rtol=0)
            assert (log_softmax.max(-1).values - expected <= 0.05).all()


def test_requests_sent_together_with_the_same_parameters_share_one_generate_call(model_dir):
    server = make_server(model_dir)
    calls = []
    original = server._generate_batch
    server._generate_batch = lambda batch: calls.append(len(batch)) or original(batch)
    generate_all(server, PROMPTS, {"temperature": 0})
    assert calls == [3]
    calls.clear()
    generate_all(server, PROMPTS[:2] + PROMPTS[:2], {"temperature": 0, "max_tokens": 4})
    assert calls == [4]
    calls.clear()

    async def mixed():
        return await asyncio.gather(*[server.generate(prompt_ids=p, sampling_params={"temperature": 0, "max_tokens": m},
                                                      request_id=str(i))
                                      for i, (p, m) in enumerate(zip(PROMPTS, [4, 2, 4], strict=True))])
    lengths = [len(out.token_ids) for out in asyncio.run(mixed())]
    assert calls == [2, 1]                    # grouped by budget, first-come group first
    assert lengths[1] <= 2 and max(lengths) <= 4
    calls.clear()
    assert server.max_batch == server.config.max_num_seqs
    server.max_batch = 2                      # actor_rollout_ref.rollout.max_num_seqs=2
    generate_all(server, PROMPTS, {"temperature": 0})
    assert calls == [2, 1]


def test_the_response_stops_after_the_first_eos_and_keeps_it(model_dir):
    server = make_server(model_dir, response_length=8)
    server.eos_ids = []
    full = generate_all(server, PROMPTS[:1], {"temperature": 0})[0].token_ids
    assert len(full) == 8
    server.eos_ids = [full[2]]  # the third greedy token now ends the response
    out = generate_all(server, PROMPTS[:1], {"temperature": 0})[0]
    assert out.token_ids == full[:full.index(full[2]) + 1]
    assert out.log_probs is None


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [None, torch.bfloat16], ids=["default", "bf16"])
def test_update_weights_changes_what_the_server_generates_and_the_reported_step(model_dir, tmp_path, device, dtype):
    from _cpu_fixtures import build_tiny_model
    from transformers import AutoModelForCausalLM

    server = make_server(model_dir, device=device, dtype=dtype)
    other = AutoModelForCausalLM.from_pretrained(build_tiny_model(tmp_path / "other", seed=1), dtype=server.dtype)
    asyncio.run(server.update_weights(other.state_dict(), global_steps=3))
    for name, tensor in other.state_dict().items():  # copied into the server's device parameters, in its dtype
        assert torch.equal(server.model.state_dict()[name].cpu(), tensor), name
    assert server.model.lm_head.weight.data_ptr() == server.model.model.embed_tokens.weight.data_ptr()  # still tied
    out = generate_all(server, PROMPTS[:1], {"temperature": 0})[0]
    other.to(device)
    expected = other.generate(torch.tensor([PROMPTS[0]], device=device), max_new_tokens=8, do_sample=False,
                              eos_token_id=server.eos_ids, pad_token_id=server.pad_id)[0, len(PROMPTS[0]):].tolist()
    assert out.token_ids == expected[:len(out.token_ids)]
    assert out.extra_fields["global_steps"] == 3


def test_weights_of_another_architecture_are_refused(model_dir):
    server = make_server(model_dir)
    with pytest.raises(ValueError, match="unexpected"):
        asyncio.run(server.update_weights({"not.a.layer": torch.zeros(2)}))


@pytest.mark.parametrize("device, dtype, expected", [
    ("cpu", "bfloat16", torch.float32),       # CPUs: float32 whatever rollout.dtype says
    ("cuda", "bfloat16", torch.bfloat16),     # verl's default rollout.dtype, what vLLM serves
    ("cuda:1", "bf16", torch.bfloat16),
    ("cuda", "float16", torch.float16),
    ("npu", "fp32", torch.float32),
])
def test_the_rollout_dtype_is_float32_on_cpus_and_rollout_dtype_on_accelerators(device, dtype, expected):
    assert rollout_dtype(device, dtype) is expected


def test_an_unknown_rollout_dtype_is_refused_naming_the_key():
    with pytest.raises(ValueError, match="actor_rollout_ref.rollout.dtype='bfloat17'"):
        rollout_dtype("cuda", "bfloat17")


@pytest.mark.parametrize("placement, env, expected", [
    (Placement(), {"CUDA_VISIBLE_DEVICES": "3"}, "cpu"),
    (Placement("cuda", "3"), {}, "cuda:3"),                                  # node started with every GPU visible
    (Placement("cuda", "3"), {"CUDA_VISIBLE_DEVICES": "2,3"}, "cuda:1"),      # node started with GPUs 2 and 3
    (Placement("cuda", "GPU-b2"), {"CUDA_VISIBLE_DEVICES": "GPU-a1, GPU-b2"}, "cuda:1"),   # UUIDs
    (Placement("npu", "5", "ASCEND_RT_VISIBLE_DEVICES"), {"ASCEND_RT_VISIBLE_DEVICES": "4,5,6",
                                                          "CUDA_VISIBLE_DEVICES": "0"}, "npu:1"),
])
def test_the_server_uses_the_device_ray_gave_its_trainer_worker(placement, env, expected):
    assert placement.device(env) == expected


def test_a_worker_device_hidden_from_the_server_is_an_error_not_another_gpu():
    with pytest.raises(RuntimeError, match="device 5 is not among CUDA_VISIBLE_DEVICES=2,3"):
        Placement("cuda", "5").device({"CUDA_VISIBLE_DEVICES": "2,3"})


def test_a_gpu_server_is_pinned_to_its_workers_node_and_keeps_the_nodes_devices_visible():
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    assert placement_options(None, ["RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES"]) == {}
    options = placement_options(NODE, ["RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES"])
    strategy = options["scheduling_strategy"]
    assert isinstance(strategy, NodeAffinitySchedulingStrategy)
    assert (strategy.node_id, strategy.soft) == (NODE, False)
    assert options["runtime_env"] == {"env_vars": {"RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES": "1"}}


NODE = "a1" * 28   # a Ray node id: 28 bytes in hex


class _Worker:
    """A trainer worker handle: `__ray_call__.remote(fn, *args)` runs `fn(worker, *args)` (Ray's contract)."""

    def __init__(self, node_id, accelerator_ids):
        self.context = types.SimpleNamespace(get_node_id=lambda: node_id,
                                             get_accelerator_ids=lambda: accelerator_ids)
        self.__ray_call__ = types.SimpleNamespace(remote=self._call)

    async def _call(self, fn, *args):
        import ray

        original = ray.get_runtime_context
        ray.get_runtime_context = lambda: self.context
        try:
            return fn(self, *args)
        finally:
            ray.get_runtime_context = original


def test_the_replica_places_its_server_with_the_trainer_worker_it_serves(monkeypatch):
    import verl.plugin.platform as platform

    replica = types.SimpleNamespace(workers=[_Worker(NODE, {"GPU": ["2"], "CPU": []})])
    cls = hf_rollout.__getattr__("HFReplica")
    assert asyncio.run(cls._placement(replica)) == (Placement(), {})   # platform cpu (this host): the CPU
    cuda = types.SimpleNamespace(device_name="cuda", ray_resource_name=lambda: "GPU",
                                 visible_devices_envvar=lambda: "CUDA_VISIBLE_DEVICES",
                                 ray_noset_envvars=lambda: ["RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES"])
    monkeypatch.setattr(platform, "get_platform", lambda: cuda)
    placement, options = asyncio.run(cls._placement(replica))
    assert placement == Placement("cuda", "2", "CUDA_VISIBLE_DEVICES")
    assert options["scheduling_strategy"].node_id == NODE
    assert options["runtime_env"]["env_vars"] == {"RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES": "1"}


@pytest.mark.parametrize("device", DEVICES)
def test_the_adapter_sends_the_weights_in_the_servers_dtype(model_dir, device):
    from transformers import AutoModelForCausalLM
    from verl.workers.config import HFModelConfig, RolloutConfig

    sent = []
    adapter = hf_rollout.__getattr__("HFServerAdapter")(RolloutConfig(name="hf", prompt_length=64, response_length=8),
                                                         HFModelConfig(path=str(model_dir)), None, replica_rank=0)
    adapter._server = types.SimpleNamespace(update_weights=types.SimpleNamespace(
        remote=lambda state, step: asyncio.sleep(0, sent.append((state, step)))))
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).to(device)
    asyncio.run(adapter.update_weights(iter(model.state_dict().items()), global_steps=5))
    (state, step), = sent
    assert step == 5 and state.keys() == model.state_dict().keys()
    wire = torch.float32 if device == "cpu" else torch.bfloat16
    for name, tensor in model.state_dict().items():
        assert state[name].device.type == "cpu" and state[name].dtype == wire
        assert torch.equal(state[name], tensor.cpu().to(wire))
        assert state[name].data_ptr() != tensor.data_ptr()   # a copy: the trainer's buffer may be reused


def test_rollout_hf_is_registered_on_accelerator_hosts_too(monkeypatch):
    from verl.workers.rollout import base
    from verl.workers.rollout.replica import RolloutReplicaRegistry

    from r1_recipe.verl.cpu import platform

    monkeypatch.setattr(platform, "accelerator_found", lambda: True)
    monkeypatch.delitem(base._ROLLOUT_REGISTRY, ("hf", "async"))
    monkeypatch.delitem(RolloutReplicaRegistry._registry, "hf")
    hf_rollout.install()  # what the plugin calls at `import verl` on every host
    assert RolloutReplicaRegistry.get("hf") is hf_rollout.__getattr__("HFReplica")
    assert base.get_rollout_class("hf", "async") is hf_rollout.__getattr__("HFServerAdapter")

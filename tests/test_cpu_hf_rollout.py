"""Rollout `hf` (r1_recipe.verl.cpu.hf_rollout): the server verl's agent loop talks to, without Ray."""

from __future__ import annotations

import asyncio

import pytest
import torch

from r1_recipe.verl.cpu.hf_rollout import HFRolloutServer, _generate_kwargs, max_new_tokens


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from _cpu_fixtures import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("hf_rollout") / "model", seed=0)


def make_server(model_dir, response_length=8):
    from verl.workers.config import HFModelConfig, RolloutConfig

    return HFRolloutServer(RolloutConfig(name="hf", prompt_length=64, response_length=response_length),
                           HFModelConfig(path=str(model_dir)), replica_rank=0)


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


def test_batched_greedy_generation_equals_one_prompt_at_a_time_and_log_probs_match_the_model(model_dir):
    server = make_server(model_dir)
    outputs = generate_all(server, PROMPTS, {"temperature": 0, "top_p": 1.0, "top_k": -1, "logprobs": True})
    model = server.model
    for prompt, out in zip(PROMPTS, outputs, strict=True):
        alone = model.generate(torch.tensor([prompt]), max_new_tokens=8, do_sample=False,
                               eos_token_id=server.eos_ids, pad_token_id=server.pad_id)[0, len(prompt):].tolist()
        assert out.token_ids == alone[:len(out.token_ids)]
        assert 1 <= len(out.token_ids) <= 8
        assert out.stop_reason == "completed"
        with torch.no_grad():
            logits = model(torch.tensor([prompt + out.token_ids])).logits[0, len(prompt) - 1:-1]
        expected = torch.log_softmax(logits.float(), -1).gather(-1, torch.tensor(out.token_ids)[:, None])[:, 0]
        torch.testing.assert_close(torch.tensor(out.log_probs), expected, atol=1e-4, rtol=0)


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


def test_the_response_stops_after_the_first_eos_and_keeps_it(model_dir):
    server = make_server(model_dir, response_length=8)
    server.eos_ids = []
    full = generate_all(server, PROMPTS[:1], {"temperature": 0})[0].token_ids
    assert len(full) == 8
    server.eos_ids = [full[2]]  # the third greedy token now ends the response
    out = generate_all(server, PROMPTS[:1], {"temperature": 0})[0]
    assert out.token_ids == full[:full.index(full[2]) + 1]
    assert out.log_probs is None


def test_update_weights_changes_what_the_server_generates_and_the_reported_step(model_dir, tmp_path):
    from _cpu_fixtures import build_tiny_model
    from transformers import AutoModelForCausalLM

    other = AutoModelForCausalLM.from_pretrained(build_tiny_model(tmp_path / "other", seed=1), dtype=torch.float32)
    server = make_server(model_dir)
    asyncio.run(server.update_weights(other.state_dict(), global_steps=3))
    out = generate_all(server, PROMPTS[:1], {"temperature": 0})[0]
    expected = other.generate(torch.tensor([PROMPTS[0]]), max_new_tokens=8, do_sample=False,
                              eos_token_id=server.eos_ids, pad_token_id=server.pad_id)[0, len(PROMPTS[0]):].tolist()
    assert out.token_ids == expected[:len(out.token_ids)]
    assert out.extra_fields["global_steps"] == 3


def test_weights_of_another_architecture_are_refused(model_dir):
    server = make_server(model_dir)
    with pytest.raises(ValueError, match="unexpected"):
        asyncio.run(server.update_weights({"not.a.layer": torch.zeros(2)}))

"""The `r1` reward manager driven the way verl's reward loop drives it: `run_single` on a one-trajectory DataProto."""

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from r1_recipe.core.templates import load

QUESTION = "What is 3 + 4?"


def config(**r1):
    return OmegaConf.create({
        "reward": {"reward_manager": {"name": "r1"}, "r1": r1 or {"components": {"accuracy": 1.0, "format": 1.0}}},
        "actor_rollout_ref": {"rollout": {"response_length": 40}},
    })


def trajectory(tok, prompt_text, response_text, eos=True, ground_truth="7", data_source="toy", pad_to=None,
               style="rule"):
    prompt = tok.encode(prompt_text)
    response = tok.encode(response_text) + ([tok.eos_token_id] if eos else [])
    valid = len(response)
    if pad_to:
        response = response + [tok.pad_token_id] * (pad_to - len(response))
    ids = torch.tensor([prompt + response])
    mask = torch.tensor([[1] * (len(prompt) + valid) + [0] * (len(response) - valid)])
    from verl import DataProto

    return DataProto.from_dict(
        tensors={"prompts": torch.tensor([prompt]), "responses": torch.tensor([response]), "input_ids": ids,
                 "attention_mask": mask, "position_ids": torch.arange(ids.shape[1]).unsqueeze(0)},
        non_tensors={"data_source": np.array([data_source], dtype=object),
                     "reward_model": np.array([{"style": style, "ground_truth": ground_truth}], dtype=object),
                     "extra_info": np.array([{"index": 0}], dtype=object),
                     "raw_prompt": np.array([[{"role": "user", "content": QUESTION}]], dtype=object),
                     "uid": np.array(["u0"], dtype=object)},
    )


@pytest.fixture(scope="module")
def manager(tiny_tokenizer):
    import verl  # noqa: F401  (the plugin registers `r1`)
    from verl.experimental.reward_loop.reward_manager import get_reward_manager_cls

    cls = get_reward_manager_cls("r1")
    # the keyword arguments verl's RewardLoopWorker passes
    return cls(config=config(), tokenizer=tiny_tokenizer, compute_score=None, reward_router_address=None,
               reward_model_tokenizer=None)


def run(mgr, data):
    return mgr.loop.run_until_complete(mgr.run_single(data))


def test_correct_well_formatted_response(manager, tiny_tokenizer):
    prompt = tiny_tokenizer.apply_chat_template([{"role": "user", "content": QUESTION}], chat_template=load("r1_zero"),
                                                add_generation_prompt=True, tokenize=False)
    response = " <think> 3 plus 4 is 7 </think> <answer> \\boxed{7} </answer>"
    out = run(manager, trajectory(tiny_tokenizer, prompt, response, pad_to=40))
    assert out == {"reward_score": 2.0, "reward_extra_info": {
        "score": 2.0, "acc": 1.0, "pred": "7", "accuracy": 1.0, "format": 1.0, "accuracy_reason": "",
        "format_reason": "", "infra_failure": 0.0,
        "response_truncated": 0.0, "reflection_words": 0.0, "language_mixed": 0.0}}


def test_wrong_answer_keeps_the_format_reward_and_the_key_set(manager, tiny_tokenizer):
    out = run(manager, trajectory(tiny_tokenizer, "Q:", "<think> 3 plus 4 is 8 </think> <answer> 8 </answer>"))
    assert out["reward_score"] == 1.0
    assert out["reward_extra_info"] == {"score": 1.0, "acc": 0.0, "pred": "8", "accuracy": 0.0, "format": 1.0,
                                        "accuracy_reason": "wrong", "format_reason": "", "infra_failure": 0.0,
        "response_truncated": 0.0, "reflection_words": 0.0, "language_mixed": 0.0}


def test_truncated_response_scores_zero(manager, tiny_tokenizer):
    text = "<think> " + "3 plus 4 " * 30 + "</think> <answer> 7 </answer>"  # longer than response_length=40
    ids = tiny_tokenizer.encode(text)[:40]
    data = trajectory(tiny_tokenizer, "Q:", tiny_tokenizer.decode(ids), eos=False)
    out = run(manager, data)
    assert out["reward_score"] == 0.0
    assert out["reward_extra_info"]["format_reason"] == "truncated"


def test_prompt_that_opens_think_does_not_break_the_format_reward(manager, tiny_tokenizer):
    prompt = "User: What is 3 + 4? Assistant: <think>\n"
    out = run(manager, trajectory(tiny_tokenizer, prompt, "3 plus 4 is 7 </think> <answer> 7 </answer>"))
    assert out["reward_extra_info"]["format"] == 1.0 and out["reward_score"] == 2.0


@pytest.mark.parametrize("field, value, reason", [
    ("extra_info", "index=3", "malformed_row: extra_info is str, not a mapping"),
    ("extra_info", [1, 2], "malformed_row: extra_info is list, not a mapping"),
    ("reward_model", "7", "malformed_row: reward_model is str, not a mapping"),
])
def test_malformed_row_fields_score_zero_with_the_reason(manager, tiny_tokenizer, field, value, reason):
    data = trajectory(tiny_tokenizer, "Q:", "<think> 3 plus 4 is 7 </think> <answer> 7 </answer>")
    column = np.empty(1, dtype=object)
    column[0] = value
    data.non_tensor_batch[field] = column
    out = run(manager, data)
    info = out["reward_extra_info"]
    assert out["reward_score"] == 0.0
    assert (info["accuracy_reason"], info["format_reason"], info["infra_failure"]) == (reason, reason, 0.0)
    assert list(info) == list(run(manager, trajectory(tiny_tokenizer, "Q:", "x"))["reward_extra_info"])


def test_missing_extra_info_is_not_malformed(manager, tiny_tokenizer):
    data = trajectory(tiny_tokenizer, "Q:", "<think> 3 plus 4 is 7 </think> <answer> 7 </answer>")
    data.non_tensor_batch["extra_info"] = np.array([float("nan")], dtype=object)  # a parquet gap
    assert run(manager, data)["reward_score"] == 2.0


def test_a_correct_65536_token_response_gets_its_verdict_within_the_deadline(manager, tiny_tokenizer, monkeypatch):
    """R1-Zero's second stage samples up to 65,536 tokens: a correct response of exactly that length, EOS included,
    scores 1 in accuracy and format (it was 0, `too_long`, past 200,000 characters), well within the deadline."""
    import time

    from verl import DataProto

    monkeypatch.setattr(manager, "max_response_length", 65_536)  # rollout.response_length of R1-Zero's stage 2
    tok = tiny_tokenizer
    head, tail = tok.encode("<think>"), tok.encode(" </think> <answer> \\boxed{7} </answer>")
    # ~4.6 characters a token with this tokenizer, as with real ones on English reasoning
    step = tok.encode(" Let me check: yes. A conversation between User and Assistant. The user asks a question.")
    body = (step * (65_536 // len(step) + 1))[: 65_536 - len(head) - len(tail) - 1]
    response = head + body + tail + [tok.eos_token_id]
    assert len(response) == 65_536
    prompt = tok.encode("Q:")
    ids = torch.tensor([prompt + response])
    data = DataProto.from_dict(
        tensors={"prompts": torch.tensor([prompt]), "responses": torch.tensor([response]), "input_ids": ids,
                 "attention_mask": torch.ones_like(ids), "position_ids": torch.arange(ids.shape[1]).unsqueeze(0)},
        non_tensors={"data_source": np.array(["toy"], dtype=object),
                     "reward_model": np.array([{"style": "rule", "ground_truth": "7"}], dtype=object),
                     "extra_info": np.array([{"index": 0}], dtype=object),
                     "raw_prompt": np.array([[{"role": "user", "content": QUESTION}]], dtype=object)})
    run(manager, trajectory(tok, "Q:", "<think> warm </think> <answer> 7 </answer>"))  # the workers are up
    start = time.monotonic()
    out = run(manager, data)
    elapsed = time.monotonic() - start
    info = out["reward_extra_info"]
    assert (info["accuracy"], info["format"], info["response_truncated"], info["infra_failure"]) == (1.0, 1.0, 0.0, 0.0)
    assert len(tok.decode(response)) > 290_000  # characters, decoded in the reward worker
    assert elapsed < manager.composer.cfg.timeout_s


def test_bad_reward_config_fails_when_the_manager_is_built(tiny_tokenizer):
    from r1_recipe.verl.reward_manager import R1RewardManager

    with pytest.raises(ValueError, match=r"reward\.r1\.components\.acuracy"):
        R1RewardManager(config=config(components={"acuracy": 1.0}), tokenizer=tiny_tokenizer, compute_score=None)


# ---- DAPO's overlong reward shaping (zero_dapo): the keys and the arithmetic of verl's own `dapo` manager ---------
OVERLONG = {"max_resp_len": 40, "overlong_buffer_cfg": {"enable": True, "len": 10, "penalty_factor": 1.0, "log": True}}


@pytest.fixture(scope="module")
def overlong_managers(tiny_tokenizer):
    """Our `r1` manager and verl's `dapo` manager on the same config, built once (each spawns a reward pool)."""
    from verl.experimental.reward_loop.reward_manager import get_reward_manager_cls

    cfg = config()
    cfg.reward.reward_kwargs = OVERLONG
    kwargs = {"config": cfg, "tokenizer": tiny_tokenizer, "reward_router_address": None,
              "reward_model_tokenizer": None}
    r1 = get_reward_manager_cls("r1")(compute_score=None, **kwargs)
    # verl's manager with the same components (accuracy + format) as its compute_score
    score = lambda data_source, solution_str, ground_truth, extra_info=None, **_: r1.composer.score(  # noqa: E731
        solution_str, ground_truth, extra_info)
    dapo = get_reward_manager_cls("dapo")(compute_score=score, **kwargs)
    yield r1, dapo
    r1.composer.pool.close()


@pytest.mark.parametrize("words, length", [(3, 18), (7, 30), (9, 36), (10, 39)])
def test_overlong_penalty_equals_verls_dapo_manager(overlong_managers, tiny_tokenizer, words, length):
    r1, dapo = overlong_managers
    data = trajectory(tiny_tokenizer, "Q:", "<think> " + "3 plus 4 " * words + "</think> <answer> 8 </answer>",
                      pad_to=40)
    assert int(data.batch["attention_mask"][0, -40:].sum()) == length  # response tokens, EOS included
    ours, verls = run(r1, data), run(dapo, data)
    penalty = min(-(length - 30) / 10, 0.0)  # eq. 13: 0 up to 40 - 10 tokens, then down to -1 at 40
    assert ours["reward_extra_info"]["overlong_reward"] == pytest.approx(penalty)
    assert float(verls["reward_extra_info"]["overlong_reward"]) == pytest.approx(penalty)
    assert ours["reward_score"] == pytest.approx(float(verls["reward_score"]))
    assert ours["reward_score"] == pytest.approx(1.0 + penalty)  # format 1, wrong answer
    assert ours["reward_extra_info"]["score"] == ours["reward_score"]
    assert ours["reward_extra_info"]["overlong"] == float(penalty < 0)


def test_overlong_buffer_longer_than_the_limit_fails_when_the_manager_is_built(tiny_tokenizer):
    from r1_recipe.verl.reward_manager import R1RewardManager

    cfg = config()
    cfg.reward.reward_kwargs = {**OVERLONG, "overlong_buffer_cfg": {"enable": True, "len": 50}}
    with pytest.raises(ValueError, match=r"reward\.reward_kwargs\.overlong_buffer_cfg\.len=50 > "
                                         r"reward\.reward_kwargs\.max_resp_len=40"):
        R1RewardManager(config=cfg, tokenizer=tiny_tokenizer, compute_score=None)


# ---- RL for all scenarios (§2.3.4): general rows scored by a reward model behind verl's reward router ------------
@pytest.fixture(scope="module")
def router():
    """A stand-in for verl's reward router serving a vLLM classifier: records each request, returns a fixed score."""
    import asyncio
    import threading

    from aiohttp import web

    seen, ready = [], threading.Event()
    state = {}

    async def classify(request):
        body = await request.json()
        seen.append(body)
        if "FAIL" in body["input"]:
            return web.json_response({"error": "bad input"}, status=400)
        return web.json_response({"data": [{"probs": [0.25, 0.75]}]})

    def serve():
        loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_post("/classify", classify)
        runner = web.AppRunner(app)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        state["address"] = f"127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
        state["loop"] = loop
        ready.set()
        loop.run_forever()

    threading.Thread(target=serve, daemon=True).start()
    ready.wait(10)
    yield state["address"], seen
    state["loop"].call_soon_threadsafe(state["loop"].stop)


def rm_config(enable=True, **rm):
    cfg = config(components={"accuracy": 1.0, "format": 1.0}, reward_model=rm or {"weight": 2.0, "timeout_s": 30})
    cfg.reward.reward_model = {"enable": enable, "model_path": "rm", "rollout": {"name": "vllm"}}
    cfg.reward.custom_reward_function = {"path": "pkg://r1_recipe.rewards", "name": "compute_score"}
    return cfg


@pytest.fixture(scope="module")
def rm_manager(tiny_tokenizer, router, tmp_path_factory):
    from conftest import build_tiny_tokenizer
    from verl.experimental.reward_loop.reward_manager import get_reward_manager_cls

    rm_tok = build_tiny_tokenizer(tmp_path_factory.mktemp("rm_tok"), chat_template=load("r1_chat"))
    return get_reward_manager_cls("r1")(config=rm_config(), tokenizer=tiny_tokenizer, compute_score=None,
                                        reward_router_address=router[0], reward_model_tokenizer=rm_tok)


def test_general_row_gets_the_reward_model_score_and_no_accuracy(rm_manager, router, tiny_tokenizer):
    out = run(rm_manager, trajectory(tiny_tokenizer, "Q:", "<think> be kind </think> <answer> hello </answer>",
                                     ground_truth=None, style="model"))
    assert out["reward_extra_info"] == {
        "score": 2.0 * 0.75 + 1.0, "acc": 0.0, "pred": "", "accuracy": 0.0, "format": 1.0, "reward_model": 0.75,
        "accuracy_reason": "model-scored row", "format_reason": "", "reward_model_reason": "", "infra_failure": 0.0,
        "response_truncated": 0.0, "reflection_words": 0.0, "language_mixed": 0.0}
    assert out["reward_score"] == 2.5
    # the reward model saw the conversation in its own chat template: the user turn, then the response
    assert QUESTION in router[1][-1]["input"] and "be kind" in router[1][-1]["input"]
    assert router[1][-1]["model"] == "rm"


def test_reasoning_row_keeps_the_rule_reward_and_skips_the_reward_model(rm_manager, router, tiny_tokenizer):
    before = len(router[1])
    out = run(rm_manager, trajectory(tiny_tokenizer, "Q:", "<think> 3 plus 4 is 7 </think> <answer> 7 </answer>"))
    assert out["reward_score"] == 2.0 and len(router[1]) == before
    assert out["reward_extra_info"]["reward_model"] == 0.0
    assert out["reward_extra_info"]["reward_model_reason"] == "rule-scored row"


def test_a_failing_reward_model_is_no_verdict_with_the_reason(rm_manager, tiny_tokenizer):
    out = run(rm_manager, trajectory(tiny_tokenizer, "Q:", "<think> FAIL </think> <answer> x </answer>",
                                     ground_truth=None, style="model"))
    info = out["reward_extra_info"]
    assert out["reward_score"] == 1.0 and info["reward_model"] == 0.0
    assert info["reward_model_reason"].startswith("error: ClientResponseError: 400")
    assert info["infra_failure"] == 1.0  # the reward model's failure, not the response's: the flag, typed


def test_a_reward_model_outage_is_no_verdict_and_gets_advantage_zero(rm_manager, tiny_tokenizer):
    """The router is unreachable (connection refused; verl retries with back-off): past reward_model.timeout_s the
    row is an infra failure, and the policy gives it its group's mean, so its GRPO advantage is 0 while the group's
    scored rows keep theirs."""
    from verl.experimental.reward_loop.reward_manager import get_reward_manager_cls

    from r1_recipe.core.advantage import outcome_advantage
    from r1_recipe.core.signals import fill_infra_failures

    down = get_reward_manager_cls("r1")(config=rm_config(weight=2.0, timeout_s=1.0), tokenizer=tiny_tokenizer,
                                        compute_score=None, reward_router_address="127.0.0.1:1",
                                        reward_model_tokenizer=rm_manager.reward_model.reward_model_tokenizer)
    general = "<think> be kind </think> <answer> hello </answer>"
    outage = run(down, trajectory(tiny_tokenizer, "Q:", general, ground_truth=None, style="model"))
    info = outage["reward_extra_info"]
    assert (info["reward_model"], info["reward_model_reason"], info["infra_failure"]) == (0.0, "timeout (1 s)", 1.0)
    assert (info["format"], outage["reward_score"]) == (1.0, 1.0)  # the rule components still gave their verdicts
    served = [run(rm_manager, trajectory(tiny_tokenizer, "Q:", text, ground_truth=None, style="model"))
              for text in (general, "<think> no </think> hello")]
    outs = [outage, *served]
    scores = fill_infra_failures([o["reward_score"] for o in outs], ["g"] * 3,
                                 [bool(o["reward_extra_info"]["infra_failure"]) for o in outs])
    assert scores.tolist() == [(2.5 + 1.5) / 2, 2.5, 1.5]
    rewards = torch.zeros(3, 2)
    rewards[:, -1] = torch.tensor(scores)
    adv, _ = outcome_advantage(token_level_rewards=rewards, response_mask=torch.ones(3, 2),
                               index=np.array(["g"] * 3, dtype=object))
    assert adv[0].abs().max() < 1e-6 and adv[2, -1] < 0 < adv[1, -1]
    down.composer.pool.close()


@pytest.mark.parametrize("enable, router_up, r1_rm", [(True, True, None), (False, False, {"weight": 1.0}),
                                                      (True, False, {"weight": 1.0})])
def test_half_configured_reward_model_fails_at_start_up(tiny_tokenizer, enable, router_up, r1_rm):
    from verl.experimental.reward_loop.reward_manager import get_reward_manager_cls

    cfg = rm_config(enable=enable)
    cfg.reward.r1.reward_model = r1_rm
    with pytest.raises(ValueError, match="reward.r1.reward_model and reward.reward_model.enable must be set together"):
        get_reward_manager_cls("r1")(config=cfg, tokenizer=tiny_tokenizer, compute_score=None,
                                     reward_router_address="127.0.0.1:1" if router_up else None,
                                     reward_model_tokenizer=None)


def test_warns_only_about_a_foreign_custom_reward_function(tiny_tokenizer, caplog):
    import functools
    import logging

    from verl.experimental.reward_loop.reward_manager import get_reward_manager_cls
    from verl.utils.reward_score import default_compute_score

    cls = get_reward_manager_cls("r1")
    with caplog.at_level(logging.WARNING, logger="r1_recipe.verl.reward_manager"):
        cls(config=config(), tokenizer=tiny_tokenizer, compute_score=default_compute_score)  # what verl passes
        cfg = config()
        cfg.reward.custom_reward_function = {"path": "/my/reward.py", "name": "score"}
        assert caplog.messages == []
        cls(config=cfg, tokenizer=tiny_tokenizer, compute_score=functools.partial(lambda fn, kw: 0, print, {}))
    assert caplog.messages == ["reward.custom_reward_function is ignored by the r1 reward manager: register the "
                               "function as a reward component and list it under reward.r1.components"]

"""The `r1` reward manager driven the way verl's reward loop drives it: `run_single` on a one-trajectory DataProto."""

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from r1_recipe.templates import load

QUESTION = "What is 3 + 4?"


def config(**r1):
    return OmegaConf.create({
        "reward": {"reward_manager": {"name": "r1"}, "r1": r1 or {"components": {"accuracy": 1.0, "format": 1.0}}},
        "actor_rollout_ref": {"rollout": {"response_length": 40}},
    })


def trajectory(tok, prompt_text, response_text, eos=True, ground_truth="7", data_source="toy", pad_to=None):
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
                     "reward_model": np.array([{"style": "rule", "ground_truth": ground_truth}], dtype=object),
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
    out = run(manager, trajectory(tiny_tokenizer, prompt, " <think> 3 plus 4 is 7 </think> <answer> \\boxed{7} </answer>",
                                  pad_to=40))
    assert out == {"reward_score": 2.0, "reward_extra_info": {
        "score": 2.0, "acc": 1.0, "pred": "7", "accuracy": 1.0, "format": 1.0, "accuracy_reason": "",
        "format_reason": "",
        "response_truncated": 0.0, "reflection_words": 0.0, "language_mixed": 0.0}}


def test_wrong_answer_keeps_the_format_reward_and_the_key_set(manager, tiny_tokenizer):
    out = run(manager, trajectory(tiny_tokenizer, "Q:", "<think> 3 plus 4 is 8 </think> <answer> 8 </answer>"))
    assert out["reward_score"] == 1.0
    assert out["reward_extra_info"] == {"score": 1.0, "acc": 0.0, "pred": "8", "accuracy": 0.0, "format": 1.0,
                                        "accuracy_reason": "wrong", "format_reason": "",
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


def test_bad_reward_config_fails_when_the_manager_is_built(tiny_tokenizer):
    from r1_recipe.reward_manager import R1RewardManager

    with pytest.raises(ValueError, match=r"reward\.r1\.components\.acuracy"):
        R1RewardManager(config=config(components={"acuracy": 1.0}), tokenizer=tiny_tokenizer, compute_score=None)

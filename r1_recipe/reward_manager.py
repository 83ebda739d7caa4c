"""The `r1` reward manager for verl's reward loop (`reward.reward_manager.name: r1`).

Scores one trajectory per `run_single` call with the weighted components of `reward.r1` (see
`r1_recipe.rewards.compose`), each under a hard time bound, and returns
`{"reward_score": float, "reward_extra_info": {score, acc, pred, <component>, <component>_reason,
response_truncated, reflection_words, language_mixed}}` with the same keys for every sample, so verl's validation
metrics (`acc` -> mean@N, `pred` -> maj@N) work; the last three feed the training-dynamics metrics.

Differences from verl's `naive` manager, and why:
- the response is decoded with special tokens kept (then trailing EOS/pad removed), so `<think>`/`<answer>` survive
  even where a tokenizer marks them special;
- when the prompt ends with `<think>` (chat templates that open the reasoning block), the response is scored as if
  it began with `<think>`, so the format reward does not drop to 0 for every sample;
- a response that hit `rollout.response_length` without EOS is truncated: every component gives 0 with reason
  `truncated` (unless `reward.r1.score_truncated: true`);
- `extra_info` passed to components also holds `data_source` and `prompt` (the last user message), which the
  language-consistency reward uses.
"""

from __future__ import annotations

import logging

from verl import DataProto
from verl.experimental.reward_loop.reward_manager.base import RewardManagerBase

from r1_recipe.pipelines.dynamics import sample_signals
from r1_recipe.rewards.compose import Composer
from r1_recipe.rewards.format import EOS_STRINGS, strip_eos

logger = logging.getLogger(__name__)


def _cfg_get(config, path: str, default=None):
    node = config
    for part in path.split("."):
        if node is None:
            return default
        try:
            node = node.get(part, None)
        except AttributeError:
            return default
    return default if node is None else node


def last_user_message(raw_prompt) -> str:
    try:
        for message in reversed(list(raw_prompt)):
            if message.get("role") == "user":
                return str(message.get("content", ""))
    except (TypeError, AttributeError):
        pass
    return ""


class R1RewardManager(RewardManagerBase):
    """verl reward-loop manager for R1's rule rewards. Registered as `r1` by `r1_recipe.verl_plugin`."""

    def __init__(self, config, tokenizer, compute_score=None, reward_router_address=None,
                 reward_model_tokenizer=None, **kwargs):
        super().__init__(config, tokenizer, compute_score)
        if compute_score is not None:
            logger.warning("reward.custom_reward_function is ignored by the r1 reward manager: register the function "
                           "as a reward component and list it under reward.r1.components")
        self.composer = Composer(_cfg_get(config, "reward.r1"))
        self.max_response_length = _cfg_get(config, "actor_rollout_ref.rollout.response_length") or _cfg_get(
            config, "data.max_response_length"
        )
        self.eos_strings = tuple(s for s in (tokenizer.eos_token, tokenizer.pad_token, *EOS_STRINGS) if s)
        self.eos_token_id = tokenizer.eos_token_id

    def decode_response(self, item) -> tuple[str, bool]:
        """(response text without trailing EOS, truncated?) for one DataProtoItem."""
        response_ids = item.batch["responses"]
        length = int(item.batch["attention_mask"][-response_ids.shape[-1]:].sum())
        ids = response_ids[:length].tolist()
        text = strip_eos(self.tokenizer.decode(ids, skip_special_tokens=False), self.eos_strings)
        ended = bool(ids) and ids[-1] == self.eos_token_id
        truncated = not ended and self.max_response_length is not None and length >= int(self.max_response_length)
        return text, truncated

    def prompt_opens_think(self, item) -> bool:
        prompt_ids = item.batch["prompts"]
        mask = item.batch["attention_mask"][: prompt_ids.shape[-1]].bool()
        tail = prompt_ids[mask][-8:].tolist()
        return self.tokenizer.decode(tail, skip_special_tokens=False).rstrip().endswith("<think>")

    async def run_single(self, data: DataProto) -> dict:
        item = data[-1:][0]  # multi-sequence outputs: score the last sequence, as verl's managers do
        nt = item.non_tensor_batch
        text, truncated = self.decode_response(item)
        if self.prompt_opens_think(item):
            text = "<think>" + text
        extra_info = dict(nt.get("extra_info", None) or {})
        extra_info.setdefault("data_source", nt.get("data_source", None))
        extra_info.setdefault("prompt", last_user_message(nt.get("raw_prompt", None) or []))
        reward_model = nt.get("reward_model", None) or {}
        ground_truth = reward_model.get("ground_truth", None)
        info = await self.composer.ascore(text, ground_truth, extra_info, truncated=truncated)
        # per-response training-dynamics signals, aggregated per step by r1_recipe.pipelines.dynamics
        info.update(sample_signals(text, extra_info["prompt"], truncated))
        return {"reward_score": info["score"], "reward_extra_info": info}

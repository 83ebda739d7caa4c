"""The `r1` reward manager for verl's reward loop (`reward.reward_manager.name: r1`).

Scores one trajectory per `run_single` call with the weighted components of `reward.r1` (see
`r1_recipe.core.rewards.compose`), each under a hard time bound, and returns
`{"reward_score": float, "reward_extra_info": {score, acc, pred, <component>, <component>_reason,
response_truncated, reflection_words, language_mixed}}` with the same keys for every sample, so verl's validation
metrics (`acc` -> mean@N, `pred` -> maj@N) work; the last three feed the training-dynamics metrics.

Differences from verl's `naive` manager, and why:
- the response is decoded with special tokens kept (then trailing EOS/pad removed), so `<think>`/`<answer>` survive
  even where a tokenizer marks them special; it is decoded in the reward worker, not in this process (the largest
  per-sample cost of a reward process; see r1_recipe.core.rewards.tokens);
- when the prompt ends with `<think>` (chat templates that open the reasoning block: `core.templates.opens_think`,
  the rule `r1-recipe eval` and `rejection-sample` apply too), the response is scored as if it began with `<think>`,
  so the format reward does not drop to 0 for every sample;
- a response that hit `rollout.response_length` without EOS is truncated (offline: `finish_reasons` "length"): every
  component gives 0 with reason `truncated` (unless `reward.r1.score_truncated: true`);
- `extra_info` passed to components also holds `data_source` and `prompt` (the last user message), which the
  language-consistency reward uses;
- DAPO's overlong reward shaping is read from the keys verl's `dapo` manager reads
  (`reward.reward_kwargs.overlong_buffer_cfg`, `max_resp_len`: r1_recipe.core.rewards.overlong) and added to `score`;
- with `reward.r1.reward_model` set (RL for all scenarios, §2.3.4), rows whose `reward_model.style` is "model" are
  also scored by verl's reward model through the reward router (verl's own request code), while rule rows keep the
  rule rewards; verl 0.9.1 only calls a reward manager next to a reward model when
  `reward.custom_reward_function.path` is set (`pkg://r1_recipe.rewards` does).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import os
from typing import TYPE_CHECKING

from verl import DataProto
from verl.experimental.reward_loop.reward_manager.base import RewardManagerBase

from r1_recipe.core import schema
from r1_recipe.core.bounded import default_workers
from r1_recipe.core.rewards import tokens
from r1_recipe.core.rewards.compose import Composer, parse_config, reward_model_errors
from r1_recipe.core.rewards.format import EOS_STRINGS
from r1_recipe.core.rewards.overlong import OverlongShaping
from r1_recipe.core.rewards.tokens import TokenIds
from r1_recipe.core.rewards.types import RewardOutput, no_verdict
from r1_recipe.core.templates import last_user_message, opens_think
from r1_recipe.verl import touchpoints
from r1_recipe.verl.touchpoints import config_value

if TYPE_CHECKING:
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker

logger = logging.getLogger(__name__)


class R1RewardManager(RewardManagerBase):
    """verl reward-loop manager for R1's rule rewards. Registered as `r1` by `r1_recipe.verl.plugin`."""

    def __init__(self, config, tokenizer, compute_score=None, reward_router_address=None,
                 reward_model_tokenizer=None, **kwargs):
        super().__init__(config, tokenizer, compute_score)
        custom = compute_score.args[0] if isinstance(compute_score, functools.partial) else compute_score
        if config_value(config, "reward.custom_reward_function.path") and not getattr(
                custom, "__module__", "").startswith("r1_recipe"):
            logger.warning("reward.custom_reward_function is ignored by the r1 reward manager: register the function "
                           "as a reward component and list it under reward.r1.components")
        touchpoints.require_for_config(config)  # e.g. ref_reset_steps with a verl that lacks the hooked methods
        eos_strings = tuple(s for s in (tokenizer.eos_token, tokenizer.pad_token, *EOS_STRINGS) if s)
        self._key = f"{getattr(tokenizer, 'name_or_path', '')}#{id(self)}"
        # responses go to the reward workers as token ids and are decoded there, each worker with its own copy of the
        # tokenizer (decoding is the largest per-sample cost of this process: core/rewards/tokens.py)
        cfg = parse_config(config_value(config, "reward.r1"))
        if cfg.workers is None and not os.environ.get("R1_RECIPE_WORKERS"):
            cfg = dataclasses.replace(cfg, workers=node_share(config_value(config, "reward.num_workers")))
        self.composer = Composer(cfg, setup=((tokens.setup, (self._key, tokenizer, eos_strings)),))
        self.reward_model: RewardLoopWorker | None = self._reward_model_client(config, tokenizer, reward_router_address,
                                                                                reward_model_tokenizer)
        self.max_response_length = config_value(config, "actor_rollout_ref.rollout.response_length") or config_value(
            config, "data.max_response_length"
        )
        self.overlong = OverlongShaping.from_config(config_value(config, "reward.reward_kwargs"),
                                                    self.max_response_length)
        self.eos_token_id = tokenizer.eos_token_id

    def _reward_model_client(self, config, tokenizer, router, rm_tokenizer):
        """verl's discriminative-RM request code (RewardLoopWorker.compute_score_disrm) bound to this manager's
        tokenizers and router, or None when no reward model is configured. A half-configured set-up fails here."""
        wanted = self.composer.cfg.reward_model is not None
        enabled = bool(config_value(config, "reward.reward_model.enable"))
        # verl builds this manager next to a reward model only when custom_reward_function.path is set: not checked
        errors = reward_model_errors(self.composer.cfg.reward_model, enabled, "(set)", router_up=router is not None)
        if errors:
            raise ValueError("; ".join(errors))
        if not wanted:
            return None
        from verl.experimental.reward_loop.reward_loop import RewardLoopWorker

        client = object.__new__(RewardLoopWorker)  # its __init__ would load a second reward manager; we need requests
        client.config, client.reward_router_address = config, router
        client.input_tokenizer, client.reward_model_tokenizer = tokenizer, rm_tokenizer
        return client

    async def model_score(self, data: DataProto) -> RewardOutput:
        """The reward model's score of one trajectory, bounded by reward.r1.reward_model.timeout_s. Any failure
        (a timeout, a connection error, a server error, an answer without a score) is no verdict (`infra` set, so
        the response gets its group's mean reward, not a wrong answer's), with the reason; the step goes on."""
        try:
            out = await asyncio.wait_for(self.reward_model.compute_score_disrm(data),
                                         self.composer.cfg.reward_model.timeout_s)
            return RewardOutput(float(out["reward_score"]), "")
        except asyncio.TimeoutError:
            failed = no_verdict(f"timeout ({self.composer.cfg.reward_model.timeout_s:g} s)")
        except Exception as e:  # an unreachable or failing reward model must not stop the step
            failed = no_verdict(f"error: {type(e).__name__}: {e}"[:300])
        logger.warning("reward model gave no verdict: %s", failed.reason)
        return failed

    def response_of(self, data: DataProto) -> tuple[TokenIds, bool, int]:
        """(the last trajectory's response as token ids, truncated?, length in tokens): valid tokens only; decoded
        (special tokens kept, trailing EOS/pad removed, `<think>` put first when the prompt opened it) in the reward
        worker."""
        response_ids = data.batch["responses"][-1]
        mask = data.batch["attention_mask"][-1]
        length = int(mask[-response_ids.shape[-1]:].sum())
        ids = response_ids[:length]
        ended = length > 0 and int(ids[-1]) == self.eos_token_id
        truncated = not ended and self.max_response_length is not None and length >= int(self.max_response_length)
        return TokenIds.of(self._key, ids, self.prompt_opens_think(data)), truncated, length

    def prompt_opens_think(self, data: DataProto) -> bool:
        """`core.templates.opens_think` of the rendered prompt's end (its last 8 valid tokens, decoded)."""
        prompt_ids = data.batch["prompts"][-1]
        valid = data.batch["attention_mask"][-1][: prompt_ids.shape[-1]].bool()
        tail = prompt_ids[valid][-8:].tolist()
        return opens_think(self.tokenizer.decode(tail, skip_special_tokens=False))

    async def run_single(self, data: DataProto) -> dict:
        # multi-sequence outputs: score the last sequence, as verl's managers do; read in place (no DataProto slice)
        nt = {k: v[-1] for k, v in data.non_tensor_batch.items()}
        response, truncated, length = self.response_of(data)
        extra_info, bad_extra = _mapping(nt.get("extra_info", None), "extra_info")
        reward_model, bad_rm = _mapping(nt.get("reward_model", None), "reward_model")
        extra_info.setdefault("data_source", nt.get("data_source", None))
        extra_info.setdefault("prompt", last_user_message(nt.get("raw_prompt", None) or []))
        if bad_extra or bad_rm:  # a data problem: 0 with the reason, and the rest of the batch goes on
            info = self.composer.assemble(RewardOutput(0.0, bad_extra or bad_rm) for _ in self.composer.fns)
            info.update({schema.TRUNCATED: float(truncated), schema.REFLECTION_WORDS: 0.0, schema.LANGUAGE_MIXED: 0.0})
            return self._result(info, length)
        ground_truth = reward_model.get("ground_truth", None)
        model_out = None
        if self.reward_model is not None and reward_model.get("style", None) == "model":
            if not truncated or self.composer.cfg.score_truncated:
                model_out = await self.model_score(data[-1:])
            else:
                model_out = RewardOutput(0.0, "truncated")
        # the components and the per-response training-dynamics signals (core.signals, aggregated per step by
        # r1_recipe.verl.dynamics), in one worker call under one deadline
        info = await self.composer.ascore(response, ground_truth, extra_info, truncated=truncated,
                                          model_out=model_out, signals=True)
        return self._result(info, length)

    def _result(self, info: dict, length: int) -> dict:
        if self.overlong is not None:  # DAPO's soft overlong punishment, on the composed score
            penalty = self.overlong.penalty(length)
            info[schema.SCORE] += penalty
            if self.overlong.log:
                info.update(overlong_reward=penalty, overlong=float(penalty < 0))
        return {"reward_score": info[schema.SCORE], "reward_extra_info": info}


def node_share(reward_processes) -> int:
    """Pool workers for one reward process: the cores it may use, shared by the reward processes verl starts on its
    node (`reward.num_workers` of them, placed round-robin over the nodes with CPUs). Each would otherwise start a
    worker per core: 8 x 128 processes on a 128-core node, each importing sympy. Several reward processes with a
    share each also spread the per-sample work of feeding the workers (bench/reward_scale_bench.py)."""
    cores = default_workers()
    try:
        import ray

        nodes = sum(1 for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU", 0) > 0) \
            if ray.is_initialized() else 1
    except Exception:  # no Ray here (tests, scripts): one node
        nodes = 1
    per_node = -(-max(1, int(reward_processes or 1)) // max(1, nodes))
    return max(1, cores // per_node)


def _mapping(value, name: str) -> tuple[dict, str]:
    """(the field as a dict, "" or why it is malformed). Missing (None, NaN from a parquet gap) is an empty dict."""
    if value is None or (isinstance(value, float) and value != value):
        return {}, ""
    if hasattr(value, "items") and hasattr(value, "get"):
        return dict(value), ""
    return {}, f"malformed_row: {name} is {type(value).__name__}, not a mapping"

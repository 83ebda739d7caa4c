"""Drives every reward entry point with hostile answers; one JSON line per entry point (tests/test_reward_bounds.py).

Run in a fresh interpreter so that the peak memory it reports is the caller's own: before each entry point the peak
(VmHWM) is reset through /proc/self/clear_refs, after it the growth over the resident size before is read. The
hostile answers are verified by sympy in C (a factorial of 10^100, a central binomial of 10^6: no Python signal
stops them, only killing the worker does) or refused up front (a power tower); each entry point gets all of them at
once, with a warm worker for each (the deadline counts from when a worker starts a call: the killed workers of the
entry point before are replaced and warm first), so its wall time is bounded by one deadline plus a second.

    python tests/_bounds_driver.py DEADLINE_S WORKDIR
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

HOSTILE = ["\\boxed{(10^{100})!}", "\\boxed{\\binom{1000000}{500000}}", "\\boxed{9^{9^{9}}}"]
GOLD = "5"


def resident_mb(field: str) -> float:
    return int(re.search(rf"{field}:\s+(\d+)", Path("/proc/self/status").read_text()).group(1)) / 1024


def measure(name: str, fn, baseline_s: float = 0.0) -> dict:
    """Wall time and peak growth of the caller (this process) while `fn()` runs; prints and returns the record."""
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current resident size
    before = resident_mb("VmRSS")
    start = time.monotonic()
    detail = fn()
    record = {"entry": name, "wall_s": round(time.monotonic() - start, 3), "baseline_s": round(baseline_s, 3),
              "growth_mb": round(resident_mb("VmHWM") - before, 1), "detail": detail}
    print(json.dumps(record), flush=True)
    return record


def nap(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def warm(pool) -> None:
    """Wait until every worker of `pool` is started and has imported what it preloads (the killed workers of the
    entry point before are replaced): as many calls at once as there are workers, each holding its worker a moment,
    until they all ran on different workers."""
    while len(set(pool.map(nap, [(0.3,)] * pool.workers, timeout=60))) < pool.workers:
        pass


def threads(call, args_list) -> list:
    """`call(*args)` for each args in parallel threads (verl runs sync scorers in a thread pool)."""
    out = [None] * len(args_list)

    def one(i, args):
        try:
            out[i] = call(*args)
        except Exception as e:
            out[i] = e

    workers = [threading.Thread(target=one, args=(i, a)) for i, a in enumerate(args_list)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return out


def outcome(value) -> str:
    if isinstance(value, BaseException):
        return getattr(value, "reason", None) or type(value).__name__
    if isinstance(value, dict):
        info = value.get("reward_extra_info", value)
        return f"infra={info.get('infra_failure')}"
    return getattr(value, "reason", None) or str(value)


def main() -> int:
    deadline, work = float(sys.argv[1]), Path(sys.argv[2])
    from r1_recipe.core.bounded import BoundedPool
    from r1_recipe.core.rewards.compose import Composer
    from r1_recipe.core.rewards.math import math_reward
    from r1_recipe.rewards import _composers, compute_score

    n = len(HOSTILE)
    pool = BoundedPool(workers=n, preload=("r1_recipe.core.rewards.math",))
    warm(pool)
    measure("BoundedPool.run", lambda: [outcome(v) for v in threads(
        lambda h: pool.run(math_reward, h, GOLD, timeout=deadline), [(h,) for h in HOSTILE])])
    warm(pool)

    async def arun():
        return await asyncio.gather(*(pool.arun(math_reward, h, GOLD, timeout=deadline) for h in HOSTILE),
                                    return_exceptions=True)

    measure("BoundedPool.arun", lambda: [outcome(v) for v in asyncio.run(arun())])
    warm(pool)
    measure("BoundedPool.map", lambda: [outcome(v) for v in pool.map(
        math_reward, [(h, GOLD) for h in HOSTILE], timeout=deadline, default=lambda e, item: e)])
    pool.close()

    composer = Composer({"components": {"accuracy": 1.0, "format": 1.0}, "timeout_s": deadline, "workers": n})
    warm(composer.pool)
    measure("Composer.score", lambda: [outcome(v) for v in threads(
        lambda h: composer.score(h, GOLD), [(h,) for h in HOSTILE])])
    warm(composer.pool)

    async def ascore():
        return await asyncio.gather(*(composer.ascore(h, GOLD) for h in HOSTILE))

    measure("Composer.ascore", lambda: [outcome(v) for v in asyncio.run(ascore())])
    warm(composer.pool)
    measure("Composer.score_many", lambda: [outcome(v) for v in composer.score_many([(h, GOLD, None)
                                                                                     for h in HOSTILE])])
    composer.pool.close()

    os.environ["R1_RECIPE_WORKERS"] = str(n)  # compute_score's own composer, one worker per hostile answer
    compute_score("math", "\\boxed{1}", "1", timeout_s=deadline)
    warm(_composers[repr((None, deadline))].pool)
    measure("compute_score", lambda: [outcome(v) for v in threads(
        lambda h: compute_score("math", h, GOLD, timeout_s=deadline), [(h,) for h in HOSTILE])])

    measure_manager(deadline, n)
    measure_tools(deadline, n, work)
    return 0


def measure_manager(deadline: float, n: int) -> None:
    import numpy as np
    import torch
    import verl  # noqa: F401  (registers `r1`)
    from conftest import build_tiny_tokenizer
    from omegaconf import OmegaConf
    from verl import DataProto
    from verl.experimental.reward_loop.reward_manager import get_reward_manager_cls

    tok = build_tiny_tokenizer(tempfile.mkdtemp(prefix="r1-bounds-tok-"))
    cfg = OmegaConf.create({"reward": {"reward_manager": {"name": "r1"}, "r1": {
        "components": {"accuracy": 1.0, "format": 1.0}, "timeout_s": deadline, "workers": n}},
        "actor_rollout_ref": {"rollout": {"response_length": 4096}}})
    manager = get_reward_manager_cls("r1")(config=cfg, tokenizer=tok, compute_score=None)

    def data(text):
        prompt, response = tok.encode("Q:"), tok.encode(text) + [tok.eos_token_id]
        ids = torch.tensor([prompt + response])
        obj = np.empty(1, dtype=object)
        obj[0] = {"style": "rule", "ground_truth": GOLD}
        return DataProto.from_dict(
            tensors={"prompts": torch.tensor([prompt]), "responses": torch.tensor([response]), "input_ids": ids,
                     "attention_mask": torch.ones_like(ids), "position_ids": torch.arange(ids.shape[1])[None]},
            non_tensors={"data_source": np.array(["math"], dtype=object), "reward_model": obj,
                         "raw_prompt": np.array([[{"role": "user", "content": "What is 2 + 3?"}]], dtype=object)})

    async def step(texts):
        return await asyncio.gather(*(manager.run_single(data(t)) for t in texts))

    manager.loop.run_until_complete(step(["\\boxed{5}"] * n))
    warm(manager.composer.pool)
    hostile = [data(h) for h in HOSTILE]

    async def hostile_step():
        return await asyncio.gather(*(manager.run_single(d) for d in hostile))

    measure("r1 manager run_single", lambda: [outcome(v) for v in manager.loop.run_until_complete(hostile_step())])
    manager.composer.pool.close()


def measure_tools(deadline: float, n: int, work: Path) -> None:
    """`r1-recipe eval` and `rejection-sample`, as the CLI runs them (their own pools, started inside the command):
    each on a clean file first (its wall time is the baseline: start-up, clustering, writing), then on the same file
    with the hostile answers among the responses."""
    from r1_recipe.tools.cli import main as cli

    config = work / "reward.yaml"  # a worker more than the hostile answers: the benign ones do not wait for restarts
    config.write_text(json.dumps({"reward": {"r1": {"components": {"accuracy": 1.0}, "timeout_s": deadline,
                                                    "workers": n + 1}}}))

    def generations(name, hostile):
        responses = [f"<think>2 plus 3</think> \\boxed{{{5 if i % 2 else 6}}}" for i in range(8)]
        if hostile:
            responses[1:1 + len(HOSTILE)] = HOSTILE
        path = work / f"{name}.jsonl"
        path.write_text(json.dumps({"prompt": "What is 2 + 3?", "responses": responses, "data_source": "math",
                                    "ground_truth": GOLD}) + "\n")
        return str(path)

    for tool, args in (("eval", []), ("rejection-sample", ["--no-plot"])):
        clean, hostile = generations(f"{tool}-clean", False), generations(f"{tool}-hostile", True)
        start = time.monotonic()
        assert cli([tool, clean, "--out", str(work / f"{tool}-clean"), "--reward-config", str(config), *args]) == 0
        baseline = time.monotonic() - start
        measure(f"r1-recipe {tool}", lambda t=tool, h=hostile, a=args: run_tool(cli, t, h, work, config, a), baseline)


def run_tool(cli, tool: str, path: str, work: Path, config: Path, args: list) -> dict:
    """The command's exit status and how many responses it reports without a verdict."""
    out = work / f"{tool}-hostile"
    rc = cli([tool, path, "--out", str(out), "--reward-config", str(config), *args])
    if tool == "eval":
        return {"rc": rc, "no_verdict": json.loads((out / "eval.json").read_text())["no_verdict"]}
    return {"rc": rc, "no_verdict": json.loads((out / "report.json").read_text())["dropped"]["no_verdict"]}


if __name__ == "__main__":
    sys.exit(main())

"""Rejection sampling throughput: responses scored *and* filtered per second, against verl's `main_eval` path.

Synthetic set: PROMPTS prompts x N responses (default 2,500 x 8 = 20k) in verl's generation parquet format, MATH-style
boxed answers, with wrong, truncated, mixed-language, code-block and repetitive responses mixed in; lengths 0.3-3 kB.

- ours: `r1_recipe.tools.rejection.run` (accuracy component = math-verify under the bounded pool's hard time
  bounds, all filters, selection, shard files, report; the PNG plot is left out of the timing) with one reward worker
  per core. Each run gets a new reward pool, started and warmed (every worker has imported its rewards) before the
  clock starts, as the peer's Ray is; so no run finds the verdicts of an earlier one in the workers' caches.
- peer: verl 0.9.1 `verl/trainer/main_eval.py` as it runs: a local Ray (num_cpus = cores) and its `process_item` remote
  task per prompt, which loads the custom reward function and calls it per response, `reward_fn(data_source, r,
  ground_truth)`; the function is verl's `default_compute_score` (for this data source: verl's string-normalising
  `math_reward`). `main_eval.main` itself is not called because in 0.9.1 it reads `config.custom_reward_function` while
  `process_item` reads `config.reward.custom_reward_function`; the loop below is its loop. Peer only scores: no
  filters, no output set. Ray start-up is excluded from the peer's time, and every Ray worker has imported
  `main_eval` and the reward before the clock starts.

Both use every core of the machine (`os.sched_getaffinity`): ours its parent process and one reward worker per core,
the peer its driver, Ray's own processes and one worker per core. Each is run `--repeat` times (default 3),
alternating; on a shared machine the load of other jobs varies from one run to the next, so the summary gives the
ratio of the best times and the median (min-max) of the ratios of the runs paired in turn.
Run: `python bench/rejection_bench.py [--prompts 2500] [--n 8]`. Prints one summary line with the ratio.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time

import pandas as pd

DATA_SOURCE = "HuggingFaceH4/MATH-500"


def make_set(prompts: int, n: int, seed: int = 0) -> pd.DataFrame:
    rng = random.Random(seed)
    rows = []
    for p in range(prompts):
        a, b = rng.randint(2, 999), rng.randint(2, 999)
        answer = f"\\frac{{{a}}}{{{b}}}" if p % 3 == 0 else str(a + b)
        responses = []
        for _j in range(n):
            steps = " ".join(f"Step {k}: we combine {a} with {b} and check the partial sum {a + k * b} carefully."
                             for k in range(rng.randint(3, 30)))
            kind = rng.random()
            got = answer if kind < 0.6 else str(a + b + 1)
            text = f"<think>\n{steps}\n</think>\n\nThe answer is $\\boxed{{{got}}}$."
            if 0.80 < kind < 0.84:
                text = text[: len(text) // 2]  # truncated
            elif 0.84 < kind < 0.88:
                text = text.replace("we combine", "我们合并")  # mixed language
            elif 0.88 < kind < 0.92:
                text = text.replace("</think>", "```python\nprint(1)\n```\n</think>")  # code block
            elif 0.92 < kind < 0.95:
                text = "<think>\n" + "so the sum is the sum. " * 60 + "\n</think>\n\n\\boxed{1}"  # repetition
            responses.append(text)
        rows.append({"prompt": [{"role": "user", "content": f"What is {a}+{b}?"}], "responses": responses,
                     "data_source": DATA_SOURCE, "reward_model": {"ground_truth": answer, "style": "rule"}})
    return pd.DataFrame(rows)


PEER_REWARD = '''from verl.utils.reward_score import default_compute_score


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    return default_compute_score(data_source, solution_str, ground_truth, extra_info)
'''
# The same path with verl's own math-verify scorer (verl.utils.reward_score.math_verify), the verifier ours uses.
PEER_REWARD_MATH_VERIFY = '''from verl.utils.reward_score import math_verify


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    return math_verify.compute_score(solution_str, ground_truth)
'''


def run_peer(df: pd.DataFrame, tmp: str, cpus: int, source: str = PEER_REWARD, label: str = "default") -> float:
    import ray
    from omegaconf import OmegaConf
    from verl.trainer.main_eval import process_item

    path = os.path.join(tmp, f"peer_reward_{label}.py")
    with open(path, "w") as f:
        f.write(source)
    config = OmegaConf.create({"reward": {"custom_reward_function": {"path": path, "name": "compute_score"}}})
    def warm_worker(config) -> int:
        """In a Ray worker: what `process_item` imports and loads, then this worker's pid (held briefly, so that the
        warm-up tasks of one round land on different workers). Defined here so that Ray ships it by value."""
        from verl.trainer.main_eval import process_item  # noqa: F401
        from verl.trainer.ppo.reward import get_custom_reward_fn

        get_custom_reward_fn(config)
        time.sleep(0.3)
        return os.getpid()

    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    try:
        warm = ray.remote(warm_worker)
        seen: set[int] = set()
        for _ in range(20):  # every worker imports main_eval and the reward before the clock starts
            seen.update(ray.get([warm.remote(config) for _ in range(cpus)]))
            if len(seen) >= cpus:
                break
        ray.get(process_item.remote(config, DATA_SOURCE, list(df.responses[0][:1]), df.reward_model[0]))
        t0 = time.perf_counter()
        tasks = [process_item.remote(config, df.data_source[i], df.responses[i], df.reward_model[i])
                 for i in range(len(df))]
        scores = []
        while tasks:  # main_eval's loop: ray.wait, collect
            done, tasks = ray.wait(tasks)
            scores.extend(ray.get(done))
        elapsed = time.perf_counter() - t0
    finally:
        ray.shutdown()
    print(f"peer  verl main_eval process_item ({label}): {len(df)} prompts in {elapsed:.1f}s, "
          f"mean score {sum(s for _, s in scores) / len(scores):.3f}", file=sys.stderr)
    return elapsed


def warm_composer(cpus: int, tmp: str):
    """A new reward pool with one worker per core, started and warm (as the peer's Ray is started and warmed before
    its clock starts): every worker has imported the rewards and filters (when it started) and run a small
    rejection sampling of other prompts (so it has run every step once, as the peer's warm-up task has)."""
    from r1_recipe.tools.rejection import ACCURACY_ONLY, RejectionConfig, make_composer, run

    composer = make_composer(RejectionConfig(reward={**ACCURACY_ONLY, "workers": cpus}))
    warm = os.path.join(tmp, "warm.parquet")
    if not os.path.exists(warm):
        make_set(8 * cpus, 8, seed=1).to_parquet(warm)
    run([warm], tempfile.mkdtemp(dir=tmp), RejectionConfig(shard_size=1), progress=False, plot=False,
        composer=composer)
    return composer


def run_ours(gen_path: str, tmp: str, composer, attempt: int = 0) -> tuple[float, dict]:
    from r1_recipe.tools.rejection import RejectionConfig, run

    t0 = time.perf_counter()
    report = run([gen_path], os.path.join(tmp, f"out{attempt}"), RejectionConfig(), progress=False, plot=False,
                 composer=composer)
    elapsed = time.perf_counter() - t0
    print(f"ours  r1-recipe rejection-sample: kept {report['kept']} of {report['responses_in']} in {elapsed:.1f}s; "
          f"dropped {report['dropped']}", file=sys.stderr)
    return elapsed, report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=2500)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--peer-math-verify", action="store_true",
                        help="also time main_eval with verl's math-verify scorer (the verifier ours uses)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each, alternating (a shared machine's load varies from run to run)")
    args = parser.parse_args()
    cpus = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as tmp:
        df = make_set(args.prompts, args.n)
        gen = os.path.join(tmp, "gen.parquet")
        df.to_parquet(gen)
        total = args.prompts * args.n
        times_ours, times_peer = [], []
        for attempt in range(args.repeat):
            composer = warm_composer(cpus, tmp)
            try:
                times_ours.append(run_ours(gen, tmp, composer, attempt)[0])
            finally:
                composer.pool.close()
            times_peer.append(run_peer(pd.read_parquet(gen), tmp, cpus))
        ours, peer = min(times_ours), min(times_peer)
        pairs = sorted(p / o for o, p in zip(times_ours, times_peer, strict=True))
        extra = ""
        if args.peer_math_verify:
            peer_mv = run_peer(pd.read_parquet(gen), tmp, cpus, PEER_REWARD_MATH_VERIFY, "math_verify")
            extra = f" | peer with verl math_verify {total / peer_mv:.0f} resp/s, ratio {peer_mv / ours:.2f}x"
    print(f"rejection_bench: {total} responses on {cpus} cores (load {os.getloadavg()[0]:.1f}), {args.repeat} runs "
          f"each | ours (score+filter+select+write) best {total / ours:.0f} resp/s | verl main_eval process_item "
          f"(score only) best {total / peer:.0f} resp/s | ratio ours/peer {peer / ours:.2f}x (best times); per pair "
          f"median {statistics.median(pairs):.2f}x, min {pairs[0]:.2f}x, max {pairs[-1]:.2f}x{extra}")


if __name__ == "__main__":
    main()

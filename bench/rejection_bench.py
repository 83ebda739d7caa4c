"""Rejection sampling throughput: responses scored *and* filtered per second, against verl's `main_eval` path.

Synthetic set: PROMPTS prompts x N responses (default 2,500 x 8 = 20k) in verl's generation parquet format, MATH-style
boxed answers, with wrong, truncated, mixed-language, code-block and repetitive responses mixed in; lengths 0.3-3 kB.

- ours: `r1_recipe.tools.rejection.run` (accuracy component = math-verify under the bounded pool's hard time
  bounds, all filters, selection, shard files, report; the PNG plot is left out of the timing). Its reward pool is
  started and warmed before the clock starts, as the peer's Ray is.
- peer: verl 0.9.1 `verl/trainer/main_eval.py` as it runs: a local Ray (num_cpus = cores) and its `process_item` remote
  task per prompt, which loads the custom reward function and calls it per response, `reward_fn(data_source, r,
  ground_truth)`; the function is verl's `default_compute_score` (for this data source: verl's string-normalising
  `math_reward`). `main_eval.main` itself is not called because in 0.9.1 it reads `config.custom_reward_function` while
  `process_item` reads `config.reward.custom_reward_function`; the loop below is its loop. Peer only scores: no
  filters, no output set. Ray start-up is excluded from the peer's time.

Each is run `--repeat` times (default 2), alternating, and the best time of each counts: on a shared machine the load
of other jobs varies from one run to the next. Run: `python bench/rejection_bench.py [--prompts 2500] [--n 8]`.
Prints one summary line with the ratio.
"""

from __future__ import annotations

import argparse
import os
import random
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
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    try:
        ray.get(process_item.remote(config, DATA_SOURCE, list(df.responses[0][:1]), df.reward_model[0]))  # warm
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


def warm_composer():
    """Our reward pool, started and warm (as the peer's Ray is started and warmed before its clock starts)."""
    from r1_recipe.core.rewards.compose import Composer
    from r1_recipe.tools.rejection import RejectionConfig

    composer = Composer(RejectionConfig().reward)
    list(composer.score_many([("\\boxed{1}", "1", None)] * 8 * composer.pool.workers))
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
    parser.add_argument("--repeat", type=int, default=2,
                        help="runs of each, alternating; the best of each counts (a shared machine's load varies)")
    args = parser.parse_args()
    cpus = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        df = make_set(args.prompts, args.n)
        gen = os.path.join(tmp, "gen.parquet")
        df.to_parquet(gen)
        total = args.prompts * args.n
        composer = warm_composer()
        times_ours, times_peer = [], []
        try:
            for attempt in range(args.repeat):
                times_ours.append(run_ours(gen, tmp, composer, attempt)[0])
                times_peer.append(run_peer(pd.read_parquet(gen), tmp, cpus))
        finally:
            composer.pool.close()
        ours, peer = min(times_ours), min(times_peer)
        extra = ""
        if args.peer_math_verify:
            peer_mv = run_peer(pd.read_parquet(gen), tmp, cpus, PEER_REWARD_MATH_VERIFY, "math_verify")
            extra = f" | peer with verl math_verify {total / peer_mv:.0f} resp/s, ratio {peer_mv / ours:.2f}x"
    print(f"rejection_bench: {total} responses on {cpus} cores (load {os.getloadavg()[0]:.1f}), best of "
          f"{args.repeat} | ours (score+filter+select+write) {total / ours:.0f} resp/s | verl main_eval process_item "
          f"(score only) {total / peer:.0f} resp/s | ratio ours/peer {peer / ours:.2f}x{extra}")


if __name__ == "__main__":
    main()

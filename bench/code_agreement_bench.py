"""Agreement of the code reward with recorded verdicts on public data, next to verl's prime_code, same rows.

Rows: bench/data/code_cases.jsonl (built by bench/data/build_code_cases.py; every row names its source repository,
commit, path and item). A verdict is "pass" when every test passes (ours: `mode: all_pass`; prime_code: its score).
prime_code executes programs with no sandbox of its own, so here it runs inside a throwaway bubblewrap sandbox
(read-only filesystem, no network, private pid namespace, rlimits): model-generated rows never run unsandboxed.

Where the recorded verdict comes from hidden tests we do not have (LeetCode's judge, `verdict_scope: hidden`), a
program that the judge rejected but that passes the shipped tests cannot be judged either way: it is counted as
"hidden" and left out of both scorers' agreement.

Prints one line per (source, test form, program form) and a summary line; `--out FILE` writes every row's verdicts.

    python bench/code_agreement_bench.py [--rows bench/data/code_cases.jsonl] [--workers 2] [--out /tmp/x.json]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict

from r1_recipe.core.rewards.code import code_reward, isolation_level

HERE = os.path.dirname(os.path.abspath(__file__))
OPTIONS = {"mode": "all_pass", "timeout_s": 4.0, "total_timeout_s": 60.0}  # APPS's harness gives 4 s per test

PRIME_WORKER = r"""
import json, sys
from verl.utils.reward_score import prime_code
rows = [json.loads(line) for line in open(sys.argv[1])]
with open(sys.argv[2], "w") as out:
    for r in rows:
        try:
            ok = bool(prime_code.compute_score(r["response"], json.dumps(r["ground_truth"]))[0])
        except Exception as e:
            ok = False
        out.write(json.dumps({"id": r["id"], "pass": ok}) + "\n")
        out.flush()
"""


def prime_verdicts(rows: list[dict], workers: int) -> dict[str, bool]:
    """prime_code on every row, in `workers` bubblewrap sandboxes: / read-only, private /tmp, no network."""
    outdir = tempfile.mkdtemp(prefix="r1-prime-")
    procs = []
    for k in range(workers):
        with open(os.path.join(outdir, f"in{k}.jsonl"), "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows[len(rows) * k // workers : len(rows) * (k + 1) // workers])
        argv = ["prlimit", "--as=8589934592", "--fsize=67108864", "--",
                shutil.which("bwrap"), "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
                "--bind", outdir, "/tmp/out", "--unshare-all", "--die-with-parent", "--new-session",
                "--cap-drop", "ALL",
                sys.executable, "-c", PRIME_WORKER, f"/tmp/out/in{k}.jsonl", f"/tmp/out/{k}.jsonl"]
        procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"}))
    verdicts = {}
    try:
        for p in procs:
            p.wait()
        for k in range(workers):
            with open(os.path.join(outdir, f"{k}.jsonl")) as f:
                for line in f:
                    rec = json.loads(line)
                    verdicts[rec["id"]] = rec["pass"]
    finally:
        for p in procs:
            p.kill()
        shutil.rmtree(outdir, ignore_errors=True)
    return verdicts


def ours(row: dict) -> dict:
    out = code_reward(row["response"], row["ground_truth"], **OPTIONS)
    return {"pass": out.score == 1.0, "failure": out.reason or out.info["first_failure"],
            "error": out.info["error"][-300:]}


def outcome(row: dict, passed: bool | None) -> str:
    """agree / disagree / hidden (judge rejected on tests we lack, program passes ours) / missing."""
    if passed is None:
        return "missing"
    if row["verdict_scope"] == "hidden" and row["expected"] == "fail" and passed:
        return "hidden"
    return "agree" if passed == (row["expected"] == "pass") else "disagree"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", default=os.path.join(HERE, "data", "code_cases.jsonl"))
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--no-prime", action="store_true")
    ap.add_argument("--out")
    args = ap.parse_args()
    with open(args.rows) as f:
        rows = [json.loads(line) for line in f]
    with concurrent.futures.ThreadPoolExecutor(args.workers) as ex:
        mine = dict(zip((r["id"] for r in rows), ex.map(ours, rows), strict=True))
    prime = {} if args.no_prime else prime_verdicts(rows, args.workers)
    table = defaultdict(lambda: defaultdict(int))
    for r in rows:
        key = (r["source"], r["tests"], r["program"])
        for name, passed in (("ours", mine[r["id"]]["pass"]), ("prime", prime.get(r["id"]))):
            o = outcome(r, passed)
            table[key][f"{name}_{o}"] += 1
            if o == "disagree" and passed:
                table[key][f"{name}_false_pass"] += 1
        table[key]["rows"] += 1
        table[key]["expected_pass"] += r["expected"] == "pass"
    total = defaultdict(int)
    print("source | tests | program | rows (recorded pass) | ours agree/judged (false pass, hidden) | "
          "prime_code agree/judged (false pass, hidden)")
    for key, c in sorted(table.items()):
        for k, v in c.items():
            total[k] += v
        print(" | ".join(key), "|", f"{c['rows']} ({c['expected_pass']})", "|",
              *(f"{c[f'{n}_agree']}/{c[f'{n}_agree'] + c[f'{n}_disagree']} ({c[f'{n}_false_pass']}, "
                f"{c[f'{n}_hidden']})" + (" |" if n == "ours" else "") for n in ("ours", "prime")))
    judged = {n: total[f"{n}_agree"] + total[f"{n}_disagree"] for n in ("ours", "prime")}
    print(f"code agreement ({isolation_level()}, {len(rows)} rows): ours {total['ours_agree']}/{judged['ours']} "
          f"({100 * total['ours_agree'] / max(1, judged['ours']):.1f} %, {total['ours_false_pass']} false passes), "
          f"prime_code {total['prime_agree']}/{judged['prime']} "
          f"({100 * total['prime_agree'] / max(1, judged['prime']):.1f} %, {total['prime_false_pass']} false passes)")
    if args.out:
        with open(args.out, "w") as f:
            json.dump([{"id": r["id"], "expected": r["expected"], "scope": r["verdict_scope"], "ours": mine[r["id"]],
                        "prime": prime.get(r["id"])} for r in rows], f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

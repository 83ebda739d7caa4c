"""`r1-recipe rejection-sample`: generations -> scored, filtered, selected SFT `messages` parquet (DeepSeek-R1 §2.3.3).

Input: verl's `main_generation_server` output parquet (a `prompt` messages column and a `responses` list column, plus
`data_source`, `reward_model.ground_truth`, `extra_info`) or a jsonl with the same keys (`prompt` may be a string,
`ground_truth` may be a top-level column). Optional per-response columns: `truncated` (bools) or `finish_reasons`
("length" = truncated), and a judge verdict column (`--judge-column`) used where no ground truth exists.

Every response is scored with the training reward components (`Composer.score_many`, parallel over cores, each call
under a hard time bound), then the filters of `r1_recipe.tools.filters` run, then the per-prompt selection.
Work is split in shards of whole prompts; each shard's result is written atomically (temporary file + rename) under
`OUT/shards/`, so a killed run started again with the same arguments continues after the last finished shard and
produces the same output as an uninterrupted run.

Output in OUT: `sft.parquet` (`messages` = the prompt messages + one assistant turn `<think>\\n...\\n</think>\\n\\n
summary`, plus `data_source`, `prompt_index`, `response_index`, `acc`), `report.json` (counts in, dropped per
filter, kept-per-prompt histogram, length distribution), `lengths.png`, and with `--mix` a `mixed.parquet`.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import gc
import importlib
import json
import logging
import os
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from r1_recipe.core.schema import INFRA_FAILURE
from r1_recipe.tools.filters import (
    FILTER_NAMES,
    Candidate,
    FilterConfig,
    check_correct,
    content_failure,
    judge_verdict,
    select,
    select_batch,
)
from r1_recipe.tools.generations import (
    THINK_HELP,
    THINK_MODES,
    MalformedRow,
    as_list,
    atomic_write,
    count_prompts,
    iter_generations,
    n_responses,
    parse_row,
    per_response,
    think_rule,
    warn_if_truncation_unknown,
)
from r1_recipe.tools.inputs import parquet_file, read_parquet

logger = logging.getLogger(__name__)

ACCURACY_ONLY = {"components": {"accuracy": 1.0}}
# why a response is not kept: a malformed row, no verdict (the reward's infra failure: timeout, dead worker), a filter
DROPPED = ("malformed", "no_verdict", *FILTER_NAMES)
SHARD_COLUMNS = ["prompt_index", "response_index", "data_source", "acc", "score", "pred", "status", "reason",
                 "reward_reasons", "chars", "messages"]


@dataclass
class RejectionConfig:
    """Everything that decides the output (its hash guards a resumed run against changed settings).

    reward: the `reward.r1` composition block (as in the training recipe); `acc` decides correctness.
    think_in_prompt: "yes" (the prompts' template opened `<think>`: every response is scored as `<think>` + response,
        as in training), "no", "auto" (a guess per response); None: `generations.think_rule` decides in `run`.
    """

    filters: FilterConfig = field(default_factory=FilterConfig)
    reward: dict = field(default_factory=lambda: dict(ACCURACY_ONLY))
    prompt_key: str = "prompt"
    response_key: str = "responses"
    judge_column: str | None = None
    think_in_prompt: str | None = None
    shard_size: int = 256

    def fingerprint(self) -> dict:
        return {**asdict(self), "filters": asdict(self.filters)}


def sft_assistant(response: str) -> str:
    """The assistant turn of the SFT set: `<think>\\n{reasoning}\\n</think>\\n\\n{summary}` (DeepSeek-R1's output
    format, §2.3.3), end-of-sequence strings removed (the chat template adds its own)."""
    from r1_recipe.core.rewards.format import strip_eos

    response = strip_eos(response)
    head, _, summary = response.partition("</think>")
    reasoning = head.split("<think>", 1)[-1].strip()
    return f"<think>\n{reasoning}\n</think>\n\n{summary.strip()}"


# ---------------------------------------------------------------- one shard

@dataclass
class Shard:
    """The responses of a run of whole prompts: what is scored, filtered and selected together, then written."""

    index: int
    start: int                # global index of its first prompt
    rows: int
    cands: list = field(default_factory=list)      # Candidate per response
    meta: list = field(default_factory=list)       # (prompt index, response index, data_source, prompt messages)
    samples: dict = field(default_factory=dict)    # candidate index -> reward sample (responses with a ground truth)
    malformed: list = field(default_factory=list)  # records of unreadable rows
    scores: dict = field(default_factory=dict)     # candidate index -> reward result
    failures: list = field(default_factory=list)   # (filter, reason) per response; ("", "") when it passed
    labels: list = field(default_factory=list)     # the selection's label per response (empty: not selected yet)

    def prompts(self) -> Iterator[range]:
        """The candidate indices of each prompt, in order."""
        i = 0
        while i < len(self.cands):
            end = i + 1
            while end < len(self.cands) and self.meta[end][0] == self.meta[i][0]:
                end += 1
            yield range(i, end)
            i = end


def prepare_shard(rows: pd.DataFrame, start: int, cfg: RejectionConfig, index: int = 0) -> Shard:
    """Read the prompt rows `rows` (global indices from `start`) into candidates; a row that cannot be read gives
    `malformed` records for its responses (one bad row must not stop a long run)."""
    from r1_recipe.core.rewards.accuracy import is_code_ground_truth

    shard = Shard(index, start, len(rows))
    for offset, row in enumerate(rows.to_dict("records")):
        try:
            g = parse_row(row, cfg.prompt_key, cfg.response_key, cfg.think_in_prompt)
            judges = per_response(row.get(cfg.judge_column), len(g.responses)) if cfg.judge_column else None
        except (MalformedRow, TypeError) as e:
            reason = str(e) if isinstance(e, MalformedRow) else f"malformed_row: {type(e).__name__}: {e}"[:200]
            logger.warning("prompt row %d dropped: %s", start + offset, reason)
            shard.malformed.extend(_record(start + offset, j, None, None, {}, "malformed", reason, 0, None)
                                   for j in range(n_responses(row, cfg.response_key)))
            continue
        is_code = is_code_ground_truth(g.ground_truth) or "code" in g.data_source.lower()
        for j, response in enumerate(g.responses):
            verdict = judge_verdict(judges[j]) if judges is not None else None
            if g.ground_truth is not None:
                shard.samples[len(shard.cands)] = (response, g.ground_truth, g.extra_info, g.truncated[j])
            shard.cands.append(Candidate(response, g.prompt, None, verdict, is_code, g.truncated[j]))
            shard.meta.append((start + offset, j, g.data_source, g.messages))
    return shard


def score_shards(shards: Iterable[Shard], composer, cfg: RejectionConfig) -> Iterator[Shard]:
    """Score and filter the responses of every shard, yielding each shard with its `scores` and `failures`.

    One stream of work over all shards: the reward workers score a response and run the filters of its text (all
    but `incorrect`) in one call, and they start on the next shard while this process selects and writes the last
    one (`ahead`); this process only reads verdicts. Responses without a ground truth (judge verdicts) get the
    filters alone."""
    source, built, pulled, done = iter(shards), {}, 0, object()

    def shard_at(k: int):
        """The k-th shard (None once yielded), pulling shards from `shards` as needed; `done` after the last."""
        nonlocal pulled
        while pulled <= k:
            nxt = next(source, done)
            if nxt is done:
                return done
            built[pulled] = nxt
            pulled += 1
        return built.get(k)

    def items(scored: bool):
        k = 0
        while (shard := shard_at(k)) is not done:
            for i, c in enumerate(shard.cands if shard is not None else ()):
                if (i in shard.samples) == scored:
                    yield (*shard.samples[i], (c, cfg.filters)) if scored else (c, cfg.filters)
            k += 1

    ahead = 8 * cfg.shard_size
    scoring = composer.score_many(items(True), after=content_failure, ahead=ahead)
    unscored = composer.pool.map(content_failure, items(False), timeout=composer.cfg.timeout_s,
                                 default=_filters_failed, ahead=ahead)
    k = 0
    while (shard := shard_at(k)) is not done:
        for i, c in enumerate(shard.cands):
            if i in shard.samples:
                result, failure = next(scoring)
                failure = failure or ("no_verdict", "filters: timeout")
                shard.scores[i] = result
                c.acc = float(result["acc"])
                if not failure[0] and result[INFRA_FAILURE]:  # no verdict: not known to be correct, never kept
                    failure = ("no_verdict", ";".join(f"{n}:{v}" for n, v in result.items()
                                                      if n.endswith("_reason") and v))
            else:
                failure = next(unscored)
            if not failure[0]:
                reason = check_correct(c, cfg.filters)
                failure = ("incorrect", reason) if reason else failure
            shard.failures.append(failure)
        if shard.scores and all(r[INFRA_FAILURE] for r in shard.scores.values()):
            # every score would silently be 0: stop instead (the run resumes from this shard)
            first = shard.failures[min(shard.scores)][1]
            raise RuntimeError(f"the reward pool gave no verdict for any of the {len(shard.scores)} scored responses "
                               f"of prompts {shard.start}-{shard.start + shard.rows - 1} ({first}); check the reward "
                               "workers (reward.r1.memory_mb, timeout_s); when calling rejection.run from a script, "
                               "put the call under `if __name__ == '__main__':`")
        del built[k]
        yield shard
        k += 1


SELECT_BATCH = 32  # prompts per selection call in the reward workers


def _selection(shard: Shard, group: range, cfg: RejectionConfig) -> tuple[list[str], list[bool], str]:
    """`select`'s arguments for one prompt: the texts (blank where a filter dropped the response: selection skips
    those, and only their count matters), which passed every filter, the prompt key of the seeded shuffle."""
    passed = [not shard.failures[k][0] for k in group]
    texts = [shard.cands[k].response if ok else "" for k, ok in zip(group, passed, strict=True)]
    return texts, passed, json.dumps(shard.meta[group[0]][3], sort_keys=True)


def select_shards(shards: Iterable[Shard], pool, cfg: RejectionConfig, timeout: float,
                  depth: int = 4) -> Iterator[Shard]:
    """Yield each scored and filtered shard, in order, with its selection `labels`. Prompts where two or more
    responses passed every filter are selected in the reward workers, `SELECT_BATCH` at a time, while this process
    goes on reading verdicts (the near-duplicate check builds word 5-gram sets, the costliest step left here); the
    others here, where there is nothing to compare. A batch the pool gives no answer on (its deadline, a dead
    worker) is selected here: the same function, so the same labels. At most `depth` shards wait for their labels."""
    pending: collections.deque = collections.deque()

    def submit(shard: Shard):
        batches, batch, where = [], [], []
        shard.labels = [""] * len(shard.cands)
        for group in shard.prompts():
            args = _selection(shard, group, cfg)
            if sum(args[1]) < 2:  # nothing to compare: no 5-gram sets are built
                shard.labels[group.start:group.stop] = select(*args[:2], cfg.filters, key=args[2])
                continue
            batch.append(args)
            where.append(group)
            if len(batch) == SELECT_BATCH:
                batches.append((batch, where))
                batch, where = [], []
        if batch:
            batches.append((batch, where))
        return [(pool.submit(select_batch, b, cfg.filters, timeout=timeout), b, w) for b, w in batches]

    def finish(shard: Shard, calls) -> Shard:
        for future, batch, where in calls:
            try:
                labels = future.result()
            except Exception as e:  # no answer from the pool: select here
                logger.debug("selection in the reward workers failed (%s); selecting here", e)
                labels = select_batch(batch, cfg.filters)
            for group, group_labels in zip(where, labels, strict=True):
                shard.labels[group.start:group.stop] = group_labels
        return shard

    try:
        for shard in shards:
            pending.append((shard, submit(shard)))
            while pending and (len(pending) > depth or all(f.done() for f, _, _ in pending[0][1])):
                yield finish(*pending.popleft())
        while pending:
            yield finish(*pending.popleft())
    finally:
        for _, calls in pending:
            for future, _, _ in calls:
                future.cancel()


def process_shard(shard: Shard, cfg: RejectionConfig) -> pd.DataFrame:
    """The records of a scored and filtered shard, after the per-prompt selection (`shard.labels`, made here when
    empty); one record per response (columns `SHARD_COLUMNS`), `status` "kept" or the filter that dropped it."""
    cands, meta, failures = shard.cands, shard.meta, shard.failures
    if not shard.labels:
        shard.labels = [""] * len(cands)
        for group in shard.prompts():
            texts, passed, key = _selection(shard, group, cfg)
            shard.labels[group.start:group.stop] = select(texts, passed, cfg.filters, key=key)
    status = [failure[0] or label for failure, label in zip(failures, shard.labels, strict=True)]
    results = [shard.scores.get(k, _NO_SCORE) for k in range(len(cands))]
    columns = {  # built column by column (a dict per record, then a frame of them, took twice as long)
        "prompt_index": [m[0] for m in meta], "response_index": [m[1] for m in meta],
        "data_source": [m[2] for m in meta], "acc": [c.acc for c in cands],
        "score": [r.get("score") for r in results], "pred": [r.get("pred") for r in results], "status": status,
        "reason": [failure[1] or ("" if st == "kept" else st) for failure, st in zip(failures, status, strict=True)],
        "reward_reasons": [_reward_reasons(r) for r in results], "chars": [len(c.response) for c in cands],
        "messages": [[*m[3], {"role": "assistant", "content": sft_assistant(c.response)}] if st == "kept" else None
                     for m, c, st in zip(meta, cands, status, strict=True)],
    }
    if shard.malformed:  # their records go in prompt order, as every record does
        for record in shard.malformed:
            for name, values in columns.items():
                values.append(record[name])
        keys = list(zip(columns["prompt_index"], columns["response_index"], strict=True))
        order = sorted(range(len(keys)), key=keys.__getitem__)
        columns = {name: [values[i] for i in order] for name, values in columns.items()}
    return pd.DataFrame(columns, columns=SHARD_COLUMNS)


_NO_SCORE: dict = {}


def _filters_failed(error: BaseException, item: tuple) -> tuple[str, str]:
    """The filters gave no answer on a response (ran out of time, their worker died): not known to be fit, dropped."""
    return "no_verdict", f"filters: {getattr(error, 'reason', None) or f'error: {type(error).__name__}: {error}'}"


def _record(prompt_index, response_index, data_source, acc, result: dict, status, reason, chars, messages) -> dict:
    return {
        "prompt_index": prompt_index, "response_index": response_index, "data_source": data_source, "acc": acc,
        "score": result.get("score"), "pred": result.get("pred"), "status": status, "reason": reason,
        "reward_reasons": _reward_reasons(result), "chars": chars, "messages": messages,
    }


def _reward_reasons(result: dict) -> str:
    return ";".join(f"{n}:{v}" for n, v in result.items() if n.endswith("_reason") and v)


# ---------------------------------------------------------------- the run

@contextlib.contextmanager
def _fewer_collections(young: int = 100_000):
    """Python's cyclic collector, run less often while the responses stream through: it starts after every 700 new
    containers, and this loop makes dozens per response (verdicts, records), so at the default it walks the heap
    some thousand times per 10^4 responses, ~25% of this process's time. Unreachable cycles are still collected,
    per `young` new containers; the threshold is restored after. (At 20,000, a 20k-response run spent 16-34 ms in
    4 collections, which met thousands of responses in flight; at 100,000, ~2.5 ms in 2.)"""
    old = gc.get_threshold()
    if old[0]:  # 0: the collector is off, leave it so
        gc.set_threshold(max(old[0], young), *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


def _input_fingerprint(paths: list[str]) -> list:
    out = []
    for p in paths:
        st = os.stat(p)
        out.append([os.path.abspath(p), st.st_size, int(st.st_mtime)])
    return out


CHUNK = 128  # calls per pool task (the pool's default, 16, is for training's small batches)


def make_composer(cfg: RejectionConfig):
    """The reward pool of a run (`run`'s `composer`): its workers also import the filters when they start, since they
    run them next to the scoring. It hands the workers up to `CHUNK` calls per task, each call with its own deadline
    as before: at 16 a task, the per-task cost (pebble's pipes and threads, futures, the progress file) was ~0.4 of
    the ~3.2 CPU-s of a 20k-response run (bench/rejection_bench.py). A worker killed at a call's hard deadline loses
    the results of the calls before it in its task, which are run again."""
    from r1_recipe.core.rewards.compose import Composer

    return Composer(cfg.reward, setup=((importlib.import_module, (content_failure.__module__,)),), chunk=CHUNK)


def run(inputs: list[str], out: str | os.PathLike, cfg: RejectionConfig | None = None, overwrite: bool = False,
        progress: bool = True, plot: bool = True, composer=None, reward_recipe: str | None = None) -> dict:
    """The whole step; returns the report. Resumable: shards already in `out/shards/` are not recomputed.
    `composer`: a reward pool to use (`make_composer`), else one is started and closed here. `reward_recipe`: the
    recipe `cfg.reward` comes from, whose chat template tells whether the prompts opened `<think>` when
    `cfg.think_in_prompt` is None and the inputs do not record it."""
    from dataclasses import replace

    import pyarrow.parquet as pq

    cfg = cfg or RejectionConfig()
    out = Path(out)
    shard_dir = out / "shards"
    manifest_path = out / "manifest.json"
    inputs = [str(p) for p in inputs]
    if not inputs:
        raise ValueError("no generations files given")
    per_file = count_prompts(inputs, cfg.prompt_key, cfg.response_key)
    if not sum(per_file):
        raise ValueError(f"no prompt rows in {', '.join(inputs)}")
    cfg = replace(cfg, think_in_prompt=think_rule(cfg.think_in_prompt, inputs, reward_recipe)[0])
    warn_if_truncation_unknown(inputs)
    manifest = {"inputs": _input_fingerprint(inputs), "config": cfg.fingerprint(), "version": 1}
    if manifest_path.exists():
        old = json.loads(manifest_path.read_text())
        if old != json.loads(json.dumps(manifest)):
            if not overwrite:
                raise RuntimeError(f"{out} holds a run with different inputs or settings; pass --overwrite to start "
                                   f"over or choose another --out")
            for f in shard_dir.glob("*.parquet"):
                f.unlink()
    shard_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(manifest_path, lambda p: p.write_text(json.dumps(manifest, indent=1)))

    n_shards = sum(-(-n // cfg.shard_size) for n in per_file)
    paths = [shard_dir / f"shard-{i:05d}.parquet" for i in range(n_shards)]
    done = sum(p.exists() for p in paths)
    if done:
        logger.info("resuming: %d of %d shards already done", done, n_shards)
    own_composer = composer is None and done < n_shards
    if own_composer:
        composer = make_composer(cfg)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=sum(per_file), desc="rejection-sample", unit="prompt")
    def todo():
        for i, (start, rows) in enumerate(iter_generations(inputs, cfg.shard_size, cfg.prompt_key, cfg.response_key)):
            if not paths[i].exists():
                yield prepare_shard(rows, start, cfg, i)
            elif bar is not None:
                bar.update(len(rows))

    output = None
    try:
        output = _Output(out, paths)
        with _fewer_collections():
            scored = score_shards(todo(), composer, cfg)
            for shard in select_shards(scored, composer.pool, cfg, composer.cfg.timeout_s):
                table = _arrow(process_shard(shard, cfg))
                atomic_write(paths[shard.index], lambda p, t=table: pq.write_table(t, p, compression="snappy"))
                output.add(shard.index, table)
                if bar is not None:
                    bar.update(shard.rows)
        records = output.close()
    finally:
        if output is not None:
            output.abort()
        if bar is not None:
            bar.close()
        if own_composer:
            composer.pool.close()
    return _report(out, records, n_prompts=sum(per_file), plot=plot)


def _arrow(records: pd.DataFrame):
    """A shard's records as the Table `DataFrame.to_parquet` writes (its file's bytes are the same), converted once for
    the shard file and `sft.parquet`."""
    import pyarrow as pa

    return pa.Table.from_pandas(records, preserve_index=False)


def _sft_schema():
    import pyarrow as pa

    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    return pa.schema([("messages", pa.list_(message)), ("data_source", pa.string()), ("prompt_index", pa.int64()),
                      ("response_index", pa.int64()), ("acc", pa.float64())])


class _Output:
    """`sft.parquet`, written as the shards finish (in shard order; a shard done by an earlier run is read from its
    file when its turn comes) to a temporary file that replaces `sft.parquet` once every shard is in; and the small
    per-response columns the report needs, kept in memory (the texts are never all in memory). Nothing is read back
    at the end: the shards this run made are written from the records in hand."""

    def __init__(self, out: Path, shard_paths: list[Path]):
        import pyarrow.parquet as pq

        self.out, self.shard_paths, self.next, self.small = out, shard_paths, 0, []
        self.tmp = out / f".sft.parquet.tmp-{os.getpid()}"
        self.schema = _sft_schema()
        self.writer = pq.ParquetWriter(self.tmp, self.schema)

    def add(self, index: int, table=None) -> None:
        """The records of shard `index` (a pyarrow Table; None: read from its file), after those of the shards before
        it."""
        import pyarrow.parquet as pq

        while self.next < index:
            self._write(pq.read_table(self.shard_paths[self.next]))
        if table is not None:
            self._write(table)

    def _write(self, table) -> None:
        import pyarrow.compute as pc

        kept = table.filter(pc.equal(table["status"], "kept"))
        if kept.num_rows:
            self.writer.write_table(kept.select(list(self.schema.names)).cast(self.schema))
        self.small.append(table.select(["prompt_index", "status", "reason", "chars"]).to_pandas())
        self.next += 1

    def close(self) -> pd.DataFrame:
        """Write the shards not written yet, put `sft.parquet` in place; the report's columns of every response."""
        self.add(len(self.shard_paths))
        self.writer.close()
        os.replace(self.tmp, self.out / "sft.parquet")
        return pd.concat(self.small, ignore_index=True)

    def abort(self) -> None:
        """Remove the temporary file of a run that failed (the shards stay); nothing after `close`."""
        if self.writer.is_open:
            self.writer.close()
        self.tmp.unlink(missing_ok=True)


def _report(out: Path, records: pd.DataFrame, n_prompts: int, plot: bool) -> dict:
    report = build_report(records, n_prompts)
    atomic_write(out / "report.json", lambda p: p.write_text(json.dumps(report, indent=1)))
    if plot:
        plot_lengths(records, out / "lengths.png")
    return report


def _length_stats(chars: pd.Series) -> dict:
    if chars.empty:
        return {"count": 0}
    q = chars.quantile([0.5, 0.9, 0.99]).tolist()
    return {"count": int(chars.size), "min": int(chars.min()), "mean": round(float(chars.mean()), 1),
            "p50": float(q[0]), "p90": float(q[1]), "p99": float(q[2]), "max": int(chars.max())}


def build_report(records: pd.DataFrame, n_prompts: int) -> dict:
    status = records["status"]
    kept_per_prompt = records.assign(k=status.eq("kept")).groupby("prompt_index")["k"].sum()
    kept_per_prompt = kept_per_prompt.reindex(range(n_prompts), fill_value=0) if n_prompts else kept_per_prompt
    hist = Counter(int(v) for v in kept_per_prompt)
    reasons = Counter(r for r in records.loc[status.ne("kept"), "reason"] if r)
    edges = np.histogram_bin_edges(records["chars"], bins=20) if len(records) else np.array([0, 1])
    return {
        "prompts_in": int(n_prompts),
        "responses_in": int(len(records)),
        "kept": int(status.eq("kept").sum()),
        "dropped": {name: int(status.eq(name).sum()) for name in DROPPED},
        "drop_reasons": dict(reasons.most_common(30)),
        "kept_per_prompt": {str(k): hist[k] for k in sorted(hist)},
        "length_chars": {
            "kept": _length_stats(records.loc[status.eq("kept"), "chars"]),
            "all": _length_stats(records["chars"]),
            "bin_edges": [float(e) for e in edges],
            "kept_hist": np.histogram(records.loc[status.eq("kept"), "chars"], bins=edges)[0].tolist(),
            "all_hist": np.histogram(records["chars"], bins=edges)[0].tolist(),
        },
    }


def plot_lengths(records: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    bins = np.histogram_bin_edges(records["chars"], bins=40) if len(records) else 10
    ax.hist(records["chars"], bins=bins, alpha=0.5, label="all responses")
    ax.hist(records.loc[records["status"] == "kept", "chars"], bins=bins, alpha=0.8, label="kept")
    ax.set_xlabel("response length (characters)")
    ax.set_ylabel("responses")
    ax.set_title("rejection sampling: response lengths")
    ax.legend()
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=100))
    plt.close(fig)


# ---------------------------------------------------------------- mixing (sft_all)

def _check_messages(df: pd.DataFrame, name: str) -> None:
    if "messages" not in df.columns:
        raise ValueError(f"{name}: missing column 'messages'; columns: {', '.join(map(str, df.columns))}")
    for i, msgs in enumerate(df["messages"]):
        roles = [m["role"] for m in as_list(msgs)] if msgs is not None else []
        if "assistant" not in roles:
            raise ValueError(f"{name}: row {i} column 'messages' has no assistant turn (roles: {roles})")


def mix_sft(reasoning: pd.DataFrame | str, non_reasoning: pd.DataFrame | str, ratio: float,
            seed: int = 0) -> pd.DataFrame:
    """Mix a reasoning and a non-reasoning SFT set at `ratio` reasoning rows per non-reasoning row (DeepSeek-R1
    §2.3.3 used about 600k:200k, ratio 3). Uses every row of the set that limits the mix and a seeded sample of the
    other; shuffles; adds a `source` column. Only `messages` (and `source`) are kept, so both sets line up."""
    if not ratio > 0:
        raise ValueError(f"ratio must be positive (reasoning rows per non-reasoning row), got {ratio}")
    sets = {}
    for name, data in (("reasoning", reasoning), ("non_reasoning", non_reasoning)):
        df = read_parquet(data) if isinstance(data, str | os.PathLike) else data
        _check_messages(df, str(data) if isinstance(data, str | os.PathLike) else name)
        sets[name] = df[["messages"]].assign(source=name)
    r, nr = sets["reasoning"], sets["non_reasoning"]
    if len(nr) >= len(r) / ratio:  # enough non-reasoning rows: keep every reasoning row
        n_r, n_nr = len(r), int(round(len(r) / ratio))
    else:  # the non-reasoning set limits the mix
        n_r, n_nr = min(len(r), int(round(len(nr) * ratio))), len(nr)
    rng = np.random.default_rng(seed)
    parts = [r.iloc[np.sort(rng.choice(len(r), n_r, replace=False))],
             nr.iloc[np.sort(rng.choice(len(nr), n_nr, replace=False))]]
    mixed = pd.concat(parts, ignore_index=True)
    return mixed.iloc[rng.permutation(len(mixed))].reset_index(drop=True)


# ---------------------------------------------------------------- CLI

def load_reward_config(recipe: str | None) -> dict:
    """The `reward.r1` block of a recipe, given by name (`reasoning_rl`, see `r1-recipe ls`) or as a YAML file, or
    a YAML file's top-level `components` block; None: the accuracy component alone."""
    if recipe is None:
        return dict(ACCURACY_ONLY)
    from omegaconf import OmegaConf

    from r1_recipe.tools.recipes import resolve_recipe

    path, _ = resolve_recipe(recipe)
    cfg = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    node = cfg.get("reward", {}).get("r1") if isinstance(cfg.get("reward"), dict) else None
    if node is None and cfg.get("defaults"):  # a recipe that inherits its reward block (zero_dapo: zero's)
        from r1_recipe.tools.recipes import compose

        node = OmegaConf.select(compose(str(path))[0], "reward.r1")
        node = None if node is None else OmegaConf.to_container(node, resolve=True)
    node = node if node is not None else cfg
    if not isinstance(node, dict) or "components" not in node:
        raise ValueError(f"{path}: no `reward.r1.components` (or top-level `components`) block")
    return node


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "rejection-sample",
        help="score, filter and select generations into an SFT messages parquet (R1 stage 3)",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("inputs", nargs="+", help="verl generation parquet(s) or jsonl(s) with prompt + responses")
    p.add_argument("--out", required=True, help="output directory (resumable: rerun the same command to continue)")
    p.add_argument("--reward-config", metavar="RECIPE", help="a recipe name (e.g. reasoning_rl) or YAML file whose "
                   "reward.r1 block scores the responses (default: accuracy only)")
    p.add_argument("--k", type=int, default=4, help="at most K responses kept per prompt (default 4)")
    p.add_argument("--selection", choices=("random", "shortest", "first"), default="random")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--language", help="target language of the reasoning (default: the prompt's)")
    p.add_argument("--min-language-share", type=float, default=0.95)
    p.add_argument("--max-paragraph-units", type=int, default=600)
    p.add_argument("--min-chars", type=int, default=1)
    p.add_argument("--max-chars", type=int, default=100_000)
    p.add_argument("--max-repeat-ratio", type=float, default=0.3)
    p.add_argument("--dedup-threshold", type=float, default=0.9)
    p.add_argument("--answer-tag", action="store_true", help="require <answer>...</answer> (R1-Zero form)")
    p.add_argument("--judge-column", help="verdict column used where a row has no ground truth")
    p.add_argument("--think-in-prompt", choices=THINK_MODES, help=THINK_HELP)
    p.add_argument("--prompt-key", default="prompt")
    p.add_argument("--response-key", default="responses")
    p.add_argument("--shard-size", type=int, default=256, help="prompts per resumable shard")
    p.add_argument("--overwrite", action="store_true", help="discard shards of a run with other inputs/settings")
    p.add_argument("--no-plot", action="store_true")
    p.add_argument("--mix", metavar="NON_REASONING.parquet", help="also write OUT/mixed.parquet with this set")
    p.add_argument("--mix-ratio", type=float, default=3.0, help="reasoning rows per non-reasoning row (default 3)")
    p.add_argument("--mix-only", action="store_true",
                   help="INPUTS are reasoning SFT parquets: only mix them with --mix into OUT/mixed.parquet")
    p.set_defaults(func=main)
    return p


def main(args) -> int:
    out = Path(args.out)
    try:
        if args.mix_only:
            if not args.mix:
                raise ValueError("--mix-only needs --mix NON_REASONING.parquet")
            reasoning = pd.concat([read_parquet(p) for p in args.inputs], ignore_index=True)
            return _write_mix(reasoning, args, out)
        if args.mix:
            parquet_file(args.mix)  # a missing or broken mix set fails now, not after the whole run
        filters = FilterConfig(
            k=args.k, selection=args.selection, seed=args.seed, language=args.language,
            min_language_share=args.min_language_share, max_paragraph_units=args.max_paragraph_units,
            min_chars=args.min_chars, max_chars=args.max_chars, max_repeat_ratio=args.max_repeat_ratio,
            dedup_threshold=args.dedup_threshold, answer_tag=args.answer_tag,
        )
        cfg = RejectionConfig(filters=filters, reward=load_reward_config(args.reward_config),
                              prompt_key=args.prompt_key, response_key=args.response_key,
                              judge_column=args.judge_column, think_in_prompt=args.think_in_prompt,
                              shard_size=args.shard_size)
        report = run(args.inputs, out, cfg, overwrite=args.overwrite, plot=not args.no_plot,
                     reward_recipe=args.reward_config)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"r1-recipe rejection-sample: error: {e}", file=sys.stderr)
        return 2
    dropped = ", ".join(f"{k}={v}" for k, v in report["dropped"].items() if v)
    print(f"{report['responses_in']} responses for {report['prompts_in']} prompts -> kept {report['kept']} "
          f"({dropped or 'none dropped'}); wrote {out / 'sft.parquet'}, {out / 'report.json'}")
    if args.mix:
        return _write_mix(pd.read_parquet(out / "sft.parquet"), args, out)
    return 0


def _write_mix(reasoning: pd.DataFrame, args, out: Path) -> int:
    mixed = mix_sft(reasoning, args.mix, args.mix_ratio, seed=args.seed)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "mixed.parquet", lambda p: mixed.to_parquet(p, index=False))
    counts = mixed["source"].value_counts().to_dict()
    print(f"mixed {counts.get('reasoning', 0)} reasoning + {counts.get('non_reasoning', 0)} non-reasoning rows "
          f"-> {out / 'mixed.parquet'}")
    return 0

"""Generation at scale for `eval_generate` and `rejection_sampling`: verl's vLLM servers, our client.

verl 0.9.1's `main_generation_server` starts the rollout replicas well (`start_server`), but its client opens one HTTP
connection per request, sends every request at once and writes only at the end: 40k prompts x 4 samples needs ~160k
sockets, one crash loses everything. This entry point reuses `start_server` and replaces the client:

- chunked: `r1_generation.chunk_prompts` prompts at a time; each finished chunk is written (atomically) to
  `<output_path>.chunks/chunk_NNNNNN.parquet` before the next starts;
- resumable: a rerun with the same command skips every finished chunk (the manifest checks that the prompts, n,
  model and sampling settings are the same, and refuses otherwise);
- bounded: one HTTP session, at most `r1_generation.max_connections` requests in flight (sockets), a timeout and a
  bounded number of retries per request; a request that still fails stops the run with the finished chunks kept;
- progress: one line per chunk (prompts done, responses/s, ETA).

The output is verl's: the input rows plus a `responses` column of n strings per row, at `data.output_path`, plus a
`finish_reasons` column (the server's, per response: "length" marks a response cut at `max_tokens`, which offline
scoring treats as training treats a response without EOS at the length limit), with the generation settings in the
parquet metadata (`generation_settings`: model and hashes, sampling, k, lengths, TP size, dtype, chat template and
whether its generation prompt opens `<think>` (`think_in_prompt`), prompt format, versions; read back by
`r1-recipe eval` and `rejection-sample`, r1_recipe.core.provenance).
Launch: `r1-recipe run eval_generate ...` (= python -m r1_recipe.verl.generate --config-path pkg://r1_recipe.recipes
--config-name eval_generate ...).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from r1_recipe.core import provenance
from r1_recipe.core.config import Block, Key

# The `r1_generation` block, defined once (core.config): ClientConfig reads it, docs/recipes.md lists it (tested), the
# dry-run prints it.
R1_GENERATION = Block("r1_generation", (
    Key("chunk_prompts", 64, "prompts per chunk; each finished chunk is on disk (<output_path>.chunks/)", kind="int",
        low=1),
    Key("max_connections", 256, "requests in flight (= sockets), all replicas together", kind="int", low=1),
    Key("request_timeout_s", 7200.0, "seconds for one request (one 32k-token sample at worst)", above=0),
    Key("max_retries", 3, "retries per request, then the run stops (the same command resumes it)", kind="int",
        low=0),
))


@dataclass(frozen=True)
class ClientConfig:
    chunk_prompts: int = R1_GENERATION["chunk_prompts"].default
    max_connections: int = R1_GENERATION["max_connections"].default
    request_timeout_s: float = R1_GENERATION["request_timeout_s"].default
    max_retries: int = R1_GENERATION["max_retries"].default
    retry_wait_s: float = 1.0  # not a config key: the first retry's wait, doubled each time

    @classmethod
    def from_config(cls, node) -> ClientConfig:
        """From the `r1_generation` block; ValueError naming the key for an unknown key or a bad value."""
        return cls(**R1_GENERATION.parse(node))


class GenerationError(RuntimeError):
    """A request failed after its retries; the finished chunks are kept and a rerun resumes after them."""


def _fingerprint(prompts: list, n: int, model: str, sampling: dict, chunk_prompts: int) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([model, n, sampling, chunk_prompts], sort_keys=True).encode())
    for p in prompts:
        h.update(json.dumps(p, sort_keys=True, default=str).encode())
    return h.hexdigest()


def _as_messages(prompt) -> list[dict]:
    """A parquet prompt cell (numpy array of dicts) as a JSON-able list of messages."""
    plain = (str, int, float, bool, type(None))
    return [{str(k): (v if isinstance(v, plain) else str(v)) for k, v in dict(m).items()} for m in list(prompt)]


async def _request(session, url: str, payload: dict, cfg: ClientConfig) -> tuple[str, str | None]:
    """(the response text, the server's finish reason)."""
    import aiohttp

    last = None
    for attempt in range(cfg.max_retries + 1):
        try:
            async with session.post(url, json=payload, headers={"Authorization": "Bearer token-abc123"}) as resp:
                if resp.status >= 500 or resp.status == 429:
                    last = f"HTTP {resp.status}: {(await resp.text())[:200]}"
                else:
                    data = await resp.json(content_type=None)
                    if resp.status != 200:
                        raise GenerationError(f"{url}: HTTP {resp.status}: {str(data)[:300]}")
                    choice = data["choices"][0]
                    return choice["message"]["content"] or "", choice.get("finish_reason")
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            last = f"{type(e).__name__}: {e}"
        if attempt < cfg.max_retries:
            await asyncio.sleep(cfg.retry_wait_s * 2**attempt)
    raise GenerationError(f"{url}: failed after {cfg.max_retries + 1} attempts ({last})")


async def _generate_chunk(session, addresses: list[str], model: str, prompts: list[list[dict]], n: int,
                          sampling: dict, cfg: ClientConfig, start_index: int) -> list[list[tuple[str, str | None]]]:
    sem = asyncio.Semaphore(cfg.max_connections)

    async def one(i: int, messages: list[dict]) -> tuple[str, str | None]:
        address = addresses[i % len(addresses)]  # round-robin over the replicas, request by request
        async with sem:
            return await _request(session, f"http://{address}/v1/chat/completions",
                                  {"model": model, "messages": messages, **sampling}, cfg)

    jobs = [one(start_index * n + k, messages) for k, messages in enumerate(p for p in prompts for _ in range(n))]
    tasks = [asyncio.ensure_future(j) for j in jobs]
    try:
        flat = await asyncio.gather(*tasks)
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return [list(flat[i * n:(i + 1) * n]) for i in range(len(prompts))]


def chunk_dir(output_path: str | os.PathLike) -> Path:
    return Path(f"{output_path}.chunks")


def generate(dataset, prompt_key: str, addresses: list[str], model: str, n: int, sampling: dict,
             output_path: str | os.PathLike, cfg: ClientConfig = ClientConfig(),
             log: Callable[[str], None] = lambda s: print(s, file=sys.stderr, flush=True),
             settings: dict | None = None) -> Path:
    """Generate n responses per row of `dataset` (a DataFrame with chat-message prompts in `prompt_key`) through the
    OpenAI-compatible servers at `addresses` ("host:port"), chunk by chunk, resuming after finished chunks. Writes
    the rows plus `responses` to `output_path` (with `settings` in its metadata) and returns it."""
    import pandas as pd

    prompts = [_as_messages(p) for p in dataset[prompt_key].tolist()]
    chunks = [(i, i + cfg.chunk_prompts) for i in range(0, len(prompts), cfg.chunk_prompts)]
    out, parts = Path(output_path), chunk_dir(output_path)
    parts.mkdir(parents=True, exist_ok=True)
    manifest = {"prompts": len(prompts), "n": n, "model": model, "sampling": sampling,
                "chunk_prompts": cfg.chunk_prompts, "fingerprint": _fingerprint(prompts, n, model, sampling,
                                                                                 cfg.chunk_prompts)}
    mpath = parts / "manifest.json"
    if mpath.exists():
        old = json.loads(mpath.read_text())
        if old.get("fingerprint") != manifest["fingerprint"]:
            raise GenerationError(f"{parts} holds chunks of another generation (prompts, n, model, sampling or "
                                  f"chunk_prompts differ: {old.get('prompts')} prompts, n={old.get('n')}, "
                                  f"model={old.get('model')}); remove it or choose another data.output_path")
    else:
        mpath.write_text(json.dumps(manifest, indent=1))
    done = {i for i, _ in enumerate(chunks) if (parts / f"chunk_{i:06d}.parquet").exists()}
    todo = [i for i in range(len(chunks)) if i not in done]
    total_requests = len(prompts) * n
    log(f"generate: {len(prompts)} prompts x n={n} = {total_requests} requests in {len(chunks)} chunk(s) of "
        f"{cfg.chunk_prompts} prompts, {len(addresses)} server(s), at most {cfg.max_connections} in flight"
        + (f"; resuming: {len(done)} chunk(s) already done" if done else ""))

    async def run() -> None:
        import aiohttp

        connector = aiohttp.TCPConnector(limit=cfg.max_connections)
        timeout = aiohttp.ClientTimeout(total=cfg.request_timeout_s)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            t0, finished = time.monotonic(), 0
            for i in todo:
                lo, hi = chunks[i]
                responses = await _generate_chunk(session, addresses, model, prompts[lo:hi], n, sampling, cfg, lo)
                part = dataset.iloc[lo:hi].copy()
                part["responses"] = [[text for text, _ in row] for row in responses]
                part["finish_reasons"] = [[reason or "" for _, reason in row] for row in responses]
                tmp = parts / f".chunk_{i:06d}.parquet.tmp"
                part.to_parquet(tmp)
                os.replace(tmp, parts / f"chunk_{i:06d}.parquet")  # a chunk file exists only when complete
                finished += hi - lo
                elapsed = time.monotonic() - t0
                rate = finished * n / elapsed if elapsed > 0 else float("inf")
                left = sum(chunks[j][1] - chunks[j][0] for j in todo if j > i) * n
                log(f"generate: chunk {i + 1}/{len(chunks)} done ({hi}/{len(prompts)} prompts), "
                    f"{rate:.1f} responses/s, ETA {left / rate if rate else 0:.0f} s")

    asyncio.run(run())
    frames = [pd.read_parquet(parts / f"chunk_{i:06d}.parquet") for i in range(len(chunks))]
    result = pd.concat(frames, axis=0, ignore_index=True) if frames else dataset.assign(responses=[])
    assert len(result) == len(prompts) and all(len(r) == n for r in result["responses"])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    provenance.write_parquet(result, tmp, settings)
    os.replace(tmp, out)
    log(f"generate: wrote {len(result)} rows x {n} responses to {out} (chunks kept in {parts} until you remove them)")
    return out


# ------------------------------------------------------------------------------------------------------- entry point
def sampling_params(config) -> dict:
    """verl main_generation_server's sampling parameters (same keys, same values)."""
    rollout = config.actor_rollout_ref.rollout
    return {"temperature": float(rollout.temperature), "top_p": float(rollout.top_p),
            "max_tokens": int(rollout.response_length)}


def generation_settings(config, dataset, prompt_key: str) -> dict:
    """What `r1-recipe eval` records about how the samples were produced (r1_recipe.core.provenance)."""
    from r1_recipe.core.templates import last_user_message

    rollout, model = config.actor_rollout_ref.rollout, config.actor_rollout_ref.model
    n_gpus = int(config.trainer.n_gpus_per_node) * int(config.trainer.nnodes)
    tp = int(rollout.tensor_model_parallel_size)
    return {
        "model": provenance.model_fingerprint(model.path),
        "n": int(rollout.n),
        "sampling": {**sampling_params(config), "top_k": int(rollout.get("top_k", -1)), "seed": rollout.get("seed")},
        "max_prompt_length": int(config.data.max_prompt_length),
        "max_model_len": rollout.get("max_model_len"),
        "rollout": {"name": str(rollout.name), "tensor_model_parallel_size": tp, "replicas": n_gpus // tp,
                    "dtype": str(rollout.get("dtype", "bfloat16"))},
        # verl 0.9.1's server applies the served model's own template, not model.custom_chat_template
        "chat_template": provenance.chat_template_fingerprint(model.path),
        "think_in_prompt": think_in_prompt(model.path),
        "prompt_format": provenance.prompt_format(last_user_message(_as_messages(p))
                                                  for p in dataset[prompt_key].tolist()),
        "data": [str(f) for f in (config.data.train_files if not isinstance(config.data.train_files, str)
                                  else [config.data.train_files])],
        "versions": provenance.versions("verl", "vllm", "r1-recipe", "torch", "transformers"),
    }


def think_in_prompt(model_path) -> bool | None:
    """Whether the served model's chat template opens `<think>` in its generation prompt (`core.templates`' rule,
    which offline scoring then applies as the `r1` reward manager does in training); None when it cannot be read."""
    from r1_recipe.core.templates import template_opens_think

    template, _ = provenance.model_chat_template(model_path)
    try:
        return None if template is None else template_opens_think(template)
    except ValueError:
        return None


def read_dataset(config):
    import pandas as pd
    from omegaconf import ListConfig

    files = config.data.train_files
    files = list(files) if isinstance(files, list | ListConfig) else [files]
    return pd.concat([pd.read_parquet(f) for f in files], axis=0, ignore_index=True)


def _main(config) -> None:
    import ray
    from omegaconf import OmegaConf
    from verl.trainer.main_generation_server import start_server

    OmegaConf.resolve(config)
    n = int(config.actor_rollout_ref.rollout.n)
    if config.actor_rollout_ref.rollout.temperature == 0.0 and n != 1:
        raise ValueError("actor_rollout_ref.rollout.temperature=0 samples one response: "
                         "set actor_rollout_ref.rollout.n=1")
    cfg = ClientConfig.from_config(config.get("r1_generation", None))
    dataset = read_dataset(config)
    ray.init(runtime_env={"env_vars": {"TOKENIZERS_PARALLELISM": "true", "NCCL_DEBUG": "WARN", "VLLM_USE_V1": "1"}})
    _, addresses = asyncio.run(start_server(config))
    generate(dataset, config.data.prompt_key, list(addresses), str(config.actor_rollout_ref.model.path), n,
             sampling_params(config), config.data.output_path, cfg,
             settings=generation_settings(config, dataset, config.data.prompt_key))


def main() -> None:
    import hydra

    hydra.main(config_path=None, config_name=None, version_base=None)(_main)()


if __name__ == "__main__":
    main()

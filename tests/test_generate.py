"""Generation at scale (r1_recipe.verl.generate): chunked, bounded in sockets, resumable after a crash without
regenerating a finished chunk, with progress; against a fake OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import threading

import pandas as pd
import pytest

from r1_recipe.verl.generate import ClientConfig, GenerationError, chunk_dir, generate

LOCK = threading.Lock()


class FakeServer:
    """`/v1/chat/completions` on 127.0.0.1: answers with the last user message and a per-prompt sample counter;
    counts requests and the most in flight; fails every request once `fail_after` have been answered."""

    def __init__(self, fail_after: int | None = None, delay_s: float = 0.002, shared: dict | None = None):
        self.fail_after, self.delay_s = fail_after, delay_s
        self.shared = shared if shared is not None else {"in_flight": 0, "max": 0}  # across servers
        self.requests = self.in_flight = self.max_in_flight = 0
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    async def handle(self, request):
        from aiohttp import web

        body = await request.json()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        with LOCK:
            self.shared["in_flight"] += 1
            self.shared["max"] = max(self.shared["max"], self.shared["in_flight"])
        try:
            await asyncio.sleep(self.delay_s)
            if self.fail_after is not None and self.requests >= self.fail_after:
                return web.Response(status=503, text="overloaded")
            self.requests += 1
            text = f"answer to {body['messages'][-1]['content']} (max_tokens {body['max_tokens']})"
            finish = "length" if body["max_tokens"] < 8 else "stop"  # vLLM's reason for a response cut at max_tokens
            return web.json_response({"choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                                   "finish_reason": finish}]})
        finally:
            self.in_flight -= 1
            with LOCK:
                self.shared["in_flight"] -= 1

    def _serve(self):
        from aiohttp import web

        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.handle)
        self.runner = web.AppRunner(app)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.address = f"127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
        self.ready.set()
        self.loop.run_forever()

    def __enter__(self):
        self.thread.start()
        assert self.ready.wait(10)
        return self

    def __exit__(self, *exc):
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def prompts(n: int) -> pd.DataFrame:
    return pd.DataFrame({"prompt": [[{"role": "user", "content": f"q{i}"}] for i in range(n)],
                         "data_source": ["aime"] * n})


SAMPLING = {"temperature": 0.6, "top_p": 0.95, "max_tokens": 32768}


def test_1920_requests_go_through_a_bounded_number_of_sockets(tmp_path):
    """AIME x 64 = 1,920 requests: verl's client opens 1,920 connections at once; ours keeps at most 32 in flight."""
    lines = []
    shared = {"in_flight": 0, "max": 0}
    with FakeServer(shared=shared) as a, FakeServer(shared=shared) as b:
        out = generate(prompts(30), "prompt", [a.address, b.address], "m", 64, SAMPLING, tmp_path / "aime.parquet",
                       ClientConfig(chunk_prompts=8, max_connections=32), log=lines.append)
    assert a.requests + b.requests == 1920 and 1 < shared["max"] <= 32 and a.requests == b.requests
    result = pd.read_parquet(out)
    assert len(result) == 30 and all(len(r) == 64 for r in result["responses"])
    assert result["responses"][7][0] == "answer to q7 (max_tokens 32768)"
    assert list(result["data_source"]) == ["aime"] * 30
    assert sum("chunk" in line and "done" in line for line in lines) == 4  # ceil(30 / 8) progress lines
    assert "ETA" in lines[-2]


def test_a_crash_keeps_finished_chunks_and_the_rerun_does_not_regenerate_them(tmp_path):
    out = tmp_path / "gen.parquet"
    cfg = ClientConfig(chunk_prompts=10, max_connections=8, max_retries=1, retry_wait_s=0.01)
    with FakeServer(fail_after=80) as s:  # 25 prompts x 4 = 100 requests; after 80 (two chunks) it fails
        with pytest.raises(GenerationError, match="failed after 2 attempts"):
            generate(prompts(25), "prompt", [s.address], "m", 4, SAMPLING, out, cfg, log=lambda _: None)
    parts = sorted(p.name for p in chunk_dir(out).glob("chunk_*.parquet"))
    assert parts == ["chunk_000000.parquet", "chunk_000001.parquet"] and not out.exists()
    first = pd.read_parquet(chunk_dir(out) / "chunk_000000.parquet")
    lines = []
    with FakeServer() as s:
        generate(prompts(25), "prompt", [s.address], "m", 4, SAMPLING, out, cfg, log=lines.append)
    assert s.requests == 5 * 4  # only the unfinished chunk
    assert "resuming: 2 chunk(s) already done" in lines[0]
    result = pd.read_parquet(out)
    assert len(result) == 25 and result["responses"][24][3] == "answer to q24 (max_tokens 32768)"
    assert list(result["responses"][0]) == list(first["responses"][0])


def test_a_rerun_with_other_settings_refuses_the_old_chunks(tmp_path):
    out = tmp_path / "gen.parquet"
    with FakeServer() as s:
        generate(prompts(4), "prompt", [s.address], "m", 2, SAMPLING, out, ClientConfig(chunk_prompts=2),
                 log=lambda _: None)
        with pytest.raises(GenerationError, match="holds chunks of another generation"):
            generate(prompts(4), "prompt", [s.address], "m", 3, SAMPLING, out, ClientConfig(chunk_prompts=2),
                     log=lambda _: None)


def test_client_settings_are_checked():
    assert ClientConfig.from_config({"chunk_prompts": 16}).chunk_prompts == 16
    with pytest.raises(ValueError, match=r"^unknown key\(s\) r1_generation\.chunk; allowed: chunk_prompts, "):
        ClientConfig.from_config({"chunk": 1})
    with pytest.raises(ValueError, match=r"^r1_generation\.max_connections must be an integer >= 1, got 0$"):
        ClientConfig.from_config({"max_connections": 0})
    # were accepted: a bool as a count, a non-positive timeout, a negative retry count
    for bad, why in (({"chunk_prompts": True}, "chunk_prompts must be an integer >= 1, got True"),
                     ({"request_timeout_s": 0}, "request_timeout_s must be a positive number, got 0"),
                     ({"max_retries": -1}, "max_retries must be an integer >= 0, got -1")):
        with pytest.raises(ValueError, match=f"^r1_generation.{why}$"):
            ClientConfig.from_config(bad)


def test_the_output_carries_the_generation_settings_eval_records(tmp_path):
    """eval_generate's settings, as r1_recipe.verl.generate builds them from the recipe, end up in the parquet and
    in `r1-recipe eval`'s eval.json."""
    import hashlib
    import json

    from r1_recipe.core.provenance import read_parquet_settings
    from r1_recipe.tools.recipes import compose
    from r1_recipe.verl.generate import generation_settings

    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"max_position_embeddings": 40960}')
    (model / "model.safetensors.index.json").write_text('{"weight_map": {}}')
    (model / "model-00001-of-00001.safetensors").write_bytes(b"")
    (model / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ messages }}"}))
    data = prompts(3)
    data.to_parquet(tmp_path / "in.parquet")
    cfg, _, _ = compose("eval_generate", [f"actor_rollout_ref.model.path={model}",
                                          f"data.train_files={tmp_path / 'in.parquet'}",
                                          f"data.output_path={tmp_path / 'out.parquet'}"])
    settings = generation_settings(cfg, data, "prompt")
    sha = lambda b: hashlib.sha256(b).hexdigest()  # noqa: E731
    assert settings["model"] == {"path": str(model), "config_sha256": sha(b'{"max_position_embeddings": 40960}'),
                                 "weights_index_sha256": sha(b'{"weight_map": {}}')}
    assert settings["n"] == 64 and settings["sampling"]["temperature"] == 0.6 and settings["sampling"]["top_p"] == 0.95
    assert settings["sampling"]["max_tokens"] == 32768 and settings["max_model_len"] == 34816
    assert settings["rollout"] == {"name": "vllm", "tensor_model_parallel_size": 2, "replicas": 4, "dtype": "bfloat16"}
    assert settings["chat_template"] == {"source": "model tokenizer_config.json", "sha256": sha(b"{{ messages }}")}
    assert settings["prompt_format"] == "bare question"
    assert settings["think_in_prompt"] is False  # "{{ messages }}" does not open <think>
    assert {"verl", "r1-recipe"} <= set(settings["versions"])
    with FakeServer() as s:
        out = generate(data, "prompt", [s.address], "m", 2, SAMPLING, tmp_path / "out.parquet",
                       ClientConfig(chunk_prompts=2), log=lambda _: None, settings=settings)
    assert read_parquet_settings(out) == json.loads(json.dumps(settings))
    assert pd.read_parquet(out)["responses"].map(len).tolist() == [2, 2, 2]
    assert pd.read_parquet(out)["finish_reasons"].map(list).tolist() == [["stop", "stop"]] * 3


def test_the_served_template_tells_whether_the_prompts_opened_think(tmp_path):
    """What `r1-recipe eval` / `rejection-sample` read to score a response as training does (`<think>` + response)."""
    from r1_recipe.core.templates import load
    from r1_recipe.verl.generate import think_in_prompt

    (tmp_path / "chat_template.jinja").write_text(load("r1_chat"))
    assert think_in_prompt(tmp_path) is True
    (tmp_path / "chat_template.jinja").write_text(load("r1_zero"))
    assert think_in_prompt(tmp_path) is False
    (tmp_path / "chat_template.jinja").write_text("{{ raise_exception('no') }}")
    assert think_in_prompt(tmp_path) is None and think_in_prompt(tmp_path / "absent") is None


def test_a_response_cut_at_max_tokens_is_marked_length(tmp_path):
    with FakeServer() as s:
        out = generate(prompts(2), "prompt", [s.address], "m", 1, {**SAMPLING, "max_tokens": 4}, tmp_path / "o.parquet",
                       log=lambda _: None)
    assert pd.read_parquet(out)["finish_reasons"].map(list).tolist() == [["length"], ["length"]]

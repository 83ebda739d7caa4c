"""Every `r1-recipe run` command printed in README.md, docs/*.md, the recipes' headers and `run --help` runs, expanded
by bash exactly as printed, with `--dry-run` appended. The files and checkpoints it names are created first under a
temporary $HOME / $CKPT (a checkpoint directory of each stage in verl's layout, with HF weights). Commands with a
`...` placeholder are not runnable as printed and are listed by the test that collects them."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
SFT_STAGES = ("cold_start_sft", "sft_all", "distill")
TINY = {"model_type": "qwen2", "hidden_size": 64, "num_attention_heads": 1, "num_key_value_heads": 1,
        "intermediate_size": 128, "num_hidden_layers": 2, "vocab_size": 1000, "tie_word_embeddings": True,
        "max_position_embeddings": 131072}


def _commands(text: str, comment: bool) -> list[str]:
    lines = [re.sub(r"^#\s?", "", ln) if comment else ln for ln in text.splitlines()]
    out, i = [], 0
    while i < len(lines):
        line = re.sub(r"^(example|Launch|Then):\s+", "", lines[i].strip())
        if line.startswith("r1-recipe run "):
            parts = [line]
            while parts[-1].endswith("\\") and i + 1 < len(lines):
                i += 1
                parts[-1] = parts[-1][:-1].rstrip()
                parts.append(lines[i].strip())
            cmd = " ".join(parts)
            cmd = re.split(r"\s{2,}(?:#|\()", cmd)[0].strip()  # a trailing comment (`  # ...` or `   (...)`)
            out.append(cmd)
        i += 1
    return out


def documented() -> dict[str, str]:
    from r1_recipe.tools.cli import build_parser

    found: dict[str, str] = {}
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for k, c in enumerate(_commands(path.read_text(), comment=False)):
            found[f"{path.name}:{k}"] = c
    for path in sorted((ROOT / "r1_recipe" / "recipes").glob("*.yaml")):
        header = "\n".join(ln for ln in path.read_text().splitlines() if ln.startswith("#"))
        for k, c in enumerate(_commands(header, comment=True)):
            found[f"{path.name}:{k}"] = c
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for k, c in enumerate(_commands(sub.choices["run"].epilog or "", comment=False)):
        found[f"run --help:{k}"] = c
    return found


COMMANDS = documented()
RUNNABLE = {k: c for k, c in COMMANDS.items() if "..." not in c and "…" not in c}


def test_every_recipe_header_and_the_readme_print_a_runnable_command():
    names = {k.split(":")[0] for k in RUNNABLE}
    assert {f"{n}.yaml" for n in ("zero", "reasoning_rl", "all_scenarios_rl", "cold_start_sft", "sft_all", "distill",
                                  "eval_generate", "rejection_sampling")} <= names
    assert {"README.md", "recipes.md", "evaluation.md", "cpu.md", "run --help"} <= names
    assert sorted(set(COMMANDS) - set(RUNNABLE)) == ["recipes.md:1"]  # `r1-recipe run ./my_zero.yaml ...`


def _prepare(argv: list[str], cwd: Path, home: Path) -> None:
    """Create what the (shell-expanded) command names: parquet files, model dirs, checkpoint dirs."""
    import pandas as pd

    for arg in argv:
        key, eq, value = arg.partition("=")
        if not eq:
            continue
        values = value.strip("[]").split(",") if value.startswith("[") else [value]
        for v in values:
            v = re.sub(r"^~(?=/)", str(home), v)
            p = Path(v) if os.path.isabs(v) else cwd / v
            if v.endswith(".parquet") and "output_path" not in key:
                p.parent.mkdir(parents=True, exist_ok=True)
                n = 512  # one batch of the largest recipe (512 prompts): a smaller set is refused at start-up
                pd.DataFrame({"prompt": [[{"role": "user", "content": "1+1?"}]] * n, "data_source": ["x"] * n,
                              "reward_model": [{"style": "rule", "ground_truth": "2"}] * n,  # `run` audits golds
                              "messages": [[{"role": "user", "content": "1+1?"},
                                            {"role": "assistant", "content": "2"}]] * n}).to_parquet(p)
            elif key.lstrip("+").endswith("model.path") and os.path.isabs(v) and "/ckpt/" in v:
                stage = p.name
                export = p / "global_step_3" / ("huggingface" if stage in SFT_STAGES else "actor/huggingface")
                export.mkdir(parents=True, exist_ok=True)
                (export / "config.json").write_text(json.dumps(TINY))
                (export / "model.safetensors").write_bytes(b"")
                (p / "latest_checkpointed_iteration.txt").write_text("3")
            elif key.lstrip("+").endswith("model.path") and os.path.isabs(v) and "tiny" in v:
                p.mkdir(parents=True, exist_ok=True)
                (p / "config.json").write_text(json.dumps(TINY))
                (p / "model.safetensors").write_bytes(b"")


@pytest.mark.parametrize("where", sorted(RUNNABLE))
def test_documented_command_passes_dry_run_as_printed(where, tmp_path, monkeypatch, capsys):
    """bash expands the command exactly as printed (variables, `~`, quoting, line continuations); the resulting argv
    goes to `r1-recipe`'s own entry function in this process (the console script calls the same function), which saves
    a verl import per command."""
    from r1_recipe.tools.cli import main as cli

    cmd = RUNNABLE[where] + " --dry-run"
    env = {"HOME": str(tmp_path / "home"), "CKPT": str(tmp_path / "ckpt"), "TINY_MODEL": str(tmp_path / "tiny")}
    (tmp_path / "home").mkdir()
    argv = subprocess.run(["bash", "-c", f"printf '%s\\0' {cmd}"], env={**os.environ, **env}, capture_output=True,
                          text=True, check=True, cwd=tmp_path).stdout.split("\0")[:-1]
    assert argv[0] == "r1-recipe", cmd
    _prepare(argv[1:], tmp_path, tmp_path / "home")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    rc = cli(argv[1:])
    out, err = capsys.readouterr()
    assert rc == 0, f"{where}: {cmd}\n{err[-3000:]}"
    assert "# command:" in out, shlex.quote(cmd)

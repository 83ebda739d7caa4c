"""`r1-recipe report`: curves drawn from a verl file-logger log built here."""

from __future__ import annotations

import json

from r1_recipe.tools.cli import main as cli
from r1_recipe.tools.report import curves, read_log, report

PNG = b"\x89PNG\r\n\x1a\n"


def write_log(path, steps=4):
    """What verl's FileLogger writes: one {"step", "data"} object per line; validation every 2 steps; a partial last
    line as a killed run leaves."""
    with open(path, "w") as f:
        for s in range(1, steps + 1):
            data = {"training/global_step": s, "response_length/mean": 100.0 * s,
                    "r1/response_length/mean": 100.0 * s, "r1/response_length/p90": 150.0 * s,
                    "r1/response_length/max": 200.0 * s, "r1/reflection/rate": 0.1 * s,
                    "r1/reward/acc/mean": 0.2 * s, "r1/truncation_rate": 0.0, "r1/groups/zero_variance": 0.5,
                    "timing/note": "text is skipped"}
            if s % 2 == 0:
                data["val-core/aime2024/acc/mean@16"] = 0.05 * s
            f.write(json.dumps({"step": s, "data": data}) + "\n")
        f.write('{"step": 5, "data": {"r1/ref')


def test_the_log_is_read_into_series_per_metric(tmp_path):
    log = tmp_path / "zero.jsonl"
    write_log(log)
    series = read_log(log)
    assert series["val-core/aime2024/acc/mean@16"] == [(2, 0.1), (4, 0.2)]
    assert series["r1/reflection/rate"] == [(s, 0.1 * s) for s in (1, 2, 3, 4)]
    assert "timing/note" not in series
    figs = curves(series)
    assert list(figs["accuracy"]) == ["r1/reward/acc/mean", "val-core/aime2024/acc/mean@16"]
    assert list(figs["length"]) == ["r1/response_length/mean", "r1/response_length/p90", "r1/response_length/max"]
    assert list(figs["dynamics"]) == ["r1/truncation_rate", "r1/groups/zero_variance"]


def test_report_draws_the_pngs_from_a_run_directory(tmp_path, capsys):
    (tmp_path / "logs").mkdir()
    write_log(tmp_path / "logs" / "zero.jsonl")
    write_log(tmp_path / "logs" / "rl.jsonl", steps=2)
    assert cli(["report", str(tmp_path / "logs"), "--out", str(tmp_path / "out")]) == 0
    for name in ("accuracy", "length", "reflection", "dynamics"):
        assert (tmp_path / "out" / f"{name}.png").read_bytes()[:8] == PNG
    saved = json.loads((tmp_path / "out" / "curves.json").read_text())
    assert saved["rl"]["length"]["r1/response_length/max"] == [[1, 200.0], [2, 400.0]]
    assert "wrote" in capsys.readouterr().out


def test_a_plain_verl_log_falls_back_to_verls_length_metric(tmp_path):
    log = tmp_path / "plain.jsonl"
    log.write_text("".join(json.dumps({"step": s, "data": {"response_length/mean": 10.0 * s}}) + "\n"
                           for s in (1, 2)))
    data, written = report([log], tmp_path / "out")
    assert data["plain"]["length"] == {"response_length/mean": [(1, 10.0), (2, 20.0)]}
    assert [p.name for p in written] == ["length.png"]


def test_errors_name_the_missing_input(tmp_path, capsys):
    assert cli(["report", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "o")]) == 2
    assert "log file not found" in capsys.readouterr().err
    empty = tmp_path / "empty.jsonl"
    empty.write_text(json.dumps({"step": 1, "data": {"timing/x": "a"}}) + "\n")
    assert cli(["report", str(empty), "--out", str(tmp_path / "o")]) == 2
    assert "no training or validation metrics" in capsys.readouterr().err

"""The CPU platform: registered only where no accelerator is found, and what verl sees through it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from r1_recipe.verl.cpu import platform as cpu_platform


def _in_fresh_python(code: str, **env) -> str:
    full_env = {key: value for key, value in os.environ.items() if key != "VERL_PLATFORM"}
    full_env.update(env)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip().splitlines()[-1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only host")
def test_import_verl_resolves_to_the_cpu_platform_with_gloo_on_a_cpu_only_host():
    out = _in_fresh_python(
        "import verl, torch.distributed.fsdp as f\n"
        "from verl.utils.device import get_device_name, get_nccl_backend, get_device_id, get_torch_device\n"
        "print(get_device_name(), get_nccl_backend(), get_device_id(), get_torch_device().memory_reserved(),"
        " f.CPUOffloadPolicy(pin_memory=True).pin_memory)")
    assert out == "cpu gloo cpu 0 False"


def test_verl_platform_env_naming_another_platform_keeps_the_cpu_platform_out():
    out = _in_fresh_python(
        "import verl\nfrom verl.plugin.platform import PlatformRegistry\n"
        "print('cpu' in PlatformRegistry.registered_names())", VERL_PLATFORM="nvidia")
    assert out == "False"


def test_install_does_nothing_where_an_accelerator_is_found(monkeypatch):
    monkeypatch.delenv("VERL_PLATFORM", raising=False)
    monkeypatch.setattr(cpu_platform, "accelerator_found", lambda: True)
    assert cpu_platform.install() is False


def test_an_smi_tool_on_path_counts_as_an_accelerator(monkeypatch, tmp_path):
    tool = tmp_path / "nvidia-smi"
    tool.write_text("#!/bin/sh\nexit 0\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert cpu_platform.accelerator_found() is True


@pytest.mark.parametrize("backend, expected", [
    ("cpu:gloo,cpu:gloo", "cpu:gloo"),
    ("cpu:gloo,cuda:nccl", "cpu:gloo,cuda:nccl"),
    ("gloo", "gloo"),
    (None, None),
])
def test_duplicate_device_backends_are_dropped_and_others_kept(backend, expected):
    assert cpu_platform._dedupe_backend(backend) == expected


def test_verl_sees_trl_only_when_it_still_ships_the_value_head_model():
    out = _in_fresh_python(
        "import verl, verl.utils.import_utils as iu, verl.utils.model as m\n"
        "from r1_recipe.verl.compat import trl_value_head_available as f\n"
        "print(iu.is_trl_available is f, m.is_trl_available is f)")
    assert out == "True True"


def test_overrides_print_shell_quoted_on_one_line_for_command_substitution(capsys):
    from r1_recipe.verl.cpu import overrides

    assert overrides.main(["sft"]) == 0
    assert capsys.readouterr().out == ("trainer.device=cpu trainer.n_gpus_per_node=1 engine.strategy=fsdp2 "
                                       "+model.override_config.attn_implementation=sdpa data.num_workers=0\n")
    assert overrides.main(["vllm"]) == 2
    assert "usage" in capsys.readouterr().err

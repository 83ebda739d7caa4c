"""verl platform `cpu`: lets verl's trainers (SFT, main_ppo) run on a machine with no accelerator.

verl 0.9.1 ships only accelerator platforms (nvidia, npu, rocm) and falls back to `nvidia` when none is found, which
then asks for NCCL. This module adds the missing platform through verl's public `PlatformRegistry` and fixes the three
places where verl assumes an accelerator exists:

1. `PlatformCPU`: device `cpu`, backend gloo, `torch.cpu` plus no-op memory/profiling calls. Ray placement still asks
   for `GPU` resources (verl's resource manager counts only GPU/NPU): start Ray with logical GPUs
   (`+ray_kwargs.ray_init.num_gpus=N`, see r1_recipe.verl.cpu.overrides).
2. verl joins a "cpu:gloo" group to "<device>:<backend>"; with device cpu that is "cpu:gloo,cpu:gloo", which torch
   rejects. `torch.distributed.init_process_group` gets a wrapper that drops the duplicate (and nothing else).
3. verl's FSDP2 engine offloads the reference model with `CPUOffloadPolicy(pin_memory=True)`; pinning needs an
   accelerator. `torch.distributed.fsdp.CPUOffloadPolicy` becomes a subclass that never pins.

`install()` is called by r1_recipe.verl.plugin, which runs in every process at `import verl`, and only when
`accelerator_found()` is False, so GPU and NPU nodes (including their CPU-only Ray actors) are untouched.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import torch

PLATFORM_NAME = "cpu"
# Command-line tools whose presence means the node has an accelerator even when this process cannot see it
# (verl's own probes use the same tools).
_SMI_TOOLS = ("nvidia-smi", "npu-smi", "rocm-smi", "amd-smi")


def accelerator_found() -> bool:
    """True when this host has (or may have) an accelerator that one of verl's built-in platforms would claim.

    Cheap on purpose (it runs at every `import verl`): CUDA/ROCm visible to torch, an SMI tool on PATH, or torch_npu.
    """
    if torch.cuda.is_available():
        return True
    if any(shutil.which(tool) for tool in _SMI_TOOLS):
        return True
    return importlib.util.find_spec("torch_npu") is not None


def _noop(*args, **kwargs):
    return None


def _zero(*args, **kwargs) -> int:
    return 0


def _mem_get_info(*args, **kwargs) -> tuple[int, int]:
    import psutil

    vm = psutil.virtual_memory()
    return vm.available, vm.total


class _CPUDeviceModule(SimpleNamespace):
    """What verl calls on `get_torch_device()`: `torch.cpu` plus the `torch.cuda` memory/RNG calls as CPU no-ops."""

    def __getattr__(self, name: str) -> Any:  # only reached for names not set in __init__
        return getattr(torch.cpu, name)


def _device_module() -> _CPUDeviceModule:
    return _CPUDeviceModule(
        is_available=lambda: True,
        current_device=lambda: "cpu",
        device_count=lambda: 1,
        get_device_name=lambda *args: "CPU",  # verl's MFU estimate looks the name up in its FLOPS table
        set_device=_noop,
        synchronize=_noop,
        empty_cache=_noop,
        ipc_collect=_noop,
        reset_peak_memory_stats=_noop,
        set_per_process_memory_fraction=_noop,
        memory_allocated=_zero,
        memory_reserved=_zero,
        max_memory_allocated=_zero,
        max_memory_reserved=_zero,
        mem_get_info=_mem_get_info,
        manual_seed=torch.manual_seed,
        manual_seed_all=torch.manual_seed,
        get_rng_state=torch.get_rng_state,
        set_rng_state=torch.set_rng_state,
    )


def _platform_class():
    """Built on first use: verl's PlatformBase is only imported once verl itself is being imported."""
    from verl.plugin.platform import PlatformBase

    class PlatformCPU(PlatformBase):
        """verl platform for hosts with no accelerator: torch CPU tensors, gloo collectives."""

        _module = _device_module()

        @property
        def device_name(self) -> str:
            return "cpu"

        @property
        def vendor_name(self) -> str:
            return "cpu"

        @property
        def device_module(self):
            return self._module

        def is_available(self) -> bool:
            return True

        def is_platform_available(self, use_smi_check=False) -> bool:
            # Probed after verl's built-ins; still refuse if an accelerator appeared after registration.
            return not accelerator_found()

        def current_device(self):
            # `model.to(get_device_id())` must mean the CPU; an int would mean cuda:<int>.
            return "cpu"

        def device_count(self) -> int:
            return 1

        def set_device(self, device_index) -> None:
            return None

        def synchronize(self, device_index=None) -> None:
            return None

        def manual_seed(self, seed: int) -> None:
            torch.manual_seed(seed)

        def manual_seed_all(self, seed: int) -> None:
            torch.manual_seed(seed)

        def set_allocator_settings(self, settings: str) -> None:
            return None

        def empty_cache(self) -> None:
            return None

        def get_device_capability(self, device_index: int = 0):
            return None, None

        def communication_backend_name(self) -> str:
            return "gloo"

        def visible_devices_envvar(self) -> str:
            return "CUDA_VISIBLE_DEVICES"

        def ray_resource_name(self) -> str:
            # verl's ResourcePoolManager only counts GPU/NPU: Ray is started with logical GPUs on CPU hosts.
            return "GPU"

        def ray_resource_options(self, num_gpus: float) -> dict[str, Any]:
            return {"num_gpus": num_gpus}

        def ray_noset_envvars(self) -> list[str]:
            return []

        def is_ipc_supported(self) -> bool:
            return False

        @contextmanager
        def nvtx_range(self, msg: str):
            yield

        def profiler_start(self) -> None:
            return None

        def profiler_stop(self) -> None:
            return None

        def cudart(self):
            return None

    return PlatformCPU


def _dedupe_backend(backend: Any) -> Any:
    """"cpu:gloo,cpu:gloo" -> "cpu:gloo": keep the first backend given for each device type; anything else as is."""
    if not isinstance(backend, str) or "," not in backend:
        return backend
    seen: dict[str, str] = {}
    for part in backend.split(","):
        seen.setdefault(part.partition(":")[0].strip(), part.strip())
    return ",".join(seen.values())


def _patch_init_process_group() -> None:
    import torch.distributed as dist

    original = dist.init_process_group
    if getattr(original, "_r1_recipe_cpu", False):
        return

    @functools.wraps(original)
    def init_process_group(backend=None, *args, **kwargs):
        return original(_dedupe_backend(backend), *args, **kwargs)

    init_process_group._r1_recipe_cpu = True
    dist.init_process_group = init_process_group


def _patch_cpu_offload_policy() -> None:
    import torch.distributed.fsdp as fsdp

    original = fsdp.CPUOffloadPolicy
    if getattr(original, "_r1_recipe_cpu", False):
        return

    class CPUOffloadPolicy(original):
        """FSDP2 CPU offload that never pins memory (pinning needs an accelerator)."""

        _r1_recipe_cpu = True

        def __init__(self, pin_memory: bool = True):
            super().__init__(pin_memory=False)

    fsdp.CPUOffloadPolicy = CPUOffloadPolicy


def install() -> bool:
    """Register platform `cpu` with verl and apply the CPU fixes; returns False (doing nothing) on accelerator hosts.

    `VERL_PLATFORM=cpu` forces it; `VERL_PLATFORM=<other>` skips it.
    """
    forced = os.environ.get("VERL_PLATFORM", "").strip().lower()
    if forced and forced != PLATFORM_NAME:
        return False
    if not forced and accelerator_found():
        return False
    from verl.plugin.platform import PlatformRegistry

    if PlatformRegistry.get(PLATFORM_NAME) is None:
        PlatformRegistry.register(platform=PLATFORM_NAME)(_platform_class())
    # verl registers its FSDP engines for cuda/npu only; the engine code itself is device-agnostic.
    os.environ.setdefault("VERL_ENGINE_DEVICE", "cuda")
    _patch_init_process_group()
    _patch_cpu_offload_policy()
    return True

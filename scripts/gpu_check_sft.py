"""verl's SFT trainer (`verl.trainer.sft_trainer`) with a per-step probe, for scripts/gpu_check.py; launched with
`python -m torch.distributed.run ... scripts/gpu_check_sft.py <hydra arguments>`.

Before each training step it resets the device's peak-memory counters; after it, it prints one line
`GPU_CHECK_STEP {"step", "time_s", "peak_allocated_gib", "peak_reserved_gib"}` (rank 0). Nothing else changes: the
arguments go to verl's own Hydra entry point.
"""

from __future__ import annotations

import functools
import json
import time

import torch


def _device():
    return torch.cuda if torch.cuda.is_available() else None


def probe(train_batch):
    step = {"n": 0}

    @functools.wraps(train_batch)
    def wrapped(self, *args, **kwargs):
        device = _device()
        if device is not None:
            device.synchronize()
            device.reset_peak_memory_stats()
        start = time.perf_counter()
        out = train_batch(self, *args, **kwargs)
        if device is not None:
            device.synchronize()
        step["n"] += 1
        if not torch.distributed.is_initialized() or torch.distributed.get_rank() == 0:
            gib = 1024**3
            print("GPU_CHECK_STEP " + json.dumps({
                "step": step["n"], "time_s": round(time.perf_counter() - start, 3),
                "peak_allocated_gib": round(device.max_memory_allocated() / gib, 2) if device else None,
                "peak_reserved_gib": round(device.max_memory_reserved() / gib, 2) if device else None}), flush=True)
        return out

    return wrapped


if __name__ == "__main__":
    import verl  # noqa: F401  (loads the r1-recipe plugin first, as verl's entry point would)
    from verl.trainer import sft_trainer
    from verl.workers import engine_workers

    engine_workers.TrainingWorker.train_batch = probe(engine_workers.TrainingWorker.train_batch)
    sft_trainer.main()

"""Command-line overrides that run a recipe on a CPU-only host with verl's own trainers (docs/cpu.md).

They only change *where* things run (device, FSDP flavour, attention kernel, Ray resources), never the recipe's
method. Model and batch sizes stay the caller's business.
"""

from __future__ import annotations

# verl.trainer.sft_trainer (recipes cold_start_sft, sft_all, distill), launched with torchrun --nproc_per_node=1.
SFT = [
    "trainer.device=cpu",
    "trainer.n_gpus_per_node=1",
    "engine.strategy=fsdp2",                               # FSDP1 needs an accelerator for sync_module_states
    "+model.override_config.attn_implementation=sdpa",     # verl defaults to flash_attention_2
    "data.num_workers=0",
]

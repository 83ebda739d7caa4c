"""Command-line overrides that run a recipe on a CPU-only host with verl's own trainers (docs/cpu.md).

They only change *where* things run (device, FSDP flavour, attention kernel, Ray resources) and how fast (`PPO_SPEED`),
never the recipe's method. Model and batch sizes stay the caller's business.
"""

from __future__ import annotations

POLL_INTERVAL = 0.05   # seconds between the replay buffer's checks for finished rollouts (r1_recipe.verl.cpu.sampler)

# verl.trainer.sft_trainer (recipes cold_start_sft, sft_all, distill), launched with torchrun --nproc_per_node=1.
SFT = [
    "trainer.device=cpu",
    "trainer.n_gpus_per_node=1",
    "engine.strategy=fsdp2",                               # FSDP1 needs an accelerator for sync_module_states
    "+model.override_config.attn_implementation=sdpa",     # verl defaults to flash_attention_2
    "data.num_workers=0",
]

# Settings that only make a CPU run of main_ppo faster (docs/cpu.md, measured in bench/verl_cpu_step_bench.py):
# verl's defaults are right for GPUs and cost seconds a step on a CPU.
PPO_SPEED = [
    # verl packs a micro-batch into one sequence for flash-attention's variable-length kernel; SDPA then attends over
    # a dense (tokens x tokens) mask, quadratic in the micro-batch: 45 % of a CPU step went there. Padded rows instead.
    "actor_rollout_ref.model.use_remove_padding=false",
    # FSDP computes in float32 (verl's default is bf16 mixed precision): bf16 matmuls are slower on most CPUs, and the
    # rollout `hf` samples in float32, so the actor's recomputed log-probs then match the rollout's exactly
    "+actor_rollout_ref.actor.fsdp_config.mixed_precision={param_dtype:fp32}",
    "+actor_rollout_ref.ref.fsdp_config.mixed_precision={param_dtype:fp32}",
    "+ray_kwargs.ray_init.include_dashboard=false",        # one process fewer to start: nobody looks at it
    # verl's replay buffer waits for a step's rollouts in 2 s polls; r1_recipe.verl.cpu.sampler polls every 50 ms
    "trainer.v1.sampler.custom_sampler.path=pkg://r1_recipe.verl.cpu.sampler",
    "trainer.v1.sampler.custom_sampler.name=QuickPollReplayBuffer",
    f"+trainer.v1.sampler.sampler_kwargs.poll_interval={POLL_INTERVAL}",
    # what verl gives its own buffer but not a custom one (DAPO group filtering, refills, batch sizes), from the config
    "+trainer.v1.sampler.sampler_kwargs.filter_groups=${algorithm.filter_groups}",
    "+trainer.v1.sampler.sampler_kwargs.sync_refill_failed_groups=${trainer.v1.sampler.sync_refill_failed_groups}",
    "+trainer.v1.sampler.sampler_kwargs.train_batch_size=${data.train_batch_size}",
    "+trainer.v1.sampler.sampler_kwargs.gen_batch_size=${data.gen_batch_size}",
]

# verl.trainer.main_ppo (recipes zero, reasoning_rl, all_scenarios_rl) with rollout `hf`
# (r1_recipe.verl.hf_rollout).
PPO = [
    "trainer.device=cpu",
    "trainer.n_gpus_per_node=1",
    "trainer.nnodes=1",
    "+ray_kwargs.ray_init.num_cpus=8",                     # logical CPUs: verl starts more actors than CI has cores
    "+ray_kwargs.ray_init.num_gpus=1",                     # logical GPU: verl's resource pools only count GPU/NPU
    "transfer_queue.backend.SimpleStorage.num_data_storage_units=1",   # 8 storage actors would wait for free CPUs
    "actor_rollout_ref.actor.strategy=fsdp2",
    "actor_rollout_ref.ref.strategy=fsdp2",
    "+actor_rollout_ref.model.override_config.attn_implementation=sdpa",
    "actor_rollout_ref.rollout.name=hf",
    "actor_rollout_ref.rollout.tensor_model_parallel_size=1",
    "reward.num_workers=1",
    # fewer processes and no compilation: each verl actor costs ~5 s of imports on a 2-core box, and torch.compile
    # of the log-prob kernels costs ~30 s on the first step for a model that runs in milliseconds
    "actor_rollout_ref.rollout.agent.num_workers=1",
    "data.dataloader_num_workers=0",
    "actor_rollout_ref.actor.use_torch_compile=false",
    "actor_rollout_ref.actor.fsdp_config.use_torch_compile=false",
    "actor_rollout_ref.ref.fsdp_config.use_torch_compile=false",
    *PPO_SPEED,
]


def needs_verls_replay_buffer(config) -> bool:
    """Whether a composed main_ppo config runs an asynchronous trainer, whose replay buffer is another verl class: then
    the quick-poll sampler of `PPO_SPEED` (a subclass of the sync buffer) is left out."""
    from omegaconf import OmegaConf

    return OmegaConf.select(config, "trainer.v1.trainer_mode", default="sync") != "sync"


def main(argv: list[str] | None = None) -> int:
    """`python -m r1_recipe.verl.cpu.overrides sft|ppo`: the overrides, shell-quoted on one line, for `$(...)`."""
    import shlex
    import sys

    args = sys.argv[1:] if argv is None else argv
    lists = {"sft": SFT, "ppo": PPO}
    if len(args) != 1 or args[0] not in lists:
        print("usage: python -m r1_recipe.verl.cpu.overrides sft|ppo", file=sys.stderr)
        return 2
    print(shlex.join(lists[args[0]]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

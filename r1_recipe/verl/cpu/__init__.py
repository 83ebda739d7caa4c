"""Running verl's own trainers on a CPU-only machine (CI, laptops): see docs/cpu.md.

- `platform`: a verl platform `cpu` (gloo, no accelerator), registered by r1_recipe.verl.plugin only on hosts where
  no accelerator is found;
- `hf_rollout`: rollout `hf` for `main_ppo`: Hugging Face `generate` behind verl's agent-loop server interface;
- `overrides`: the command-line overrides that the CPU route needs on top of a recipe.
"""

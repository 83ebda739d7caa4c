"""r1-recipe: the DeepSeek-R1 training recipe as a verl plugin.

Three layers, imports going one way (docs/architecture.md):
- `r1_recipe.core`: the method, framework-free (GRPO advantages, rewards, templates, bounded pool, signals, schema);
- `r1_recipe.verl`: everything that touches verl (plugin, reward manager, trainer hooks, recipe validation, CPU
  platform, doctor) and `touchpoints`, the one list of verl names relied on;
- `r1_recipe.tools`: the `r1-recipe` command and the pipelines around verl's entry points (prepare, rejection
  sampling, evaluation, reports, the miniature run).
`r1_recipe.rewards` is the public reward API (register your own components; `compute_score` for verl's managers).
"""

__version__ = "0.1.0"

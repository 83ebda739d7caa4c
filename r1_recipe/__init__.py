"""r1-recipe: the DeepSeek-R1 training recipe as a verl plugin.

`pip install r1-recipe` registers, in every process that imports verl, the GRPO estimators `r1_grpo` and
`r1_grpo_process`, the reward manager `r1` and the config resolver `r1_template` (see `r1_recipe.verl_plugin`).
"""

__version__ = "0.1.0"

# What the verl plugin registers, by registry; `r1-recipe doctor` checks each name after a fresh `import verl`.
VERL_COMPONENTS = {
    "advantage estimator": ("r1_grpo", "r1_grpo_process"),
    "reward manager": ("r1",),
    "config resolver": ("r1_template",),
}

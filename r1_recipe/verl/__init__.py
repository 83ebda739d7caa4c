"""The verl layer: the only code that imports verl. Every verl name it relies on is listed in `touchpoints`.

Installing r1-recipe registers, in every process that imports verl (entry point `verl.plugins` ->
`r1_recipe.verl.plugin`), the names below; `r1-recipe doctor` checks each one after a fresh `import verl`.
"""

# What the plugin registers, by registry (names only: importing this package must not import verl).
REGISTERED = {
    "advantage estimator": ("r1_grpo", "r1_grpo_process"),
    "reward manager": ("r1",),
    "config resolver": ("r1_template",),
}

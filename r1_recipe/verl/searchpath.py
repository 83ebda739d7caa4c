"""Hydra's search path for the recipes, from the plugin: `pkg://verl.trainer.config` (verl's `ppo_trainer`,
`sft_trainer_engine`) and `pkg://r1_recipe.recipes` (the recipes), appended in every process that imports verl.

Why: Hydra accepts `hydra.searchpath` only in the primary config, so a recipe that another one inherits from cannot
carry it (`zero_dapo`: `defaults: [zero, _self_]` fails with "Overriding hydra.searchpath is only supported from the
primary config" while `zero.yaml` sets it). `zero` therefore finds verl's `ppo_trainer` through this path, and a copy
of a variant (`r1-recipe cp zero_dapo .`) finds `zero` in the package. Hydra's documented hook for this is a
`SearchPathPlugin`, registered with `Plugins.instance().register` when Hydra is imported (verl's entry points and
`r1-recipe run` both import verl, and so this plugin, before Hydra composes). Appended paths come after the primary
config's own directory and searchpath, so a local file of the same name wins.
"""

from __future__ import annotations

PATHS = ("pkg://verl.trainer.config", "pkg://r1_recipe.recipes")
PROVIDER = "r1-recipe"


def _register(module) -> None:
    from hydra.plugins.search_path_plugin import SearchPathPlugin

    plugins = module.Plugins.instance()
    if any(getattr(p, "__r1_recipe__", False) for p in plugins.discover(SearchPathPlugin)):
        return

    class R1RecipeSearchPath(SearchPathPlugin):
        __r1_recipe__ = True

        def manipulate_search_path(self, search_path) -> None:
            for path in PATHS:
                search_path.append(PROVIDER, path)

    plugins.register(R1RecipeSearchPath)


def install() -> None:
    from r1_recipe.verl.hooks import after_import
    from r1_recipe.verl.touchpoints import HYDRA_PLUGINS_MODULE

    after_import(HYDRA_PLUGINS_MODULE, _register, "the recipes' Hydra search path")

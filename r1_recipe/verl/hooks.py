"""Run a callback right after a verl module is imported, whoever imports it.

The plugin runs at `import verl` in every Ray process; importing verl's trainer or workers there would be slow and
circular, so patches to those modules wait for their import (`after_import`).
"""

from __future__ import annotations

import importlib.abc
import logging
import sys

logger = logging.getLogger("r1_recipe")


class _PostImportHook(importlib.abc.MetaPathFinder):
    def __init__(self, name: str, callback, what: str):
        self.name, self.callback, self.what = name, callback, what

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        for finder in sys.meta_path:
            if isinstance(finder, _PostImportHook) or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
                hooks = [h for h in sys.meta_path if isinstance(h, _PostImportHook) and h.name == fullname]
                exec_module = spec.loader.exec_module

                def exec_and_hook(module, _exec=exec_module, hooks=hooks):
                    _exec(module)
                    for hook in hooks:
                        hook.run(module)

                spec.loader.exec_module = exec_and_hook
                return spec
        return None

    def run(self, module) -> None:
        try:
            self.callback(module)
        except Exception:  # a failed patch must not break verl's import
            logger.warning("r1-recipe: could not install %s", self.what, exc_info=True)


def after_import(name: str, callback, what: str) -> None:
    """`callback(module)` now if `name` is imported, else right after its import. `what` names it in warnings."""
    module = sys.modules.get(name)
    if module is not None:
        _PostImportHook(name, callback, what).run(module)
    elif not any(isinstance(f, _PostImportHook) and f.name == name and f.what == what for f in sys.meta_path):
        sys.meta_path.insert(0, _PostImportHook(name, callback, what))

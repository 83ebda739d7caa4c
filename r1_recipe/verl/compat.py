"""Compatibility fix between verl 0.9.1 and TRL >= 1.13 (applied by r1_recipe.verl.plugin on every host).

verl uses `is_trl_available()` (= "a module named trl exists") to mean "TRL's `AutoModelForCausalLMWithValueHead`
can be imported": `verl/models/transformers/monkey_patch.py` (apply_monkey_patch, run for every FSDP model build)
then imports it from `trl.experimental.ppo` or `trl`. TRL 1.13 removed that class, so with TRL >= 1.13 installed
(our `test` extra, `r1-recipe mini`) every verl FSDP engine fails at start-up with
`ImportError: cannot import name 'AutoModelForCausalLMWithValueHead' from 'trl'`, on GPU and CPU alike.

The fix narrows verl's check to what verl actually needs: TRL *with* the value-head class. The check runs when verl
calls it, not at import, so `import verl` stays light.
"""

from __future__ import annotations

import importlib
import importlib.util


def trl_value_head_available() -> bool:
    """True when TRL is installed and still ships `AutoModelForCausalLMWithValueHead` (TRL < 1.13)."""
    if importlib.util.find_spec("trl") is None:
        return False
    for module in ("trl.experimental.ppo", "trl"):
        try:
            if hasattr(importlib.import_module(module), "AutoModelForCausalLMWithValueHead"):
                return True
        except ImportError:
            continue
    return False


def install() -> None:
    """Make verl's `is_trl_available` mean `trl_value_head_available` in the modules that use it."""
    import sys

    import verl.utils.import_utils as import_utils

    import_utils.is_trl_available = trl_value_head_available
    # Modules that already bound the name with `from ... import is_trl_available`.
    for name in ("verl.utils.model", "verl.models.transformers.monkey_patch"):
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "is_trl_available"):
            module.is_trl_available = trl_value_head_available

"""Dataset preparation into verl's parquet schema (`r1-recipe prepare`)."""

from r1_recipe.tools.data.datasets import SPECS, Example, MissingColumn, Spec
from r1_recipe.tools.data.prepare import PrepareError, prepare, split_rows, to_rows

__all__ = ["SPECS", "Example", "MissingColumn", "PrepareError", "Spec", "prepare", "split_rows", "to_rows"]

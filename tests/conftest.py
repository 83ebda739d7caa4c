"""Shared fixtures: a tiny tokenizer built locally (no downloads); the check that the suite tests the wheel."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _cpu_fixtures import TAGS, build_tiny_tokenizer  # noqa: F401  (tests import them from here)

ROOT = Path(__file__).resolve().parents[1]  # the clone: read for its files (docs, pyproject), never imported from


def pytest_configure(config):
    """`bash scripts/test.sh` sets R1_RECIPE_TEST_INSTALLED=1: then the suite must run against the package pip
    installed from the built wheel. An import from the source tree (cwd on sys.path, an editable install) would hide a
    module or data file the wheel forgets, so it stops the run before any test."""
    if os.environ.get("R1_RECIPE_TEST_INSTALLED") != "1":
        return
    import r1_recipe

    where = Path(r1_recipe.__file__).resolve()
    if ROOT / "r1_recipe" in where.parents:
        raise pytest.UsageError(f"r1_recipe was imported from the source tree ({where}), not from the installed wheel: "
                                "run the suite with `bash scripts/test.sh` (non-editable, outside the clone)")

@pytest.fixture(scope="session")
def tiny_tokenizer(tmp_path_factory):
    """Tiny tokenizer with no chat template (like a base model)."""
    return build_tiny_tokenizer(tmp_path_factory.mktemp("tok"))


@pytest.fixture(scope="module")
def composer():
    """The accuracy reward alone, on two bounded workers (what `r1-recipe eval` and `rejection-sample` score with)."""
    from r1_recipe.core.bounded import BoundedPool
    from r1_recipe.core.rewards.compose import Composer

    c = Composer({"components": {"accuracy": 1.0}}, pool=BoundedPool(workers=2))
    yield c
    c.pool.close()


def pytest_collection_modifyitems(config, items):
    """`@pytest.mark.gpu` tests need CUDA (and vLLM): skipped, with the reason shown, on CPU machines such as CI's."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)

"""The artefact a user installs: the wheel carries every module, template and recipe of the tree, byte for byte, and
the installed package works from a directory outside the clone."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from conftest import ROOT

SHIPPED = ("*.py", "*.jinja", "*.yaml", "*.json", "*.jsonl")


def tree_files() -> dict[str, Path]:
    """What the wheel must hold: every file of r1_recipe/ of a shipped kind that git tracks (or would: not ignored)."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "r1_recipe"], cwd=ROOT,
                            capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout: the tree's file list is unknown")
    paths = [Path(line) for line in listed.stdout.splitlines()]
    return {p.as_posix(): ROOT / p for p in paths if any(p.match(g) for g in SHIPPED) and (ROOT / p).is_file()}


def installed_files() -> dict[str, Path]:
    dist = metadata.distribution("r1-recipe")
    return {f.as_posix(): Path(str(dist.locate_file(f))) for f in dist.files or [] if f.parts[0] == "r1_recipe"}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_installed_package_holds_every_module_template_and_recipe_of_the_tree_unchanged():
    tree, installed = tree_files(), installed_files()
    assert installed, "r1-recipe is installed editable or not at all: the suite tests the wheel (bash scripts/test.sh)"
    missing = sorted(set(tree) - set(installed))
    assert not missing, f"the wheel lacks {len(missing)} file(s) of the tree: {missing[:10]}"
    stale = sorted(name for name in tree if digest(tree[name]) != digest(installed[name]))
    assert not stale, f"installed files differ from the tree (reinstall: bash scripts/setup.sh): {stale[:10]}"
    # a sanity floor, so an empty tree listing cannot pass: the math reward, the recipes, the templates
    for must in ("r1_recipe/core/rewards/math/equivalence.py", "r1_recipe/recipes/zero.yaml",
                 "r1_recipe/core/templates/r1_zero.jinja"):
        assert must in installed


def test_every_package_directory_of_the_tree_is_an_importable_package_in_the_wheel():
    dirs = {Path(name).parent.as_posix() for name in tree_files() if name.endswith(".py")}
    inits = {Path(name).parent.as_posix() for name in installed_files() if name.endswith("/__init__.py")}
    assert sorted(dirs - inits) == []


def test_doctor_run_from_outside_the_clone_finds_every_component(tmp_path):
    exe = Path(sys.executable).with_name("r1-recipe")
    proc = subprocess.run([str(exe), "doctor"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.rstrip().splitlines()[-1] == "all components registered"
    for name in ("accuracy", "code", "format", "language", "math"):
        assert f"reward component     {name} " in proc.stdout

"""`r1-recipe ARGS` in-process for tests: its exit status and what it printed."""

from r1_recipe.tools.cli import main


def run(capsys, *argv) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of `r1-recipe *argv` (paths may be given as Path objects)."""
    rc = main([str(a) for a in argv])
    out = capsys.readouterr()
    return rc, out.out, out.err

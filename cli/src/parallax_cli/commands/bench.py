"""`parallax bench [NAME] [ARGS]...`: the benchmarks of a source checkout.

The same thing as `just bench NAME` and `uv run python -m bench NAME ARGS...`: runs
`python -m bench NAME ARGS...` in the checkout's root with this interpreter, which runs
bench/<NAME>_bench.py (`all`: each one) in a process of its own and writes its JSON to
bench/results/. The benchmarks are not part of the installed packages (nor of the image): the
checkout is found from where this module lives, and without one the command exits 2.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

# bench/__main__.py's order; any other bench/<name>_bench.py follows, sorted.
KNOWN = ("handlers", "comparator", "router", "replay", "e2e")
NOT_A_CHECKOUT = (
    "parallax bench: no bench/ directory beside this installation ({where}). The benchmarks run "
    "from a source checkout of Parallax: `uv run parallax bench ...` (or `just bench ...`) in the "
    "repository."
)


def checkout_root(start: Path | None = None) -> Path | None:
    """The source checkout this CLI runs from (an editable install): the nearest directory
    above `start` (this module) with `bench/__main__.py` and a `pyproject.toml`; None in an
    installed wheel, such as the container image."""
    here = (start or Path(__file__)).resolve()
    for parent in here.parents:
        if (parent / "bench" / "__main__.py").is_file() and (parent / "pyproject.toml").is_file():
            return parent
    return None


def available(root: Path | None) -> list[str]:
    """The benchmarks of the checkout: bench/<name>_bench.py."""
    if root is None:
        return []
    found = {p.name.removesuffix("_bench.py") for p in (root / "bench").glob("*_bench.py")}
    return [n for n in KNOWN if n in found] + sorted(found - set(KNOWN))


HELP = (
    "Run a benchmark of the source checkout, as `just bench NAME` does.\n\n"
    "The arguments after NAME go to the benchmark (`parallax bench e2e --help` shows its "
    "own); results in bench/results/*.json, figures in docs/performance.md."
)


def help_text(root: Path | None) -> str:
    """The command's help, listing the benchmarks of `root` (the checkout, or None)."""
    names = available(root)
    listing = (
        f"Available: {', '.join(names)}, or all (each in turn)."
        if names
        else "No benchmarks here: they run from a source checkout (bench/ beside the workspace)."
    )
    return f"{HELP}\n\n{listing}"


def command(name: str, args: list[str]) -> list[str]:
    """What runs, from the checkout's root: bench/__main__.py, with this interpreter."""
    return [sys.executable, "-m", "bench", name, *args]


def bench_command(
    ctx: typer.Context,
    name: Annotated[
        str | None,
        typer.Argument(metavar="NAME", help="the benchmark (listed above), or all", show_default=False),
    ] = None,
    args: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="ARGS", help="passed on to the benchmark, options included", show_default=False
        ),
    ] = None,
) -> None:
    root = checkout_root()
    if name in (None, "-h", "--help"):
        # The listing is looked up here, not where the command is registered: every `parallax`
        # command (`parallax run <service>` too) would otherwise search for the checkout.
        ctx.command.help = help_text(root)
        typer.echo(ctx.get_help())
        raise typer.Exit(0 if name else 2)
    if root is None:
        typer.echo(NOT_A_CHECKOUT.format(where=Path(__file__).resolve().parent), err=True)
        raise typer.Exit(2)
    names = available(root)
    if name != "all" and name not in names:
        typer.echo(f"parallax bench: unknown benchmark {name!r}; one of: {', '.join(names)}, all", err=True)
        raise typer.Exit(2)
    assert name is not None
    raise typer.Exit(subprocess.call(command(name, list(args or [])), cwd=root))


# For main.py: every argument after NAME (`--help` too) is the benchmark's, not the CLI's.
CONTEXT_SETTINGS = {"ignore_unknown_options": True, "help_option_names": []}

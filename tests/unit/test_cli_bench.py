"""`parallax bench`: lists the checkout's benchmarks in its help, runs `python -m bench NAME ARGS`
from the checkout's root (the runner is replaced here: no benchmark runs), and exits 2 with a
clear message where there is no checkout (the container image)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from parallax_cli.commands import bench
from parallax_cli.main import app
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
NAMES = ["handlers", "comparator", "router", "replay", "e2e"]


class Calls:
    def __init__(self, code: int = 0) -> None:
        self.code = code
        self.calls: list[tuple[list[str], Path]] = []

    def __call__(self, cmd: list[str], *, cwd: Path) -> int:
        self.calls.append((cmd, cwd))
        return self.code


@pytest.fixture
def runner_calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    calls = Calls()
    monkeypatch.setattr(bench.subprocess, "call", calls)
    return calls


def test_the_checkout_is_found_from_the_installed_module() -> None:
    assert bench.checkout_root() == ROOT
    assert bench.available(ROOT) == NAMES


def test_help_lists_the_benchmarks(runner_calls: Calls) -> None:
    result = CliRunner().invoke(app, ["bench", "--help"])
    assert result.exit_code == 0, result.output
    assert "Available: handlers, comparator, router, replay, e2e, or all" in result.output
    assert runner_calls.calls == []
    top = CliRunner().invoke(app, ["--help"])
    assert "bench" in top.output


def test_it_runs_the_bench_module_from_the_checkout_with_the_arguments(runner_calls: Calls) -> None:
    result = CliRunner().invoke(app, ["bench", "e2e", "--rooms", "3", "--help"])
    assert result.exit_code == 0, result.output
    assert runner_calls.calls == [([sys.executable, "-m", "bench", "e2e", "--rooms", "3", "--help"], ROOT)]
    result = CliRunner().invoke(app, ["bench", "all"])
    assert runner_calls.calls[-1] == ([sys.executable, "-m", "bench", "all"], ROOT)


def test_the_benchmark_exit_code_is_passed_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench.subprocess, "call", Calls(code=3))
    assert CliRunner().invoke(app, ["bench", "router"]).exit_code == 3


def test_an_unknown_benchmark_is_refused(runner_calls: Calls) -> None:
    result = CliRunner().invoke(app, ["bench", "nope"])
    assert result.exit_code == 2
    assert "unknown benchmark 'nope'" in result.output and "e2e" in result.output
    assert runner_calls.calls == []


def test_without_a_checkout_it_exits_2_saying_why(
    monkeypatch: pytest.MonkeyPatch, runner_calls: Calls
) -> None:
    monkeypatch.setattr(bench, "checkout_root", lambda start=None: None)
    result = CliRunner().invoke(app, ["bench", "e2e"])
    assert result.exit_code == 2
    assert "run from a source checkout" in result.output
    assert runner_calls.calls == []


def test_an_installed_wheel_is_not_a_checkout(tmp_path: Path) -> None:
    module = tmp_path / "venv/lib/python3.11/site-packages/parallax_cli/commands/bench.py"
    module.parent.mkdir(parents=True)
    module.write_text("")
    assert bench.checkout_root(module) is None
    assert "source checkout" in bench.help_text(None)
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench/__main__.py").write_text("")
    (tmp_path / "pyproject.toml").write_text("")
    assert bench.checkout_root(module) == tmp_path

# Parallax tasks. `just --list` shows them.

default:
    @just --list

# Install the workspace (uv) into .venv.
sync:
    uv sync

# The whole test suite (what CI runs after lint and types).
test *ARGS:
    uv run pytest {{ARGS}}

# Lint, format check, types.
check:
    uv run ruff check .
    uv run ruff format --check .
    uv run mypy

# Run the stack on the embedded NATS until Ctrl-C.
up:
    uv run parallax up

# Simulated players through the whole stack, then the comparison.
demo *ARGS:
    uv run parallax demo {{ARGS}}

# Benchmarks (JSON results in bench/results/); `just bench comparator`, `just bench handlers`.
bench WHICH="all":
    uv run python -m bench {{WHICH}}

# CI, as CI runs it.
ci:
    bash .ci/run

# The whole stack in containers (NATS, PostgreSQL, five services, Prometheus, Grafana); docs/operations.md.
up-compose *ARGS:
    docker compose up -d --build {{ARGS}}
    docker compose ps

# The chaos suite, long form: kill -9 services and NATS, cut PostgreSQL, under traffic; then audit (docs/chaos.md).
chaos CYCLES="50":
    uv run python tests/chaos/run_long.py --cycles {{CYCLES}}

# syntax=docker/dockerfile:1.7
# One image for every Parallax service; the command selects the service:
#   docker run IMAGE run router        (gateway | router | legacy | domain | comparator)
#   docker run IMAGE init              (streams and KV buckets, idempotent)
# Build: docker build -t parallax:dev .

ARG PYTHON_VERSION=3.11
ARG UV_VERSION=0.13.9

FROM ghcr.io/astral-sh/uv:${UV_VERSION} AS uv

# ---- build: resolve the locked dependencies, then install the workspace (no dev group) ----
FROM python:${PYTHON_VERSION}-slim-bookworm AS build
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/parallax/venv
WORKDIR /src

# Dependencies first (a layer that changes only with uv.lock or a pyproject).
COPY pyproject.toml uv.lock ./
COPY libs/contracts/pyproject.toml libs/contracts/
COPY libs/runtime/pyproject.toml libs/runtime/
COPY libs/rollout/pyproject.toml libs/rollout/
COPY services/gateway/pyproject.toml services/gateway/
COPY services/router/pyproject.toml services/router/
COPY services/legacy/pyproject.toml services/legacy/
COPY services/domain/pyproject.toml services/domain/
COPY services/comparator/pyproject.toml services/comparator/
COPY cli/pyproject.toml cli/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace

# Then the workspace itself, installed as wheels (not editable), so /src is not needed later.
COPY libs/ libs/
COPY services/ services/
COPY cli/ cli/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable

# ---- runtime: the virtual environment, libpq for psycopg, a non-root user ----
FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 parallax \
    && useradd --system --uid 10001 --gid parallax --home-dir /var/lib/parallax --shell /usr/sbin/nologin parallax \
    && mkdir -p /var/lib/parallax \
    && chown parallax:parallax /var/lib/parallax
COPY --from=build /opt/parallax/venv /opt/parallax/venv
ENV PATH="/opt/parallax/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PARALLAX_HTTP_HOST=0.0.0.0 \
    PARALLAX_HTTP_PORT=8080 \
    PARALLAX_DATA_DIR=/var/lib/parallax
WORKDIR /var/lib/parallax
USER 10001:10001
VOLUME ["/var/lib/parallax"]
EXPOSE 8080
# Liveness of whichever service runs (the port comes from PARALLAX_HTTP_PORT); no curl needed.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os,urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PARALLAX_HTTP_PORT', '8080'), timeout=2)"]
ENTRYPOINT ["parallax"]
CMD ["run", "gateway"]

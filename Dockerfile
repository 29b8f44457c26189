# The production image: the security library and the template, each installed from its wheel. It runs
# the servers, `db init`, `gateway render`, `audit` and `incident`; nothing else is in it.
#
#   docker build -t supplychain-mcp:local .      (compose.yaml builds it for you)
#
# The dev tools (the dev authorization server, the fixture users with their dev passwords, the demo, the
# benchmark and the load test) are not: their commands say "run it from a checkout". compose.yaml's dev
# authorization server and `db-seed` run from the `dev` target below, never the default one.
#
# No secret is baked in: credentials arrive at run time as files (compose secrets). No uv.lock is
# copied either (the repository keeps none): dependencies resolve from pyproject.toml's pins.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------- builder
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_NO_CACHE=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never

RUN pip install "uv==0.13.9"
RUN uv venv /opt/venv

WORKDIR /src
# The library's dependencies first, from its pyproject.toml alone: most of the image, and this layer
# survives changes to the code.
COPY lib/securemcp/pyproject.toml lib/securemcp/
RUN uv pip install --python /opt/venv/bin/python -r lib/securemcp/pyproject.toml

# The library, built into its wheel from lib/securemcp: the image depends on it as a clone does.
COPY lib/securemcp/ lib/securemcp/
# The template: exactly what pyproject.toml's wheel packages, and the gateway templates it carries.
COPY pyproject.toml README.md ./
COPY supplychain/ supplychain/
COPY servers/ servers/
COPY deployment/ deployment/
COPY migrations/ migrations/
COPY deploy/gateway/ deploy/gateway/
# Both wheels named by path in one install: `securemcp` resolves to the wheel built here, never to a
# package of that name on an index. Not editable: the image holds the installed wheels, not this tree.
RUN uv build --wheel --out-dir /wheels lib/securemcp \
 && uv build --wheel --out-dir /wheels . \
 && uv pip install --python /opt/venv/bin/python /wheels/securemcp-*.whl /wheels/supplychain_mcp-*.whl

# ---------------------------------------------------------------- base (the user and the entrypoint)
FROM ${PYTHON_IMAGE} AS base

# A fixed, unprivileged user: compose.yaml names 10001, and the gateway container runs as it too so it
# can read the files `gateway render` writes. /var/lib/supplychain is SUPPLYCHAIN_HOME; named volumes
# mounted there (or on gateway/) start out owned by this user.
RUN groupadd --system --gid 10001 supplychain \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin supplychain \
 && install -d -o 10001 -g 10001 -m 0700 /var/lib/supplychain /var/lib/supplychain/gateway

ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SUPPLYCHAIN_HOME=/var/lib/supplychain

# A working directory this user cannot write: `python -c` (the health checks) puts it first on sys.path.
WORKDIR /
USER 10001:10001

# Health checks live in compose.yaml: what "healthy" means differs per service (server, IdP, one-shot job).
ENTRYPOINT ["supplychain"]
CMD ["--help"]

# ---------------------------------------------------------------- dev (compose's dev IdP and `db-seed`)
# DEV ONLY: the production image plus the dev authorization server and the fixture users (published dev
# passwords). Built only when named, `docker build --target dev`, as compose.yaml's dev services do.
FROM base AS dev

COPY --from=builder /opt/venv /opt/venv
COPY idp/ /opt/dev-tools/idp/
COPY fixtures/ /opt/dev-tools/fixtures/
ENV PYTHONPATH=/opt/dev-tools

# ---------------------------------------------------------------- runtime (the default target)
FROM base AS runtime

COPY --from=builder /opt/venv /opt/venv

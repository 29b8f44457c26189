# The application image: the four servers, the dev authorization server, `db init` and `gateway render`.
#
#   docker build -t supplychain-mcp:local .      (compose.yaml builds it for you)
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

WORKDIR /app
# Dependencies first, from pyproject.toml alone: this layer survives changes to the code.
COPY pyproject.toml README.md ./
RUN uv pip install --python /opt/venv/bin/python -r pyproject.toml

# The code. Installed editable on purpose: `gateway render` reads its templates from deploy/gateway/
# next to the `supplychain` package, so the source tree is the installed tree.
COPY shared/ shared/
COPY supplychain/ supplychain/
COPY servers/ servers/
COPY idp/ idp/
COPY migrations/ migrations/
COPY fixtures/ fixtures/
COPY demo/ demo/
COPY bench/ bench/
COPY loadtest/ loadtest/
COPY deploy/gateway/ deploy/gateway/
RUN uv pip install --python /opt/venv/bin/python --no-deps --editable . \
 && /opt/venv/bin/python -m compileall -q /app

# ---------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime

# A fixed, unprivileged user: compose.yaml names 10001, and the gateway container runs as it too so it
# can read the files `gateway render` writes. /var/lib/supplychain is SUPPLYCHAIN_HOME; named volumes
# mounted there (or on gateway/) start out owned by this user.
RUN groupadd --system --gid 10001 supplychain \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin supplychain \
 && install -d -o 10001 -g 10001 -m 0700 /var/lib/supplychain /var/lib/supplychain/gateway

COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /app /app

ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SUPPLYCHAIN_HOME=/var/lib/supplychain

WORKDIR /app
USER 10001:10001

# Health checks live in compose.yaml: what "healthy" means differs per service (server, IdP, one-shot job).
ENTRYPOINT ["supplychain"]
CMD ["--help"]

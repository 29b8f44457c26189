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

# shellcheck source=scripts/node22.sh
source "$REPO/scripts/node22.sh"

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

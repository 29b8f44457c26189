#!/usr/bin/env bash
# Install the real OpenID Provider the identity-provider tests (tests/identity_providers/) run as
# globex's IdP, unless already there:
#   .tools/node22          Node 22, from npm's `node` package (the system Node may be older)
#   .tools/oidc-provider   oidc-provider 9.13.3 (panva's certified OpenID Provider), pinned exactly
# Both folders are git-ignored; no lock file is written into the repository.
#
#   bash scripts/oidc-provider.sh      # then: uv run pytest tests/identity_providers
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODE_DIR="$REPO/.tools/node22"
PROVIDER_DIR="$REPO/.tools/oidc-provider"
PROVIDER_VERSION="9.13.3"

log() { printf '[oidc-provider] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# shellcheck source=scripts/node22.sh
source "$REPO/scripts/node22.sh"

PROVIDER_PKG="$PROVIDER_DIR/node_modules/oidc-provider/package.json"
installed_version() { node -p "require('$PROVIDER_PKG').version" 2>/dev/null || true; }
if [[ "$(installed_version)" != "$PROVIDER_VERSION" ]]; then
    log "installing oidc-provider@$PROVIDER_VERSION into ${PROVIDER_DIR#"$REPO"/}"
    mkdir -p "$PROVIDER_DIR"
    # A package.json of its own: without one npm walks up to the nearest parent that has one and
    # installs there. "type": "module" because oidc-provider 9 is an ES module only.
    printf '{"name": "oidc-provider-for-tests", "private": true, "type": "module"}\n' >"$PROVIDER_DIR/package.json"
    npm install --prefix "$PROVIDER_DIR" --no-audit --no-fund --no-package-lock --no-save --loglevel=error \
        "oidc-provider@$PROVIDER_VERSION" >/dev/null
    [[ "$(installed_version)" == "$PROVIDER_VERSION" ]] || die "oidc-provider did not install into $PROVIDER_DIR"
fi
log "node $("$NODE22" --version), oidc-provider $(installed_version)"

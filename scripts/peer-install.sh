#!/usr/bin/env bash
# Packs the package and installs it in an empty folder beside each supported major of each
# optional Redis client (ioredis 5 and 6, redis 5 and 6), as a user would: no ERESOLVE, no
# EBADENGINE. Needs the npm registry.
set -euo pipefail
source "$(dirname "$0")/packed-project.sh" # sets root, work (the current folder, removed at exit) and tarball
for peer in ioredis@5 ioredis@6 redis@5 redis@6; do
  if ! npm install --no-audit --no-fund "./$tarball" "$peer" > "install-$peer.log" 2>&1 || grep -qE 'ERESOLVE|EBADENGINE' "install-$peer.log"; then
    cat "install-$peer.log" >&2
    echo "npm install floodgate $peer failed" >&2
    exit 1
  fi
  echo "npm install floodgate $peer ok"
  npm uninstall --no-audit --no-fund "${peer%@*}" >/dev/null 2>&1
done

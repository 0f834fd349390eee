#!/usr/bin/env bash
# Usage: pack-install.sh DIR. Packs the package into DIR (an empty folder), makes DIR a project
# that installs the tarball as a user would, and prints the tarball's file name.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tarball="$(cd "$root" && npm pack --silent --pack-destination "$1" | tail -1)"
cd "$1"
npm init -y >/dev/null
npm install --no-audit --no-fund "./$tarball" >/dev/null 2>&1
echo "$tarball"

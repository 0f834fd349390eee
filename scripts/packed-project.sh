# Sourced by the pack scripts (pack-smoke.sh, consumer-types.sh, peer-install.sh), after
# `set -euo pipefail`: packs the package into a fresh temporary folder (removed at exit), makes
# that folder a project that installs the tarball as a user would, and enters it.
# Sets `root` (the repository), `work` (the folder) and `tarball` (the tarball's file name).
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tarball="$(cd "$root" && npm pack --silent --pack-destination "$work" | tail -1)"
cd "$work"
npm init -y >/dev/null
npm install --no-audit --no-fund "./$tarball" >/dev/null 2>&1

#!/usr/bin/env bash
# Makes a fresh clone runnable: installs npm dependencies when they are missing or older than the
# lockfile, then compiles. Used by `npm run dev` and `npm test`, so both work right after cloning.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "[prepare] installing npm dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund >&2
fi
node_modules/.bin/tsc -p tsconfig.json

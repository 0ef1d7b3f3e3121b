#!/usr/bin/env bash
# Makes a fresh clone runnable: installs npm dependencies when they are missing or older than the
# lockfile, then compiles. Used by `npm run dev` and `npm test`, so both work right after cloning.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -L node_modules ]]; then
  # A link to another checkout's install (a worktree, or a clone made to test this one): npm ci here
  # would empty that install for everyone using it, so it is left to its owner.
  if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
    echo "[prepare] node_modules links to $(readlink node_modules), which may be older than package-lock.json; not reinstalling a shared install: run npm ci there if the build fails" >&2
  fi
elif [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "[prepare] installing npm dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund >&2
fi
node_modules/.bin/tsc -p tsconfig.json

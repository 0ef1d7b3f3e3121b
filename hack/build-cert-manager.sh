#!/usr/bin/env bash
# Builds the pinned cert-manager's controller and cainjector into a cache outside the repository,
# once, and puts cert-manager's CRDs beside them (crds/). The cluster suite runs them as host
# processes (hack/certmanager.ts) to test the documented cert-manager install path. If
# CERT_MANAGER_DIR names a folder holding controller, cainjector and crds/, that one is used and
# nothing is built.
#
#   hack/build-cert-manager.sh   build if missing, print the folder
#
# Why build instead of download: this project's machines reach only package registries. The Go
# module proxy serves the module github.com/cert-manager/cert-manager but not its separate command
# modules (cmd/controller, cmd/cainjector: 404), so the two small mains in hack/cert-manager/
# wire cert-manager's own controller packages. The webhook is not built: it only validates
# cert-manager's own objects, which the manifests here write correctly.
set -euo pipefail

CERT_MANAGER_VERSION="${CERT_MANAGER_VERSION:-1.21.2}"
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/go-build-env.sh"
OUT="$CACHE_ROOT/cert-manager-v${CERT_MANAGER_VERSION}"

complete() { [[ -x "$1/controller" && -x "$1/cainjector" && -n "$(ls "$1"/crds/*.yaml 2>/dev/null)" ]]; }

if [[ -n "${CERT_MANAGER_DIR:-}" ]]; then
  complete "$CERT_MANAGER_DIR" || { echo "CERT_MANAGER_DIR=$CERT_MANAGER_DIR lacks controller, cainjector or crds/*.yaml; unset it to build cert-manager v${CERT_MANAGER_VERSION}" >&2; exit 1; }
  echo "$CERT_MANAGER_DIR"
  exit 0
fi

if complete "$OUT"; then
  echo "$OUT"
  exit 0
fi

require_go cert-manager CERT_MANAGER_DIR

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
start=$SECONDS
log() { echo "[build-cert-manager] $*" >&2; }

# A throwaway module whose only requirement is cert-manager: its go.mod has no replace directives,
# so minimal version selection picks exactly the dependency versions cert-manager is released with.
mkdir -p "$work/mod"
cp -r "$here/cert-manager/controller" "$here/cert-manager/cainjector" "$work/mod/"
cd "$work/mod"
cat > go.mod <<MOD
module connectors.local/certmanager

go 1.26.0

require github.com/cert-manager/cert-manager v${CERT_MANAGER_VERSION}
MOD
log "downloading github.com/cert-manager/cert-manager v${CERT_MANAGER_VERSION}"
moddir="$(GOTOOLCHAIN=local "$GO" mod download -json "github.com/cert-manager/cert-manager@v${CERT_MANAGER_VERSION}" \
  | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
[[ -d "$moddir/deploy/crds" ]] || { echo "no deploy/crds in $moddir" >&2; exit 1; }

log "building controller and cainjector v${CERT_MANAGER_VERSION} (a cold build takes a few minutes)"
ldflags="-s -w -X github.com/cert-manager/cert-manager/pkg/util.AppVersion=v${CERT_MANAGER_VERSION}"
CGO_ENABLED=0 GOTOOLCHAIN=local "$GO" build -mod=mod -trimpath -ldflags "$ldflags" -o "$work/bin/" \
  ./controller ./cainjector

# The CRDs as the module ships them (deploy/crds/*.yaml; the folder's README and OWNERS are not
# manifests). Module files are read-only; the copies need not be.
mkdir -p "$work/bin/crds"
cp "$moddir"/deploy/crds/*.yaml "$work/bin/crds/"
chmod -R u+w "$work/bin/crds"

mkdir -p "$(dirname "$OUT")"
rm -rf "$OUT"
mv "$work/bin" "$OUT"
log "done in $((SECONDS - start))s: $OUT"
echo "$OUT"

#!/usr/bin/env bash
# Builds the pinned Helm (v4) from the helm.sh/helm/v4 Go module into a cache outside the
# repository, once. The chart tests (test/integration/chart.test.ts) and the cluster tests run it.
# If HELM_BIN names an executable, that one is used and nothing is built.
#
#   hack/build-helm.sh           build if missing, print the path of the binary
#
# Why build instead of download: this project's machines reach only package registries, and the
# Go module proxy carries Helm's exact upstream sources.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-4.3.2}"
source "$(dirname "$0")/go-build-env.sh"
OUT="$CACHE_ROOT/helm-v${HELM_VERSION}/helm"

if [[ -n "${HELM_BIN:-}" ]]; then
  [[ -x "$HELM_BIN" ]] || { echo "HELM_BIN=$HELM_BIN is not an executable; unset it to build helm v${HELM_VERSION}" >&2; exit 1; }
  echo "$HELM_BIN"
  exit 0
fi

if [[ -x "$OUT" ]]; then
  echo "$OUT"
  exit 0
fi

require_go helm HELM_BIN

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
start=$SECONDS
log() { echo "[build-helm] $*" >&2; }

# A throwaway module whose only requirement is Helm: helm.sh/helm/v4 has no replace directives, so
# minimal version selection picks exactly the dependency versions of Helm's own go.mod.
mkdir -p "$work/mod"
cd "$work/mod"
cat > go.mod <<MOD
module connectors.local/helmbinary

go 1.26.0

require helm.sh/helm/v4 v${HELM_VERSION}
MOD
# The ldflags of Helm's Makefile, so `helm version` names the release. The commit is not known
# from a module download; Helm reads the Kubernetes version it defaults to (.Capabilities) from the
# embedded module information of k8s.io/client-go, which `go build` records by itself.
ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=v${HELM_VERSION} -X helm.sh/helm/v4/internal/version.gitTreeState=clean"
log "building helm v${HELM_VERSION} (a cold build takes a few minutes)"
CGO_ENABLED=0 GOTOOLCHAIN=local "$GO" build -mod=mod -trimpath -ldflags "$ldflags" -o "$work/helm" \
  helm.sh/helm/v4/cmd/helm
mkdir -p "$(dirname "$OUT")"
mv "$work/helm" "$OUT"
log "done in $((SECONDS - start))s: $OUT"
echo "$OUT"

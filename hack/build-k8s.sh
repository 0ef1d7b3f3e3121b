#!/usr/bin/env bash
# Builds the pinned kube-apiserver, kubectl and etcd from the official Go modules into a cache
# outside the repository, once. Tests and the dev environment use them through
# KUBEBUILDER_ASSETS (the envtest convention): if that variable is set, nothing is built.
#
#   hack/build-k8s.sh            build if missing, print the directory holding the binaries
#
# Why build instead of download: this project's machines reach only package registries, and the
# Go module proxy carries the exact upstream sources for both projects.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-3.6.5}"   # the etcd that Kubernetes ${K8S_VERSION%.*} is tested with
source "$(dirname "$0")/go-build-env.sh"
OUT="$CACHE_ROOT/k8s-v${K8S_VERSION}-etcd-v${ETCD_VERSION}"

if [[ -n "${KUBEBUILDER_ASSETS:-}" ]]; then
  for b in etcd kube-apiserver kubectl; do
    [[ -x "$KUBEBUILDER_ASSETS/$b" ]] || { echo "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS has no executable '$b'; unset it to build the pinned binaries" >&2; exit 1; }
  done
  echo "$KUBEBUILDER_ASSETS"
  exit 0
fi

if [[ -x "$OUT/etcd" && -x "$OUT/kube-apiserver" && -x "$OUT/kubectl" ]]; then
  echo "$OUT"
  exit 0
fi

require_go kube-apiserver/etcd/kubectl KUBEBUILDER_ASSETS

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$OUT"
start=$SECONDS
log() { echo "[build-k8s] $*" >&2; }

# --- kube-apiserver and kubectl from k8s.io/kubernetes -----------------------------------------
mkdir -p "$work/k8s"
cd "$work/k8s"
log "downloading k8s.io/kubernetes v${K8S_VERSION}"
k8s_module "$K8S_VERSION"
ldflags="$(k8s_ldflags "$K8S_VERSION")"
log "building kube-apiserver and kubectl v${K8S_VERSION} (a cold build takes several minutes)"
CGO_ENABLED=0 "$GO" build -mod=mod -trimpath -ldflags "$ldflags" -o "$work/bin/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl

# --- etcd from go.etcd.io/etcd/server/v3 (its root package is the etcd main) -------------------
mkdir -p "$work/etcd"
cd "$work/etcd"
cat > go.mod <<MOD
module connectors.local/etcdbinary

go 1.24.0

require go.etcd.io/etcd/server/v3 v${ETCD_VERSION}
MOD
log "building etcd v${ETCD_VERSION}"
CGO_ENABLED=0 "$GO" build -mod=mod -trimpath -ldflags "-s -w" -o "$work/bin/etcd" go.etcd.io/etcd/server/v3

mv "$work/bin/kube-apiserver" "$work/bin/kubectl" "$work/bin/etcd" "$OUT/"
log "done in $((SECONDS - start))s: $OUT"
echo "$OUT"

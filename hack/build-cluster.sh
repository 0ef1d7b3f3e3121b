#!/usr/bin/env bash
# Builds what a single-node cluster needs beyond hack/build-k8s.sh's control plane: kubelet,
# kube-controller-manager, kube-scheduler and kube-proxy at the pinned Kubernetes version, and
# CoreDNS for cluster DNS, from the official Go modules into a cache outside the repository, once.
# hack/cluster.ts runs them. If CLUSTER_BINARIES names a folder holding all five, nothing is built.
#
#   hack/build-cluster.sh        build if missing, print the directory holding the binaries
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.34.4}"
# The newest CoreDNS that builds with our Go toolchain (v1.15.0 needs Go 1.26).
COREDNS_VERSION="${COREDNS_VERSION:-1.15.0}"
source "$(dirname "$0")/go-build-env.sh"
OUT="$CACHE_ROOT/cluster-v${K8S_VERSION}-coredns-v${COREDNS_VERSION}"
BINARIES=(kubelet kube-controller-manager kube-scheduler kube-proxy coredns)

complete() {
  local b
  for b in "${BINARIES[@]}"; do [[ -x "$1/$b" ]] || return 1; done
}

if [[ -n "${CLUSTER_BINARIES:-}" ]]; then
  complete "$CLUSTER_BINARIES" || { echo "CLUSTER_BINARIES=$CLUSTER_BINARIES lacks one of: ${BINARIES[*]}; unset it to build the pinned binaries" >&2; exit 1; }
  echo "$CLUSTER_BINARIES"
  exit 0
fi

if complete "$OUT"; then
  echo "$OUT"
  exit 0
fi

require_go "${BINARIES[*]}" CLUSTER_BINARIES

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$OUT"
start=$SECONDS
log() { echo "[build-cluster] $*" >&2; }

# --- the node components from k8s.io/kubernetes, in one build so they share compiled packages ---
mkdir -p "$work/k8s"
cd "$work/k8s"
log "downloading k8s.io/kubernetes v${K8S_VERSION}"
k8s_module "$K8S_VERSION"
log "building kubelet, kube-controller-manager, kube-scheduler and kube-proxy v${K8S_VERSION} (a cold build takes several minutes)"
CGO_ENABLED=0 "$GO" build -mod=mod -trimpath -ldflags "$(k8s_ldflags "$K8S_VERSION")" -o "$work/bin/" \
  k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kube-proxy

# --- CoreDNS (its root package is the coredns main), in a module of its own: it requires newer
# k8s.io/client-go than Kubernetes v${K8S_VERSION} does, so the two cannot share one go.mod ------
mkdir -p "$work/coredns"
cd "$work/coredns"
cat > go.mod <<MOD
module connectors.local/corednsbinary

go 1.26.0

require github.com/coredns/coredns v${COREDNS_VERSION}
MOD
log "building CoreDNS v${COREDNS_VERSION}"
CGO_ENABLED=0 "$GO" build -mod=mod -trimpath \
  -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=v${COREDNS_VERSION}" \
  -o "$work/bin/coredns" github.com/coredns/coredns

for b in "${BINARIES[@]}"; do mv "$work/bin/$b" "$OUT/"; done
log "done in $((SECONDS - start))s: $OUT"
echo "$OUT"

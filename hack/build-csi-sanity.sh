#!/usr/bin/env bash
# Builds csi-sanity, the CSI conformance checker of kubernetes-csi/csi-test, at a pinned version
# from the Go module proxy into a cache outside the repository, once. The integration suite runs it
# against the driver's socket (test/integration/csi-sanity.test.ts). If CSI_SANITY names an
# executable, that one is used and nothing is built.
#
#   hack/build-csi-sanity.sh     build if missing, print the path of the binary
set -euo pipefail

CSI_TEST_VERSION="${CSI_TEST_VERSION:-5.6.0}"
source "$(dirname "$0")/go-build-env.sh"
OUT="$CACHE_ROOT/csi-sanity-v${CSI_TEST_VERSION}/csi-sanity"

if [[ -n "${CSI_SANITY:-}" ]]; then
  [[ -x "$CSI_SANITY" ]] || { echo "CSI_SANITY=$CSI_SANITY is not an executable; unset it to build csi-sanity v${CSI_TEST_VERSION}" >&2; exit 1; }
  echo "$CSI_SANITY"
  exit 0
fi

if [[ -x "$OUT" ]]; then
  echo "$OUT"
  exit 0
fi

require_go csi-sanity CSI_SANITY

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
start=$SECONDS
echo "[build-csi-sanity] building csi-sanity v${CSI_TEST_VERSION}" >&2
mkdir -p "$(dirname "$OUT")"
GOBIN="$work" CGO_ENABLED=0 "$GO" install -trimpath -ldflags "-s -w" \
  "github.com/kubernetes-csi/csi-test/v5/cmd/csi-sanity@v${CSI_TEST_VERSION}"
mv "$work/csi-sanity" "$OUT"
echo "[build-csi-sanity] done in $((SECONDS - start))s: $OUT" >&2
echo "$OUT"

# Sourced by the hack/build-*.sh scripts: where built binaries are cached (outside the repository)
# and which Go builds them. Our machines reach only package registries, and the Go module proxy
# carries the exact upstream sources of every tool built here.
CACHE_ROOT="${CONNECTORS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/connectors}"

# Sets GO, or exits naming the override that makes building unnecessary.
require_go() {
  GO="$(command -v go || true)"
  [[ -n "$GO" ]] || GO=/usr/local/go/bin/go
  [[ -x "$GO" ]] || { echo "Go is needed to build $1 (or set $2 to a folder or binary holding it)" >&2; exit 1; }
}

# k8s_module <version>: writes, in the current directory, a go.mod that requires
# k8s.io/kubernetes v<version>. That module points its staging modules at ./staging, which a
# consumer does not have, so each is replaced by its published v0.<minor>.<patch> release.
k8s_module() {
  local version="$1" modjson kmod staging_version m
  cat > go.mod <<MOD
module connectors.local/k8sbinaries

go 1.24.0

require k8s.io/kubernetes v${version}
MOD
  modjson="$("$GO" mod download -json "k8s.io/kubernetes@v${version}")"
  kmod="$(sed -n 's/.*"GoMod": "\(.*\)".*/\1/p' <<<"$modjson")"
  staging_version="v0.${version#1.}"
  grep -E '^\s*k8s\.io/[^ ]+ => \./staging/' "$kmod" | awk '{print $1}' | while read -r m; do
    echo "replace $m => $m $staging_version" >> go.mod
  done
}

# k8s_ldflags <version>: the version stamps that `kubectl version`, the API server's /version and
# the kubelet's node status report (a plain `go build` leaves them at v0.0.0).
k8s_ldflags() {
  local version="$1"
  echo "-s -w -X k8s.io/component-base/version.gitVersion=v${version} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(cut -d. -f2 <<<"$version") -X k8s.io/client-go/pkg/version.gitVersion=v${version}"
}

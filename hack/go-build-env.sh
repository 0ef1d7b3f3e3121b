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

#!/usr/bin/env bash
# Builds the Connectors image from the Containerfile with buildah (no daemon, no registry) and
# writes it as an OCI archive that carries the image name (org.opencontainers.image.ref.name).
# Progress goes to stderr; the archive's path is the last line of stdout.
#
#   npm run image [-- options]      (bash hack/image.sh [options])
#     --base IMAGE     base image (env CONNECTORS_IMAGE_BASE). Default: the official
#                      docker.io/library/node:24-bookworm-slim if present or pullable, otherwise the
#                      local stand-in of hack/base-image.sh. `--base local` uses the stand-in
#                      without trying the registry (machines that reach none).
#     --tag NAME       image name (env CONNECTORS_IMAGE_TAG; default
#                      ghcr.io/connectors/connectors:<package.json version>)
#     --output PATH    also put the archive at PATH (env CONNECTORS_IMAGE_OUTPUT)
#     --force          build even if an archive for the same inputs exists
#
# The archive lands in ${CONNECTORS_CACHE:-~/.cache/connectors}/images/connectors-<version>-<inputs
# hash>.oci.tar. The hash covers the build context (the files .dockerignore lets in), the
# Containerfile, .dockerignore, the base image's id, the tag and the version: an archive for the
# same inputs is reused and the build skipped. The image is also left in buildah's storage under
# the tag. The npm registry of the RUN steps is the host's (`npm config get registry`), passed as a
# build argument of the build stages only, with the CA bundle the host's npm trusts as a secret.
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/go-build-env.sh

OFFICIAL_BASE=docker.io/library/node:24-bookworm-slim
IMAGES="$CACHE_ROOT/images"
log() { echo "[image] $*" >&2; }
die() {
  echo "[image] $*" >&2
  exit 1
}

base="${CONNECTORS_IMAGE_BASE:-}"
tag="${CONNECTORS_IMAGE_TAG:-}"
output="${CONNECTORS_IMAGE_OUTPUT:-}"
force=0
while (($#)); do
  case "$1" in
    --base | --tag | --output)
      (($# >= 2)) || die "$1 needs a value"
      case "$1" in
        --base) base="$2" ;;
        --tag) tag="$2" ;;
        --output) output="$2" ;;
      esac
      shift 2
      ;;
    --base=* | --tag=* | --output=*)
      value="${1#*=}"
      case "$1" in
        --base=*) base="$value" ;;
        --tag=*) tag="$value" ;;
        --output=*) output="$value" ;;
      esac
      shift
      ;;
    --force)
      force=1
      shift
      ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
      exit 0
      ;;
    *) die "unknown argument '$1' (see: bash hack/image.sh --help)" ;;
  esac
done

command -v buildah >/dev/null || die "buildah is missing: apt-get install -y buildah (Debian/Ubuntu), or see https://buildah.io"
command -v npm >/dev/null || die "npm is missing: install Node.js with npm (the build reads the npm registry from its configuration)"

version="$(sed -n 's/^  "version": *"\([^"]*\)".*/\1/p' package.json)"
[[ -n "$version" ]] || die "package.json has no version"
tag="${tag:-ghcr.io/connectors/connectors:$version}"

# --- The base ----------------------------------------------------------------------------------
image_id() { buildah inspect --type image --format '{{.FromImageID}}' "$1" 2>/dev/null; }
if [[ -z "$base" ]]; then
  if image_id "$OFFICIAL_BASE" >/dev/null; then
    base="$OFFICIAL_BASE"
  elif pull_error="$(buildah pull --quiet "$OFFICIAL_BASE" 2>&1 >/dev/null)"; then
    base="$OFFICIAL_BASE"
  else
    log "cannot pull $OFFICIAL_BASE (${pull_error##*$'\n'}):"
    log "building on a local stand-in (Debian bookworm minbase + Node.js from the npm registry) from hack/base-image.sh"
    base=local
  fi
fi
if [[ "$base" == local ]]; then
  base="$(bash hack/base-image.sh | tail -n 1)"
fi
base_id="$(image_id "$base")" || {
  buildah pull --quiet "$base" >/dev/null || die "base image $base is neither in buildah's storage nor pullable (try --base local)"
  base_id="$(image_id "$base")"
}
log "base: $base ($base_id)"

# --- The inputs' hash --------------------------------------------------------------------------
# The context is what .dockerignore lets in: its "!path" lines name the roots.
mapfile -t roots < <(sed -n 's/^!\(.*\)$/\1/p' .dockerignore)
inputs_hash="$( (
  printf 'base %s\ntag %s\nversion %s\n' "$base_id" "$tag" "$version"
  for f in Containerfile .dockerignore; do
    printf '%s %s\n' "$(sha256sum <"$f" | cut -c1-64)" "$f"
  done
  for root in "${roots[@]}"; do
    [[ -e "$root" ]] && find "$root" -type f -print0
  done | sort -z | xargs -0 -r sha256sum
) | sha256sum | cut -c1-12)"
mkdir -p "$IMAGES"
archive="$IMAGES/connectors-$version-$inputs_hash.oci.tar"

image_inputs() { buildah inspect --type image --format '{{index .OCIv1.Config.Labels "io.connectors.inputs"}}' "$tag" 2>/dev/null || true; }
start=$SECONDS
if ((!force)) && [[ -f "$archive" ]]; then
  log "$archive is current (same inputs $inputs_hash): build skipped"
  if [[ "$(image_inputs)" != "$inputs_hash" ]]; then
    buildah tag "$(buildah pull --quiet "oci-archive:$archive")" "$tag"
  fi
else
  registry="$(npm config get registry)"
  # The CAs the host's npm trusts for that registry (its cafile, else NODE_EXTRA_CA_CERTS), lent to
  # the npm steps as a build secret: a TLS-inspecting proxy's CA reaches no layer.
  ca="$(npm config get cafile)"
  [[ -n "$ca" && "$ca" != null && "$ca" != undefined ]] || ca="${NODE_EXTRA_CA_CERTS:-}"
  secret=()
  [[ -n "$ca" && -f "$ca" ]] && secret=(--secret "id=npm-ca,src=$ca")
  previous="$(image_id "$tag" || true)"
  log "building $tag from the Containerfile on $base"
  # --network host: the RUN steps reach the npm registry as the host does, and buildah sets up no
  # bridge, NAT or forwarding of its own. --layers=false: only the final image is kept.
  buildah build \
    --network host \
    --pull=never \
    --layers=false \
    --build-arg BASE="$base" \
    --build-arg VERSION="$version" \
    --build-arg npm_config_registry="$registry" \
    "${secret[@]}" \
    --label io.connectors.inputs="$inputs_hash" \
    --tag "$tag" \
    --file Containerfile \
    . >&2
  # The image this tag named before, now unnamed (fails harmlessly if something else still uses it).
  [[ -z "$previous" || "$previous" == "$(image_id "$tag")" ]] || buildah rmi "$previous" >/dev/null 2>&1 || true
  rm -f "$archive.tmp"
  buildah push --quiet "$tag" "oci-archive:$archive.tmp:$tag" >&2
  mv "$archive.tmp" "$archive"
  # Archives of earlier inputs: keep the three newest, for switching back and forth.
  find "$IMAGES" -maxdepth 1 -name 'connectors-*.oci.tar' -printf '%T@ %p\n' | sort -rn | tail -n +4 | cut -d' ' -f2- |
    while read -r old; do rm -f "$old" "$old.sizes"; done
  log "built in $((SECONDS - start)) s"
fi

# --- Sizes -------------------------------------------------------------------------------------
# Compressed: the gzip layers as the archive (and a registry) holds them; uncompressed: as they
# unpack. Measured once per archive (unpacking takes seconds), kept beside it.
if [[ ! -s "$archive.sizes" ]]; then
  node -e '
    const { execFileSync } = require("node:child_process");
    const archive = process.argv[1];
    const read = (path) => execFileSync("tar", ["-xOf", archive, path], { maxBuffer: 1 << 24 });
    const index = JSON.parse(read("index.json"));
    const manifest = JSON.parse(read("blobs/sha256/" + index.manifests[0].digest.slice(7)));
    let compressed = 0, uncompressed = 0;
    for (const layer of manifest.layers) {
      compressed += layer.size;
      const unpack = `tar -xOf "$0" "blobs/sha256/${layer.digest.slice(7)}" | gzip -dc | wc -c`;
      uncompressed += Number(execFileSync("sh", ["-c", unpack, archive]));
    }
    console.log(compressed, uncompressed);
  ' "$archive" >"$archive.sizes"
fi
read -r compressed uncompressed <"$archive.sizes"
mb() { awk -v b="$1" 'BEGIN {printf "%.1f MB", b / 1e6}'; }
log "image $tag: $(mb "$uncompressed") uncompressed, $(mb "$compressed") compressed (gzip layers, the archive's size)"

if [[ -n "$output" ]]; then
  mkdir -p "$(dirname "$output")"
  ln -f "$archive" "$output" 2>/dev/null || cp -f "$archive" "$output"
  archive="$(realpath "$output")"
fi
echo "$archive"

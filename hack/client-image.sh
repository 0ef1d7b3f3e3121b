#!/usr/bin/env bash
# Builds the image in which cluster tests run the tools' real clients as a Pod would: git, skopeo,
# npm (Node.js), kubectl, curl, sh and the MariaDB/MySQL client, as the non-root `node` user.
# No registry is reachable from our machines, so it is assembled locally:
#   - on the base of hack/base-image.sh (Debian bookworm minbase + Node.js 24 + npm, the `node`
#     user 1000:1000), so Node.js and npm are the ones the Connectors image runs;
#   - Debian's packages below, installed with apt-get in a `buildah run` whose apt sources are the
#     host's, bind-mounted read-only for that one command: the Debian mirror is read at build time
#     and written into no file of the image, which keeps no apt lists or caches either (the base's
#     dpkg excludes keep documentation, man pages and translations out, as in the slim images);
#   - the static kubectl of hack/build-k8s.sh (what resolveBinaries() returns), the version the
#     test cluster's API server runs, as /usr/local/bin/kubectl.
# The image runs as 1000:1000 (numeric, so that `runAsNonRoot` can verify it). A Pod points HOME at
# a mounted directory (e.g. a connectors-csi volume) and the clients read their configuration from
# there: git ~/.gitconfig, npm ~/.npmrc, skopeo ~/.docker/config.json (or $DOCKER_CONFIG), curl
# ~/.netrc, kubectl ~/.kube/config.
#
#   hack/client-image.sh            build or reuse the image; print the OCI archive's path (last line)
#   hack/client-image.sh --force    rebuild even if cached
#
# The archive, ${CONNECTORS_CACHE:-~/.cache/connectors}/images/clients-<key>.oci.tar, names the
# image (org.opencontainers.image.ref.name, what `ctr images import` and Cluster.importImage read).
# <key> hashes the base image's id, kubectl's bytes and this script (and so its package list): an
# archive for the same inputs is reused, without starting a container. One build at a time (flock);
# a second caller waits and then finds the archive. Progress goes to stderr.
# Needs root and buildah (hack/test-tools.sh installs it), and what hack/base-image.sh needs on the
# first run.
set -euo pipefail
self="$(realpath "$0")"
cd "$(dirname "$self")/.."
source hack/go-build-env.sh

# localhost/: kubelet's CRI would otherwise look for the image under docker.io. The tag stays 1
# across rebuilds, as busybox:1 does: importing a newer archive moves the name to it.
NAME=localhost/connectors/clients:1
# mariadb-client-core has the `mariadb` client and its `mysql` name; mariadb-client would add 63 MB
# of dump and admin tools. Named so that apt picks them over larger alternatives: netavark provides
# the "container-network-stack" that skopeo's containers-common depends on (4 MB, where the first
# provider, containernetworking-plugins, is 45 MB with iptables), gpg satisfies gpgme's
# "gnupg | gpg" without the whole gnupg suite. --no-install-recommends leaves out git's ssh-client,
# less and patch.
PACKAGES=(ca-certificates curl git skopeo netavark gpg mariadb-client-core)
IMAGES="$CACHE_ROOT/images"
log() { echo "[client-image] $*" >&2; }
die() {
  echo "[client-image] $*" >&2
  exit 1
}

force=0
case "${1:-}" in
  --force) force=1 ;;
  '') ;;
  *) die "unknown argument '$1' (usage: hack/client-image.sh [--force])" ;;
esac

[[ $(id -u) -eq 0 ]] || die "needs root (buildah storage and hack/base-image.sh): run it as root or with sudo"
command -v buildah >/dev/null || die "buildah is missing: apt-get install -y buildah (or run bash hack/test-tools.sh)"

mkdir -p "$IMAGES"
exec 9>"$IMAGES/.client-image.lock"
flock 9

base="$(bash hack/base-image.sh | tail -n 1)"
base_id="$(buildah inspect --type image --format '{{.FromImageID}}' "$base")"
kubectl="$(bash hack/build-k8s.sh | tail -n 1)/kubectl"
[[ -x "$kubectl" ]] || die "hack/build-k8s.sh gave no executable $kubectl"
key="$( (
  echo "base $base_id"
  echo "kubectl $(sha256sum <"$kubectl" | cut -c1-64)"
  cat "$self"
) | sha256sum | cut -c1-16)"
archive="$IMAGES/clients-$key.oci.tar"

if ((!force)) && [[ -f "$archive" ]]; then
  log "$archive is current (base $base_id, same kubectl and packages): build skipped"
  echo "$archive"
  exit 0
fi

start=$SECONDS
ctr=""
cleanup() {
  [[ -z "$ctr" ]] || buildah rm "$ctr" >/dev/null 2>&1 || true
  rm -f "$archive.tmp"
}
trap cleanup EXIT
ctr="$(buildah from --quiet --pull=never "$base")"

# The host's apt sources, and its settings for reaching them (validity checks of a snapshot mirror,
# proxies), as hack/base-image.sh uses them.
sources=()
for p in /etc/apt/sources.list /etc/apt/sources.list.d; do
  [[ -e "$p" ]] && sources+=(--volume "$p:$p:ro")
done
((${#sources[@]})) || die "the host has no apt sources (/etc/apt/sources.list{,.d}) to install Debian packages from"
acquire=""
for opt in Acquire::Check-Valid-Until Acquire::Check-Date Acquire::Retries Acquire::http::Proxy Acquire::https::Proxy; do
  value="$(apt-config dump "$opt" 2>/dev/null | sed -n "s/^$opt \"\(.*\)\";\$/\1/p")"
  [[ -z "$value" ]] || acquire+=" -o $(printf '%q' "$opt=$value")"
done
log "installing ${PACKAGES[*]} on $base from the host's apt sources"
# --network host: apt reaches the mirror as the host does; buildah sets up no network of its own.
buildah run --network host "${sources[@]}" --env DEBIAN_FRONTEND=noninteractive --env DEBCONF_NOWARNINGS=yes --env LC_ALL=C "$ctr" -- \
  sh -euc "
    apt-get$acquire update -qq
    apt-get$acquire install -y -qq --no-install-recommends ${PACKAGES[*]} >/dev/null
    apt-get clean
    rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/cache/debconf/*-old /var/lib/dpkg/*-old \
      /var/cache/ldconfig/aux-cache
    find /var/log -type f -delete
  " >&2

buildah copy --quiet --chown 0:0 --chmod 0755 "$ctr" "$kubectl" /usr/local/bin/kubectl >/dev/null

# Every client starts as the image's user, with no network and a HOME that is not its own.
buildah run --network none --user 1000:1000 --env HOME=/nonexistent "$ctr" -- sh -euc '
  git --version
  skopeo --version
  node --version
  npm --version
  kubectl version --client
  curl --version | head -n 1
  mysql --version
' >&2

# What the runs left: the mount points of their bind mounts, empty, and Node.js's compile cache in
# /tmp. Then refuse an image that names a mirror or keeps apt lists.
mnt="$(buildah mount "$ctr")"
for p in /etc/apt/sources.list /etc/resolv.conf /etc/hostname; do
  [[ ! -e "$mnt$p" || -s "$mnt$p" ]] || rm -f "$mnt$p"
done
find "$mnt/tmp" "$mnt/var/tmp" -mindepth 1 -delete
leftovers="$(find "$mnt/etc/apt/sources.list.d" "$mnt/var/lib/apt/lists" -mindepth 1)"
[[ ! -e "$mnt/etc/apt/sources.list" && -z "$leftovers" ]] ||
  die "the image keeps apt sources or lists: ${leftovers:-/etc/apt/sources.list}"
buildah umount "$ctr" >/dev/null

buildah config \
  --user 1000:1000 \
  --cmd '["/bin/sh"]' \
  --created-by "hack/client-image.sh: apt-get install ${PACKAGES[*]}; kubectl from hack/build-k8s.sh" \
  --label io.connectors.client-key="$key" \
  --label org.opencontainers.image.title="connectors test clients" \
  --label org.opencontainers.image.description="The clients the cluster tests run in Pods: git, skopeo, Node.js and npm, kubectl, curl, mysql (mariadb), on $base" \
  --label org.opencontainers.image.version=1 \
  --label org.opencontainers.image.base.name="$base" \
  "$ctr"
# Straight into the archive (not buildah's storage: the archive is what callers use), with gzip
# layers as a registry would hold them.
log "writing $archive"
buildah commit --quiet --disable-compression=false "$ctr" "oci-archive:$archive.tmp:$NAME" >/dev/null
rm -f "$IMAGES"/clients-*.oci.tar # older keys: superseded
mv "$archive.tmp" "$archive"
log "built $NAME in $((SECONDS - start)) s"
echo "$archive"

#!/usr/bin/env bash
# Installs, when any is missing, the Debian packages the integration tests run as real tools (git
# http-backend behind nginx + fcgiwrap, htpasswd, docker-registry, skopeo, maven and its JRE's
# keytool for the CSI driver's settings.xml, pip and twine for its pip.conf and .pypirc), the
# benchmarks' load generator (wrk), and what the real single-node cluster and the image build need (containerd, runc, the CNI plugins, iptables,
# conntrack for kube-proxy, nftables to delete the tables iptables-nft leaves behind, buildah and
# debootstrap for the image, gcc for the static pause binary, busybox-static for test pods), and
# MariaDB's server and client for the MySQL Connectors Proxy and the mysql class (hack/tools/mariadb.ts
# runs mariadbd on a temporary datadir; the rendered my.cnf is checked with the real client). Needs
# root or sudo; otherwise it prints the command to run.
set -euo pipefail
packages=(git openssl ca-certificates nginx fcgiwrap apache2-utils docker-registry skopeo maven python3-pip twine wrk
  containerd runc containernetworking-plugins iptables conntrack nftables iproute2 buildah debootstrap gcc libc6-dev
  busybox-static mariadb-server mariadb-client)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
((${#missing[@]})) || exit 0
echo "[test-tools] installing Debian packages: ${missing[*]}" >&2
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "[test-tools] not root and no sudo: run  apt-get install ${missing[*]}  as root, then retry" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"

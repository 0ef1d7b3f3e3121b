#!/usr/bin/env bash
# Issues the certificates an install needs when cert-manager is not used, stores them in Secrets and
# fills the caBundle of the APIService and both admission webhooks. Run it after
# `kubectl apply -k manifests/` (or `helm install`), with kubectl pointing at the cluster:
#
#   hack/certificates.sh            create what is missing, (re)patch every caBundle
#   hack/certificates.sh --renew    also reissue the serving and client certificates (same CA)
#
# What it makes, in namespace connectors-system (the names the Deployments mount, and the ones
# manifests/cert-manager/ makes with cert-manager):
#   connectors-apiserver-ca     a private CA (10 years), kept to sign renewals
#   connectors-apiserver-tls    serving certificate of connectors-apiserver.connectors-system.svc
#   connectors-classapi-tls     serving certificate of connectors-classapi.connectors-system.svc
#   connectors-classapi-client  client certificate, CN system:serviceaccount:connectors-system:connectors-apiserver
#   connectors-proxy-ca         the Connectors Proxy's own CA (separate root: trusting the proxy must
#                               not mean trusting the API server's certificates)
# Leaf certificates last --days (default 365); every process re-reads them when the Secret changes,
# so a renewal needs no restart. Keys never leave the temporary folder and the Secrets; they are
# written with server-side apply, so no copy lands in a last-applied annotation.
# Needs openssl and kubectl (KUBECTL overrides which one).
set -euo pipefail

NS=connectors-system
KUBECTL="${KUBECTL:-kubectl}"
renew=false
days=365
while (($#)); do
  case "$1" in
    --renew) renew=true ;;
    --days) days="$2"; shift ;;
    --days=*) days="${1#--days=}" ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[[ "$days" =~ ^[1-9][0-9]*$ ]] || { echo "--days must be a positive number of days" >&2; exit 2; }
command -v openssl >/dev/null || { echo "openssl is needed: apt-get install openssl" >&2; exit 1; }
command -v "$KUBECTL" >/dev/null || { echo "kubectl is needed (or set KUBECTL to one)" >&2; exit 1; }
log() { echo "[certificates] $*" >&2; }

if ! "$KUBECTL" get namespace "$NS" >/dev/null 2>&1; then
  echo "namespace $NS does not exist: install first (kubectl apply -k manifests/ or helm install), then run this" >&2
  exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
chmod 700 "$work"
umask 077

# secret_file NAME KEY OUT: writes one key of a Secret to OUT; fails if the Secret or key is absent.
secret_file() {
  local data
  data="$("$KUBECTL" -n "$NS" get secret "$1" -o "jsonpath={.data.${2//./\\.}}" 2>/dev/null)" || return 1
  [[ -n "$data" ]] || return 1
  base64 -d <<<"$data" >"$3"
}

# store NAME DIR: the Secret NAME (type kubernetes.io/tls) from DIR/tls.crt, tls.key and, if present, ca.crt.
store() {
  local files=(--from-file=tls.crt="$2/tls.crt" --from-file=tls.key="$2/tls.key")
  [[ -f "$2/ca.crt" ]] && files+=(--from-file=ca.crt="$2/ca.crt")
  "$KUBECTL" -n "$NS" create secret generic "$1" --type=kubernetes.io/tls "${files[@]}" \
    --dry-run=client -o yaml |
    "$KUBECTL" label --local -f - -o yaml app.kubernetes.io/part-of=connectors |
    "$KUBECTL" apply --server-side --force-conflicts --field-manager=connectors-certificates -f - >/dev/null
  log "stored Secret $NS/$1"
}

# self_signed_ca CN DIR
self_signed_ca() {
  mkdir -p "$2"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 -subj "/CN=$1" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    -keyout "$2/tls.key" -out "$2/tls.crt" 2>/dev/null
}

# issue NAME CN EXTENSIONS: a leaf certificate signed by the CA in $work/ca, stored as Secret NAME.
issue() {
  local dir="$work/$1"
  mkdir -p "$dir"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" \
    -keyout "$dir/tls.key" -out "$dir/req.csr" 2>/dev/null
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" "$3" >"$dir/ext"
  openssl x509 -req -in "$dir/req.csr" -CA "$work/ca/tls.crt" -CAkey "$work/ca/tls.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days "$days" -sha256 -extfile "$dir/ext" \
    -out "$dir/tls.crt" 2>/dev/null
  cp "$work/ca/tls.crt" "$dir/ca.crt"
  store "$1" "$dir"
}

# needs_issue NAME: true when the Secret is missing, --renew was given, it expires within 30 days,
# or it was not signed by the current CA.
needs_issue() {
  $renew && return 0
  secret_file "$1" tls.crt "$work/current.crt" || return 0
  openssl x509 -in "$work/current.crt" -noout -checkend $((30 * 24 * 3600)) >/dev/null || return 0
  openssl verify -CAfile "$work/ca/tls.crt" "$work/current.crt" >/dev/null 2>&1 || return 0
  return 1
}

# --- the private CA -------------------------------------------------------------------------------
mkdir -p "$work/ca"
if secret_file connectors-apiserver-ca tls.crt "$work/ca/tls.crt" &&
  secret_file connectors-apiserver-ca tls.key "$work/ca/tls.key"; then
  log "using the existing CA in Secret $NS/connectors-apiserver-ca"
else
  self_signed_ca connectors-apiserver-ca "$work/ca"
  store connectors-apiserver-ca "$work/ca"
fi

svc=connectors-system.svc
needs_issue connectors-apiserver-tls &&
  issue connectors-apiserver-tls "connectors-apiserver.$svc" \
    "extendedKeyUsage=serverAuth
subjectAltName=DNS:connectors-apiserver.$svc,DNS:connectors-apiserver.$svc.cluster.local"
needs_issue connectors-classapi-tls &&
  issue connectors-classapi-tls "connectors-classapi.$svc" \
    "extendedKeyUsage=serverAuth
subjectAltName=DNS:connectors-classapi.$svc,DNS:connectors-classapi.$svc.cluster.local"
needs_issue connectors-classapi-client &&
  issue connectors-classapi-client "system:serviceaccount:connectors-system:connectors-apiserver" \
    "extendedKeyUsage=clientAuth"

if ! "$KUBECTL" -n "$NS" get secret connectors-proxy-ca >/dev/null 2>&1; then
  self_signed_ca connectors-proxy-ca "$work/proxy-ca"
  store connectors-proxy-ca "$work/proxy-ca"
fi

# --- caBundle: the CA kube-apiserver verifies the API server's certificate with --------------------
bundle="$(base64 -w0 <"$work/ca/tls.crt")"
"$KUBECTL" patch apiservice v1alpha1.subresources.connectors.alauda.io --type=merge \
  -p "{\"spec\":{\"caBundle\":\"$bundle\"}}" >/dev/null
for hook in validatingwebhookconfiguration/connectors-validation mutatingwebhookconfiguration/connectors-admission; do
  "$KUBECTL" patch "$hook" --type=json \
    -p "[{\"op\":\"add\",\"path\":\"/webhooks/0/clientConfig/caBundle\",\"value\":\"$bundle\"}]" >/dev/null
done
log "caBundle set on the APIService and both webhooks"

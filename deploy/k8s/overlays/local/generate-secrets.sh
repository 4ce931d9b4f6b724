#!/usr/bin/env bash
# Writes the local overlay's secret files (kustomization.yaml's secretGenerator) into secrets/, or
# into the directory given as the first argument: DEVELOPMENT keys and certificates, made here with
# openssl, never real ones. A file already there is kept (delete it to make a new one), so running
# it again changes nothing. docs/deploy.md, "Install", says how a real cluster gets its own.
#
#   deploy/k8s/overlays/local/generate-secrets.sh [directory]
#   DATABASE_URL=<CloudNativePG's uri> deploy/k8s/overlays/local/generate-secrets.sh
#
# NAMESPACE (default balance) must be the overlay's namespace: the certificates name the pods'
# DNS names in it.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/secrets}"
namespace="${NAMESPACE:-balance}"
# CloudNativePG's application database and user for a cluster named balance-pg (docs/deploy.md);
# its password is in the Secret balance-pg-app (key "uri" holds the whole URL).
placeholder="postgres://app:password-from-balance-pg-app@balance-pg-rw.$namespace.svc:5432/app"
database_url="${DATABASE_URL:-$placeholder}"
mkdir -p "$out"
umask 077

# write NAME COMMAND...: runs COMMAND with stdout into $out/NAME unless NAME exists.
write() {
  local name="$1"; shift
  [ -e "$out/$name" ] && return 0
  "$@" > "$out/$name.tmp"
  mv "$out/$name.tmp" "$out/$name"
}

write database-url printf '%s' "$database_url"
write cluster-database-url printf '%s' "$database_url"
# The key every replication link proves (docs/cluster.md): 48 random bytes.
write cluster.key openssl rand 48
# One HS256 key for tokens (auth/keys.ts's file format); `bun run token` mints with it.
auth_key() {
  printf '{"keys":[{"kid":"k8s-dev-1","alg":"HS256","secret":"%s"}]}' \
    "$(openssl rand -base64 32 | tr '+/' '-_' | tr -d '=\n')"
}
write auth-keys.json auth_key

# A development CA, and from it the front doors' and the replication links' certificates.
peers="*.balance-peers.$namespace.svc.cluster.local"
if [ ! -e "$out/ca.crt" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
    -subj "/CN=balance development CA" -keyout "$out/ca.key" -out "$out/ca.crt" 2>/dev/null
fi
# certificate NAME SUBJECT SANS USAGE
certificate() {
  local name="$1" subject="$2" sans="$3" usage="$4"
  [ -e "$out/$name.crt" ] && return 0
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$subject" \
    -keyout "$out/$name.key" -out "$out/$name.csr" 2>/dev/null
  openssl x509 -req -in "$out/$name.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial \
    -days 90 -out "$out/$name.crt" \
    -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=%s\n' "$sans" "$usage") 2>/dev/null
  rm -f "$out/$name.csr"
}
# localhost and 127.0.0.1 too: `kubectl port-forward` reaches a node there.
front_names="DNS:balance.$namespace.svc.cluster.local,DNS:balance.$namespace.svc,DNS:$peers"
certificate tls "balance.$namespace.svc" "$front_names,DNS:localhost,IP:127.0.0.1" serverAuth
certificate cluster-tls "balance-peers.$namespace.svc" "DNS:$peers" serverAuth,clientAuth
echo "development secrets in $out"

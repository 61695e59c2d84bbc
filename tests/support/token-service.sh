#!/usr/bin/env bash
# Starts and stops tests/support/token_service.py: a token service for distribution's token
# auth on 127.0.0.1 over HTTPS, with its own CA, so that tests can run a registry with
#   IDP_REGISTRY_TOKEN_REALM=$IDP_TOKEN_REALM IDP_REGISTRY_TOKEN_SERVICE=$IDP_TOKEN_SERVICE
#   IDP_REGISTRY_TOKEN_ISSUER=$IDP_TOKEN_ISSUER IDP_REGISTRY_TOKEN_ROOTCERTBUNDLE=$IDP_TOKEN_ROOTCERTBUNDLE
#   tests/support/registry.sh start DIR
#
#   tests/support/token-service.sh start STATE_DIR   # writes STATE_DIR/env (source it)
#   tests/support/token-service.sh stop STATE_DIR
#
# STATE_DIR/env exports IDP_TOKEN_REALM (docker's protocol: GET with Basic, POST with a refresh
# token), IDP_TOKEN_REALM_GET_ONLY (Gitea's: POST is 404, GET takes the refresh token as a
# password), IDP_TOKEN_SERVICE, IDP_TOKEN_ISSUER, IDP_TOKEN_ROOTCERTBUNDLE, IDP_TOKEN_CA (the CA
# of the service's HTTPS certificate), IDP_TOKEN_USERNAME, IDP_TOKEN_PASSWORD,
# IDP_TOKEN_REFRESH_TOKEN and IDP_TOKEN_LOG (one JSON line per request, without secrets).
set -euo pipefail

cmd=${1:?usage: token-service.sh start|stop STATE_DIR}
state=${2:?usage: token-service.sh start|stop STATE_DIR}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/support/lib.sh
. "$here/lib.sh"

start() {
  mkdir -p "$state"
  state=$(cd "$state" && pwd)
  "$here/certs.sh" ca "$state" token-ca
  "$here/certs.sh" server "$state" token-tls "$state/token-ca.crt" "$state/token-ca.key"
  "$here/certs.sh" signing "$state" token-signing
  local port password refresh
  port=$(free_port)
  password="tokpw-$(openssl rand -hex 12)"
  refresh="refresh-$(openssl rand -hex 16)"
  : >"$state/requests.log"
  rm -f "$state/ready"
  cat >"$state/config.json" <<JSON
{
  "port": $port,
  "tls_cert": "$state/token-tls.crt",
  "tls_key": "$state/token-tls.key",
  "signing_cert": "$state/token-signing.crt",
  "signing_key": "$state/token-signing.key",
  "issuer": "idp-test-token-service",
  "service": "idp-test-registry",
  "username": "tokenuser",
  "password": "$password",
  "refresh_token": "$refresh",
  "token_ttl": ${IDP_TOKEN_TTL:-300},
  "log": "$state/requests.log",
  "ready": "$state/ready"
}
JSON
  chmod 600 "$state/config.json"
  python3 "$here/token_service.py" "$state/config.json" >"$state/service.log" 2>&1 &
  echo $! >"$state/pid"
  wait_ready "token service" "$(cat "$state/pid")" "$state/service.log" 100 test -f "$state/ready"
  cat >"$state/env" <<ENV
export IDP_TOKEN_REALM=https://127.0.0.1:$port/token
export IDP_TOKEN_REALM_GET_ONLY=https://127.0.0.1:$port/get-only/token
export IDP_TOKEN_SERVICE=idp-test-registry
export IDP_TOKEN_ISSUER=idp-test-token-service
export IDP_TOKEN_ROOTCERTBUNDLE=$state/token-signing.crt
export IDP_TOKEN_CA=$state/token-ca.crt
export IDP_TOKEN_USERNAME=tokenuser
export IDP_TOKEN_PASSWORD=$password
export IDP_TOKEN_REFRESH_TOKEN=$refresh
export IDP_TOKEN_LOG=$state/requests.log
ENV
  echo "token service on 127.0.0.1:$port (state in $state)"
}

stop() { stop_pidfiles "$state/pid"; }

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: token-service.sh start|stop STATE_DIR" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Starts and stops a real CNCF distribution registry for the tests: 127.0.0.1 on a free port,
# TLS with a throwaway CA, htpasswd basic auth.
#
#   tests/support/registry.sh start STATE_DIR   # writes STATE_DIR/env (source it)
#   tests/support/registry.sh stop STATE_DIR
#
# STATE_DIR/env exports IDP_TEST_REGISTRY (host:port), IDP_TEST_CA (CA PEM), IDP_TEST_USERNAME,
# IDP_TEST_PASSWORD, IDP_TEST_WRONG_CA (a CA that did not sign the server certificate) and
# IDP_TEST_STATE.
#
# Optional variables for `start` (all off by default; the env file is the same either way; not
# REGISTRY_*, which docker-registry would read as configuration overrides):
#   IDP_REGISTRY_CLIENT_CA=FILE        require mutual TLS: clients need a certificate signed by FILE
#   IDP_REGISTRY_CERT_EXPIRED=1        serve a certificate (signed by the test CA) that expired in 2020
#   IDP_REGISTRY_TOKEN_REALM=URL       distribution's token auth instead of htpasswd, with
#   IDP_REGISTRY_TOKEN_SERVICE=NAME      the token service's name,
#   IDP_REGISTRY_TOKEN_ISSUER=NAME       the issuer its tokens carry, and
#   IDP_REGISTRY_TOKEN_ROOTCERTBUNDLE=FILE  the certificate(s) of the keys that sign them
set -euo pipefail

cmd=${1:?usage: registry.sh start|stop STATE_DIR}
state=${2:?usage: registry.sh start|stop STATE_DIR}

# shellcheck source=tests/support/lib.sh
. "$(dirname "$0")/lib.sh"

start() {
  mkdir -p "$state/storage"
  state=$(cd "$state" && pwd)
  "$(dirname "$0")/certs.sh" ca "$state" test-ca
  "$(dirname "$0")/certs.sh" ca "$state" wrong-ca
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=127.0.0.1" -keyout "$state/server.key" -out "$state/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:gitea.cnoe.localtest.me\nbasicConstraints=CA:FALSE\n' \
    >"$state/server.ext"
  if [ "${IDP_REGISTRY_CERT_EXPIRED:-}" = 1 ]; then
    # `openssl x509` of OpenSSL 3.0 cannot set dates in the past; `openssl ca` can.
    mkdir -p "$state/ca-db"
    : >"$state/ca-db/index.txt"
    cat >"$state/ca-db/ca.cnf" <<CNF
[ca]
default_ca = test
[test]
database = $state/ca-db/index.txt
new_certs_dir = $state/ca-db
serial = $state/ca-db/serial
default_md = sha256
policy = any
copy_extensions = none
[any]
commonName = supplied
CNF
    openssl rand -hex 8 >"$state/ca-db/serial"
    openssl ca -batch -notext -config "$state/ca-db/ca.cnf" -in "$state/server.csr" \
      -cert "$state/test-ca.crt" -keyfile "$state/test-ca.key" \
      -startdate 20200101000000Z -enddate 20200102000000Z \
      -extfile "$state/server.ext" -out "$state/server.crt" 2>/dev/null
  else
    openssl x509 -req -in "$state/server.csr" -CA "$state/test-ca.crt" -CAkey "$state/test-ca.key" \
      -CAcreateserial -days 3 -extfile "$state/server.ext" -out "$state/server.crt" 2>/dev/null
  fi

  local user=testuser password
  password="pw-$(openssl rand -hex 12)"
  htpasswd -Bbn "$user" "$password" >"$state/htpasswd"

  local client_cas="" auth
  if [ -n "${IDP_REGISTRY_CLIENT_CA:-}" ]; then
    client_cas=$'\n    clientcas:\n      - '"$IDP_REGISTRY_CLIENT_CA"
  fi
  if [ -n "${IDP_REGISTRY_TOKEN_REALM:-}" ]; then
    auth="  token:
    realm: $IDP_REGISTRY_TOKEN_REALM
    service: ${IDP_REGISTRY_TOKEN_SERVICE:?IDP_REGISTRY_TOKEN_SERVICE is needed with IDP_REGISTRY_TOKEN_REALM}
    issuer: ${IDP_REGISTRY_TOKEN_ISSUER:?IDP_REGISTRY_TOKEN_ISSUER is needed with IDP_REGISTRY_TOKEN_REALM}
    rootcertbundle: ${IDP_REGISTRY_TOKEN_ROOTCERTBUNDLE:?IDP_REGISTRY_TOKEN_ROOTCERTBUNDLE is needed with IDP_REGISTRY_TOKEN_REALM}"
  else
    auth="  htpasswd:
    realm: idp-push-test
    path: $state/htpasswd"
  fi

  local port debug_port
  port=$(free_port)
  debug_port=$(free_port)
  cat >"$state/config.yml" <<YAML
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $state/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  tls:
    certificate: $state/server.crt
    key: $state/server.key${client_cas}
  debug:
    addr: 127.0.0.1:$debug_port
auth:
${auth}
YAML
  docker-registry serve "$state/config.yml" >"$state/registry.log" 2>&1 &
  echo $! >"$state/pid"
  if [ -n "${IDP_REGISTRY_CLIENT_CA:-}${IDP_REGISTRY_CERT_EXPIRED:-}" ]; then
    # curl cannot finish these handshakes: wait for the port instead.
    ready() { python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$port" 2>/dev/null; }
  else
    ready() { curl -s -o /dev/null --cacert "$state/test-ca.crt" "https://127.0.0.1:$port/v2/"; }
  fi
  wait_ready registry "$(cat "$state/pid")" "$state/registry.log" 100 ready
  cat >"$state/env" <<ENV
export IDP_TEST_STATE=$state
export IDP_TEST_REGISTRY=127.0.0.1:$port
export IDP_TEST_CA=$state/test-ca.crt
export IDP_TEST_WRONG_CA=$state/wrong-ca.crt
export IDP_TEST_USERNAME=$user
export IDP_TEST_PASSWORD=$password
ENV
  echo "registry on 127.0.0.1:$port (state in $state)"
}

stop() { stop_pidfiles "$state/pid"; }

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: registry.sh start|stop STATE_DIR" >&2; exit 2 ;;
esac

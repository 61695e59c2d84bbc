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
set -euo pipefail

cmd=${1:?usage: registry.sh start|stop STATE_DIR}
state=${2:?usage: registry.sh start|stop STATE_DIR}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

make_ca() { # DIR NAME
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3 \
    -subj "/CN=$2" -keyout "$1/$2.key" -out "$1/$2.crt" 2>/dev/null
}

start() {
  mkdir -p "$state/storage"
  state=$(cd "$state" && pwd)
  make_ca "$state" test-ca
  make_ca "$state" wrong-ca
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=127.0.0.1" -keyout "$state/server.key" -out "$state/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:gitea.cnoe.localtest.me\nbasicConstraints=CA:FALSE\n' \
    >"$state/server.ext"
  openssl x509 -req -in "$state/server.csr" -CA "$state/test-ca.crt" -CAkey "$state/test-ca.key" \
    -CAcreateserial -days 3 -extfile "$state/server.ext" -out "$state/server.crt" 2>/dev/null

  local user=testuser password
  password="pw-$(openssl rand -hex 12)"
  htpasswd -Bbn "$user" "$password" >"$state/htpasswd"

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
    key: $state/server.key
  debug:
    addr: 127.0.0.1:$debug_port
auth:
  htpasswd:
    realm: idp-push-test
    path: $state/htpasswd
YAML
  docker-registry serve "$state/config.yml" >"$state/registry.log" 2>&1 &
  echo $! >"$state/pid"
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null --cacert "$state/test-ca.crt" "https://127.0.0.1:$port/v2/"; then
      break
    fi
    if ! kill -0 "$(cat "$state/pid")" 2>/dev/null; then
      echo "registry exited; log:" >&2; cat "$state/registry.log" >&2; exit 1
    fi
    sleep 0.1
  done
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

stop() {
  if [ -f "$state/pid" ]; then
    kill "$(cat "$state/pid")" 2>/dev/null || true
    rm -f "$state/pid"
  fi
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: registry.sh start|stop STATE_DIR" >&2; exit 2 ;;
esac

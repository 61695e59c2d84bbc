#!/usr/bin/env bash
# An nginx reverse proxy in front of the test registry, standing in for ingress-nginx: TLS with
# the registry's certificate, and a request body limit (`client_max_body_size`).
#
#   tests/support/proxy.sh start STATE_DIR REGISTRY_STATE_DIR MAX_BODY   # e.g. 16m
#   tests/support/proxy.sh stop STATE_DIR
#
# Writes STATE_DIR/env exporting IDP_TEST_PROXY (127.0.0.1:port, the body-limited front), and
# IDP_TEST_PROXY_429 / IDP_TEST_PROXY_503: fronts rate-limited to 4 requests a second (bursts of 4) that
# answer excess requests with 429 + Retry-After: 1, or with 503.
set -euo pipefail
cmd=${1:?usage: proxy.sh start|stop STATE_DIR [REGISTRY_STATE_DIR MAX_BODY]}
state=${2:?usage}

# shellcheck source=tests/support/lib.sh
. "$(dirname "$0")/lib.sh"

# limited_front PORT STATUS EXTRA: a server on PORT that passes requests to the registry but
# answers STATUS to those over its zone's rate (4/s, burst 4), logging each status; EXTRA is
# added to the server block.
limited_front() {
  local port=$1 status=$2 extra=$3
  cat <<CONF
  server {
    listen 127.0.0.1:$port ssl;
    ssl_certificate $registry_state/server.crt;
    ssl_certificate_key $registry_state/server.key;
    client_max_body_size 0;
    limit_req zone=slow$status burst=4 nodelay;
    limit_req_status $status;
    access_log $state/status-$status.log status_only;
    $extra
    location / {
      proxy_pass https://$IDP_TEST_REGISTRY;
      proxy_ssl_verify off;
      proxy_http_version 1.1;
      proxy_request_buffering off;
      proxy_set_header Host \$http_host;
    }
  }
CONF
}

start() {
  local registry_state=${3:?registry state dir} max_body=${4:?max body size, e.g. 16m}
  mkdir -p "$state"
  state=$(cd "$state" && pwd)
  # shellcheck disable=SC1091
  . "$registry_state/env"
  local port port429 port503
  port=$(free_port); port429=$(free_port); port503=$(free_port)
  {
    nginx_conf_head "$state" "$state/tmp"
    cat <<CONF
  # Connections to the registry are kept alive, as ingress-nginx does by default
  # (upstream-keepalive-connections).
  upstream registry {
    server $IDP_TEST_REGISTRY;
    keepalive 16;
  }
  # Rate-limited fronts, for retry tests: excess requests get 429 with Retry-After, or 503.
  limit_req_zone \$binary_remote_addr zone=slow429:1m rate=4r/s;
  limit_req_zone \$binary_remote_addr zone=slow503:1m rate=4r/s;
  # One status per line, so that a test can tell its retries were really refused first.
  log_format status_only '\$status';
CONF
    # 429 answers say when to retry (Retry-After), as registries behind rate limits do.
    limited_front "$port429" 429 'error_page 429 = @too_many;
    location @too_many { add_header Retry-After 1 always; return 429; }'
    limited_front "$port503" 503 ''
    cat <<CONF
  server {
    listen 127.0.0.1:$port ssl;
    ssl_certificate $registry_state/server.crt;
    ssl_certificate_key $registry_state/server.key;
    # As ingress-nginx sets it for Gitea (proxy-body-size), but small.
    client_max_body_size $max_body;
    location / {
      proxy_pass https://registry;
      proxy_ssl_verify off;
      proxy_ssl_session_reuse on;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-Proto https;
      proxy_read_timeout 300s;
      proxy_send_timeout 300s;
    }
  }
}
CONF
  } >"$state/nginx.conf"
  nginx -c "$state/nginx.conf" -e "$state/nginx-error.log" >"$state/nginx.out" 2>&1 &
  echo $! >"$state/pid"
  wait_ready nginx "$(cat "$state/pid")" "$state/nginx-error.log" 50 \
    curl -s -o /dev/null --cacert "$IDP_TEST_CA" "https://127.0.0.1:$port/v2/"
  cat >"$state/env" <<ENV
export IDP_TEST_PROXY=127.0.0.1:$port
export IDP_TEST_PROXY_429=127.0.0.1:$port429
export IDP_TEST_PROXY_429_LOG=$state/status-429.log
export IDP_TEST_PROXY_503=127.0.0.1:$port503
export IDP_TEST_PROXY_503_LOG=$state/status-503.log
ENV
  echo "proxy on 127.0.0.1:$port -> $IDP_TEST_REGISTRY (max body $max_body)"
}

stop() { stop_pidfiles "$state/pid"; }

case "$cmd" in
  start) start "$@" ;;
  stop) stop ;;
  *) echo "usage: proxy.sh start|stop STATE_DIR" >&2; exit 2 ;;
esac

# Shared by the support scripts (sourced, not run): ports and waiting for servers to come up.

# A TCP port free on 127.0.0.1 right now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_ready WHAT PID LOG TRIES CHECK...: runs CHECK every 0.1 s until it succeeds. Fails, with
# the end of LOG, when process PID exits first or after TRIES tries: a server that does not
# come up must stop the run, not leave tests to fail against nothing.
wait_ready() {
  local what=$1 pid=$2 log=$3 tries=$4
  shift 4
  for _ in $(seq 1 "$tries"); do
    "$@" && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$what exited before it was ready; its log:" >&2
      tail -n 20 "$log" >&2 || true
      return 1
    fi
    sleep 0.1
  done
  echo "$what was not ready after $tries tries; its log:" >&2
  tail -n 20 "$log" >&2 || true
  return 1
}

# stop_pidfiles FILE...: kills the process each pid file names (if any) and removes the file.
stop_pidfiles() {
  local f
  for f in "$@"; do
    [ -f "$f" ] && { kill "$(cat "$f")" 2>/dev/null || true; }
    rm -f "$f"
  done
  return 0
}

# nginx_conf_head STATE TMP: the start of an nginx.conf for a server run in the foreground from
# STATE (pid file and error log there, request bodies under TMP), up to and including the
# opening "http {" and its temp paths; the caller writes the servers and the closing brace.
nginx_conf_head() {
  local state=$1 tmp=$2
  mkdir -p "$tmp"
  # Run as root, nginx's workers would drop to "nobody", which cannot write request bodies into
  # a state directory that only root may enter.
  [ "$(id -u)" -eq 0 ] && echo "user root;"
  cat <<CONF
daemon off;
worker_processes 1;
pid $state/nginx.pid;
error_log $state/nginx-error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $tmp/body;
  proxy_temp_path $tmp/proxy;
  fastcgi_temp_path $tmp/fastcgi;
  uwsgi_temp_path $tmp/uwsgi;
  scgi_temp_path $tmp/scgi;
CONF
}

# start_registry STATE: a TLS registry with htpasswd, and nginx fronts for it (16m body limit,
# 429, 503), in STATE; exports their IDP_TEST_* settings. stop_test_services STATE stops them
# and removes STATE.
start_registry() {
  local state=$1 support
  support=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  "$support/registry.sh" start "$state/registry"
  "$support/proxy.sh" start "$state/proxy" "$state/registry" 16m
  # shellcheck disable=SC1091
  . "$state/registry/env"
  # shellcheck disable=SC1091
  . "$state/proxy/env"
}

# start_test_services STATE: what the integration tests run against: start_registry, and the
# fixtures made by umoci, skopeo and buildah.
start_test_services() {
  local state=$1 support
  support=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  "$support/fixtures.sh" "$state/fixtures" >/dev/null
  start_registry "$state"
  export IDP_TEST_FIXTURES=$state/fixtures
  # The blob record (mounts) of the tests stays in the test state, not in the user's cache.
  export IDP_PUSH_CACHE_DIR=$state/cache
}

stop_test_services() {
  local state=$1 support
  support=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  "$support/proxy.sh" stop "$state/proxy" || true
  "$support/registry.sh" stop "$state/registry" || true
  rm -rf "$state"
}

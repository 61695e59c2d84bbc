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

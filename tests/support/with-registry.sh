#!/usr/bin/env bash
# Runs a command in the environment the integration tests need, set up as scripts/test.sh does
# (fixtures by umoci, a TLS registry with htpasswd, nginx fronts), and tears it down afterwards,
# whatever happens. For the long reliability runs (`make soak`) and for running one test file.
#
#   tests/support/with-registry.sh COMMAND [ARG...]
#   e.g. tests/support/with-registry.sh env IDP_SOAK_PUSHES=50 cargo test --test reliability_faults
#
# Exports IDP_TEST_* (see registry.sh and proxy.sh), IDP_TEST_FIXTURES, IDP_PUSH_CACHE_DIR and,
# unless set, IDP_RELIABILITY_LOG=$PWD/target/reliability-figures.txt (where the reliability
# tests append their figures).
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: with-registry.sh COMMAND [ARG...]" >&2; exit 2; }
top=$(cd "$(dirname "$0")/../.." && pwd)
support=$top/tests/support

state=$(mktemp -d /tmp/idp-push-rel.XXXXXX)
cleanup() {
  "$support/proxy.sh" stop "$state/proxy" || true
  "$support/registry.sh" stop "$state/registry" || true
  rm -rf "$state"
}
trap cleanup EXIT

"$support/fixtures.sh" "$state/fixtures" >/dev/null
"$support/registry.sh" start "$state/registry" >/dev/null
"$support/proxy.sh" start "$state/proxy" "$state/registry" 16m >/dev/null
# shellcheck disable=SC1091
. "$state/registry/env"
# shellcheck disable=SC1091
. "$state/proxy/env"
export IDP_TEST_FIXTURES=$state/fixtures
export IDP_PUSH_CACHE_DIR=$state/cache
mkdir -p "$top/target"
export IDP_RELIABILITY_LOG=${IDP_RELIABILITY_LOG:-$top/target/reliability-figures.txt}
"$@"

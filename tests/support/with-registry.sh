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

# shellcheck source=tests/support/lib.sh
. "$support/lib.sh"
state=$(mktemp -d /tmp/idp-push-rel.XXXXXX)
cleanup() { stop_test_services "$state"; }
trap cleanup EXIT
start_test_services "$state" >/dev/null
mkdir -p "$top/target"
export IDP_RELIABILITY_LOG=${IDP_RELIABILITY_LOG:-$top/target/reliability-figures.txt}
"$@"

#!/usr/bin/env bash
# Everything `make test` runs, in order: static checks, unit tests, then the integration tests
# (Rust, C under valgrind, Go) against a real distribution registry started here on 127.0.0.1
# and stopped on exit, whatever happens.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
: "${NATIVE_LIBS:?set by the Makefile}"

step() { printf '\n==> %s\n' "$*"; }

# Everything this script and its tests print also goes to a log, which is searched at the end
# for the test registry's password: no output of any test may contain it.
output_log=$(mktemp /tmp/idp-push-test-output.XXXXXX)
exec > >(tee "$output_log") 2>&1

step "header is up to date"
make --no-print-directory header-check

step "cargo fmt and clippy"
cargo fmt --all -- --check
cargo clippy --quiet --all-targets -- -D warnings

# shellcheck source=tests/support/lib.sh
. tests/support/lib.sh
state=$(mktemp -d /tmp/idp-push-test.XXXXXX)
cleanup() { stop_test_services "$state"; }
trap cleanup EXIT

step "fixtures (umoci, skopeo, buildah), a registry (TLS, htpasswd) and nginx in front of it (16m body limit)"
start_test_services "$state"

step "Rust unit and integration tests"
cargo test --quiet

step "C harness under valgrind"
tests/c/run.sh

step "Go: gofmt, go vet, go test -race (unit, then integration with real Buildah)"
make --no-print-directory go-test

step "no output above contains the test registry's password"
password=$IDP_TEST_PASSWORD
if grep -qF -- "$password" "$output_log"; then
  echo "the test password appears in the test output:" >&2
  grep -nF -- "$password" "$output_log" | head -5 | sed "s/$password/<the password>/g" >&2
  exit 1
fi
echo "ok: not found in $(wc -l <"$output_log") lines"
rm -f "$output_log" # kept only when a check fails

# Gitea end to end has its own Gitea and nginx; the registry above is no longer needed.
cleanup
trap - EXIT
step "Gitea end to end (make e2e)"
if [ "${IDP_SKIP_E2E:-}" = 1 ]; then
  echo "skipped: IDP_SKIP_E2E=1"
else
  scripts/e2e.sh
fi

#!/usr/bin/env bash
# Everything `make test` runs, in order: static checks, unit tests, then the integration tests
# (Rust, C under valgrind, Go) against a real distribution registry started here on 127.0.0.1
# and stopped on exit, whatever happens.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
: "${NATIVE_LIBS:?set by the Makefile}"

step() { printf '\n==> %s\n' "$*"; }

step "header is up to date"
make --no-print-directory header-check

step "cargo fmt and clippy"
cargo fmt --all -- --check
cargo clippy --quiet --all-targets -- -D warnings

state=$(mktemp -d /tmp/idp-push-test.XXXXXX)
cleanup() {
  tests/support/registry.sh stop "$state" || true
  rm -rf "$state"
}
trap cleanup EXIT

step "fixtures (umoci) and a registry (TLS, htpasswd)"
tests/support/fixtures.sh "$state/fixtures" >/dev/null
tests/support/registry.sh start "$state/registry"
# shellcheck disable=SC1091
. "$state/registry/env"
export IDP_TEST_FIXTURES=$state/fixtures

step "Rust unit and integration tests"
cargo test --quiet

step "C harness under valgrind"
tests/c/run.sh

if [ -f bindings/go/go.mod ]; then
  step "Go: gofmt, go vet, go test -race (unit and integration)"
  make --no-print-directory go-test
fi

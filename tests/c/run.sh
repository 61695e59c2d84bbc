#!/usr/bin/env bash
# Builds the C harness against the static library and runs it under valgrind (zero errors,
# zero definite/indirect leaks), then checks with skopeo what it pushed.
# Needs the registry env from tests/support/registry.sh and IDP_TEST_FIXTURES.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$top/target/c-harness
mkdir -p "$out"
: "${NATIVE_LIBS:?NATIVE_LIBS (from rustc --print native-static-libs) must be set}"

cc -std=c11 -Wall -Wextra -Werror -g -O1 -I"$top/include" "$top/tests/c/harness.c" \
  "$top/target/release/libidp_push.a" $NATIVE_LIBS -o "$out/harness"

export IDP_TEST_LAYOUT=$IDP_TEST_FIXTURES/layout
export IDP_TEST_EXPECTED_DIGEST
IDP_TEST_EXPECTED_DIGEST=$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"]=="v1") | .digest' "$IDP_TEST_LAYOUT/index.json")
export IDP_TEST_EXPECTED_VERSION
IDP_TEST_EXPECTED_VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$top/Cargo.toml" | head -1)

valgrind --quiet --error-exitcode=3 --suppressions="$top/tests/c/valgrind.supp" --leak-check=full --show-leak-kinds=definite,indirect \
  --errors-for-leak-kinds=definite,indirect --log-file="$out/valgrind.log" \
  "$out/harness" | tee "$out/harness.out"
if [ -s "$out/valgrind.log" ]; then
  echo "valgrind reported:" >&2; cat "$out/valgrind.log" >&2; exit 1
fi

certs=$(mktemp -d); trap 'rm -rf "$certs"' EXIT
cp "$IDP_TEST_CA" "$certs/ca.crt"
creds="$IDP_TEST_USERNAME:$IDP_TEST_PASSWORD"
while read -r word ref; do
  case "$word" in
    PUSHED)
      name=${ref%@*}; want=${ref##*@}
      got=$(skopeo inspect --raw --cert-dir "$certs" --creds "$creds" "docker://$name" | sha256sum | cut -d' ' -f1)
      [ "sha256:$got" = "$want" ] || { echo "skopeo sees sha256:$got for $name, harness pushed $want" >&2; exit 1; }
      echo "skopeo: $name has $want" ;;
    ABSENT)
      if skopeo inspect --raw --retry-times 0 --cert-dir "$certs" --creds "$creds" "docker://$ref" >/dev/null 2>&1; then
        echo "$ref exists but the push was cancelled" >&2; exit 1
      fi
      echo "skopeo: $ref absent, as it should be" ;;
  esac
done <"$out/harness.out"

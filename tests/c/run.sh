#!/usr/bin/env bash
# Builds the C harness against the static library and runs it under valgrind (zero errors,
# zero definite/indirect leaks) and, built again with ASan and UBSan, natively; then checks with
# skopeo what both pushed, and runs the example program bin/push-c as a user would.
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

# The same harness built with AddressSanitizer and UndefinedBehaviorSanitizer, against the debug
# library with the test-hooks feature (a forced panic must come back as IDP_STATUS_PANIC).
cargo build --quiet --features test-hooks
cc -std=c11 -Wall -Wextra -Werror -g -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
  -fno-sanitize-recover=undefined -DIDP_TEST_HOOKS -I"$top/include" "$top/tests/c/harness.c" \
  "$top/target/debug/libidp_push.a" $NATIVE_LIBS -o "$out/harness-asan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  "$out/harness-asan" | tee "$out/harness-asan.out"

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
      # Absent means the registry says so, not that skopeo failed for another reason.
      if seen=$(skopeo inspect --raw --retry-times 0 --cert-dir "$certs" --creds "$creds" "docker://$ref" 2>&1); then
        echo "$ref exists but the push was cancelled" >&2; exit 1
      fi
      case $seen in *"manifest unknown"* | *"name unknown"*) ;; *) echo "skopeo cannot tell whether $ref exists: $seen" >&2; exit 1 ;; esac
      echo "skopeo: $ref absent, as it should be" ;;
  esac
done < <(cat "$out/harness.out" "$out/harness-asan.out")

# The example program, as a user runs it: bin/push-c with env settings.
dest="$IDP_TEST_REGISTRY/push-c-$$/app:v1"
out=$(IDP_USERNAME=$IDP_TEST_USERNAME IDP_PASSWORD=$IDP_TEST_PASSWORD IDP_CA_FILE=$IDP_TEST_CA \
  "$top/bin/push-c" "oci:$IDP_TEST_LAYOUT:v1" "$dest" 2>/dev/null)
[ "$out" = "$dest@$IDP_TEST_EXPECTED_DIGEST" ] || { echo "push-c printed '$out'" >&2; exit 1; }
got=$(skopeo inspect --raw --cert-dir "$certs" --creds "$creds" "docker://$dest" | sha256sum | cut -d' ' -f1)
[ "sha256:$got" = "$IDP_TEST_EXPECTED_DIGEST" ] || { echo "skopeo sees sha256:$got for $dest" >&2; exit 1; }
echo "push-c: $out, and skopeo agrees"

secret="push-c-wrong-$RANDOM-password"
set +e
err=$(IDP_USERNAME=$IDP_TEST_USERNAME IDP_PASSWORD=$secret IDP_CA_FILE=$IDP_TEST_CA \
  "$top/bin/push-c" "oci:$IDP_TEST_LAYOUT:v1" "$IDP_TEST_REGISTRY/push-c-$$/wrong:v1" 2>&1 >/dev/null)
rc=$?
set -e
# The leak check first: the other messages print what push-c said.
case $err in *"$secret"*) echo "push-c leaked the password" >&2; exit 1 ;; esac
[ $rc -eq 1 ] || { echo "push-c with a wrong password exited $rc" >&2; exit 1; }
[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || { echo "push-c printed more than one line: $err" >&2; exit 1; }
case $err in *unauthorized*) ;; *) echo "push-c: no 'unauthorized' in: $err" >&2; exit 1 ;; esac
echo "push-c: wrong password -> exit 1, one line: $err"

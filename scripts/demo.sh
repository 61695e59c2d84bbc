#!/usr/bin/env bash
# The main job, end to end on this machine: make a small image with umoci, start a registry
# (TLS with a throwaway CA, basic auth) on 127.0.0.1, push the image with bin/push-c, and show
# what skopeo sees in the registry. Stops the registry when done.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
state=$(mktemp -d /tmp/idp-push-demo.XXXXXX)
trap 'tests/support/registry.sh stop "$state/registry"; rm -rf "$state"' EXIT

tests/support/fixtures.sh "$state/images" >/dev/null
tests/support/registry.sh start "$state/registry" >/dev/null
# shellcheck disable=SC1091
. "$state/registry/env"

echo "pushing oci:$state/images/layout:v1 to $IDP_TEST_REGISTRY/giteaadmin/demo:v1" >&2
ref=$(IDP_USERNAME=$IDP_TEST_USERNAME IDP_PASSWORD=$IDP_TEST_PASSWORD IDP_CA_FILE=$IDP_TEST_CA \
  bin/push-c "oci:$state/images/layout:v1" "$IDP_TEST_REGISTRY/giteaadmin/demo:v1")
mkdir -p "$state/certs" && cp "$IDP_TEST_CA" "$state/certs/ca.crt"
seen=$(skopeo inspect --raw --cert-dir "$state/certs" \
  --creds "$IDP_TEST_USERNAME:$IDP_TEST_PASSWORD" "docker://$IDP_TEST_REGISTRY/giteaadmin/demo:v1" \
  | sha256sum | cut -d' ' -f1)
echo "skopeo sees sha256:$seen in the registry" >&2
echo "$ref"

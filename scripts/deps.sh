#!/usr/bin/env bash
# Installs what the build, the tests and the demo need, when it is missing:
# Debian packages (registry, skopeo, umoci, buildah, valgrind...) and the pinned cbindgen.
set -euo pipefail
CBINDGEN_VERSION=${CBINDGEN_VERSION:?}

# command -> Debian package
declare -A packages=(
  [docker-registry]=docker-registry [skopeo]=skopeo [umoci]=umoci [buildah]=buildah
  [busybox]=busybox-static [htpasswd]=apache2-utils [jq]=jq [valgrind]=valgrind
  [openssl]=openssl [curl]=curl [cc]=gcc [nginx]=nginx-light [python3]=python3
)
missing=()
for cmd in "${!packages[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${packages[$cmd]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! cbindgen --version 2>/dev/null | grep -qx "cbindgen $CBINDGEN_VERSION"; then
  echo "installing cbindgen $CBINDGEN_VERSION"
  cargo install --quiet --locked cbindgen --version "$CBINDGEN_VERSION"
fi

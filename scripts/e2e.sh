#!/usr/bin/env bash
# `make e2e`: IDPBuilder's registry end to end. A real Gitea (built once from its Go module and
# cached) behind nginx standing in for ingress-nginx (TLS for gitea.cnoe.localtest.me, a 64m
# body limit), admin giteaAdmin. Hostile archives must each fail with one line and leave no tag.
# Then `bin/idpbuilder push` sends a layout, a layout with a layer larger than the body limit (so
# it must go in chunks), oci-archives, docker-archives (classic from skopeo and Buildah, and the
# docker 25 form), a multi-arch index (whole, and one platform) and an image built with Buildah,
# all to the default owner (giteaadmin) through Gitea's token flow; skopeo pulls each back and
# compares digests.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

step() { printf '\n==> %s\n' "$*"; }
output_log=$(mktemp /tmp/idp-push-e2e-output.XXXXXX)
exec > >(tee "$output_log") 2>&1
fail() { echo "e2e: $*" >&2; exit 1; }

started=$(date +%s)
step "Gitea (cached build; a first build takes about 10 minutes)"
tests/support/gitea.sh build
state=$(mktemp -d /tmp/idp-push-e2e.XXXXXX)
cleanup() {
  tests/support/gitea.sh stop "$state/gitea" || true
  buildah --storage-driver vfs rmi -f localhost/e2e-app:1 localhost/busybox-base:latest >/dev/null 2>&1 || true
  rm -rf "$state"
}
trap cleanup EXIT
tests/support/gitea.sh start "$state/gitea"
# shellcheck disable=SC1091
. "$state/gitea/env"
mkdir -p "$state/certs" "$state/pulled"
cp "$IDP_GITEA_CA" "$state/certs/ca.crt"

fx=$state/fx
step "fixtures: umoci layouts, skopeo/tar archives, a 100 MiB layer, a Buildah image"
tests/support/fixtures.sh "$state/fx" >/dev/null
bench/make_layout.py "$state/fx/large" 1 $((100 * 1024 * 1024))
# Buildah (vfs storage, as the push command uses it): a busybox base made from local files,
# since nothing can be pulled. Both images are removed again on exit.
b=(buildah --storage-driver vfs)
mkdir -p "$state/base/bin" "$state/app"
cp "$(command -v busybox)" "$state/base/bin/busybox"
ln -s busybox "$state/base/bin/sh"
ctr=$("${b[@]}" from scratch)
"${b[@]}" add "$ctr" "$state/base" / >/dev/null
"${b[@]}" config --cmd '["/bin/sh"]' "$ctr"
"${b[@]}" commit -q "$ctr" localhost/busybox-base:latest >/dev/null
"${b[@]}" rm "$ctr" >/dev/null
cat >"$state/app/Dockerfile" <<'EOF'
FROM localhost/busybox-base:latest
RUN echo "built by buildah for idp-push e2e" > /hello && /bin/busybox ls /hello
CMD ["/bin/busybox", "cat", "/hello"]
EOF

# push NAME ARGS... : pushes with the default owner through Gitea's token flow and checks the
# printed digest against what skopeo reads back from Gitea.
push() {
  local what=$1 out ref digest seen where=(--registry "$IDP_GITEA_REGISTRY")
  shift
  case " $* " in *" --dest "*) where=() ;; esac
  out=$(printf '%s' "$IDP_GITEA_PASSWORD" | bin/idpbuilder push "$@" "${where[@]}" \
    -u giteaAdmin --password-stdin --ca-file "$IDP_GITEA_CA" --quiet) || fail "$what: push failed"
  ref=$(printf '%s\n' "$out" | tail -n 1)
  case $ref in "$IDP_GITEA_REGISTRY/giteaadmin/"*@sha256:*) ;; *) fail "$what: printed '$ref'" ;; esac
  digest=${ref##*@}
  seen=$(skopeo inspect --raw --cert-dir "$state/certs" --creds "giteaAdmin:$IDP_GITEA_PASSWORD" \
    "docker://${ref%@*}" | sha256sum | cut -d' ' -f1)
  [ "sha256:$seen" = "$digest" ] || fail "$what: skopeo sees sha256:$seen, we pushed $digest"
  # And the content itself comes back whole.
  mkdir -p "$state/pulled/$what"
  skopeo copy -q --src-cert-dir "$state/certs" --src-creds "giteaAdmin:$IDP_GITEA_PASSWORD" \
    "docker://${ref%@*}" "oci:$state/pulled/$what/layout:x" >/dev/null || fail "$what: skopeo cannot pull it back"
  echo "ok  $what: $ref"
}

# First, while Gitea holds no blob yet: a corrupted blob that the registry already holds intact
# is skipped (HEAD says it is there), as docker and skopeo skip it, and the push succeeds.
step "hostile archives fail with one line and tag nothing"
for tar in "$fx"/archives/hostile/*; do
  name=$(basename "$tar"); name=hostile-${name%%.*}
  set +e
  err=$(printf '%s' "$IDP_GITEA_PASSWORD" | bin/idpbuilder push "$tar" --dest "$IDP_GITEA_REGISTRY/giteaadmin/$name:v1" \
    -u giteaAdmin --password-stdin --ca-file "$IDP_GITEA_CA" --quiet 2>&1 >/dev/null)
  rc=$?
  set -e
  [ $rc -eq 1 ] || fail "$name: exited $rc"
  [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "$name: printed more than one line: $err"
  if seen=$(skopeo inspect --raw --retry-times 0 --cert-dir "$state/certs" --creds "giteaAdmin:$IDP_GITEA_PASSWORD" \
    "docker://$IDP_GITEA_REGISTRY/giteaadmin/$name:v1" 2>&1); then
    fail "$name: the tag exists after a failed push"
  fi
  # Absent because Gitea says so, not because skopeo failed for another reason.
  case $seen in *"manifest unknown"* | *"name unknown"*) ;; *) fail "$name: skopeo cannot tell: $seen" ;; esac
  echo "ok  $name: $err"
done

step "pushes to Gitea"
push layout "oci:$fx/layout:v1"
push large-layer-in-chunks "oci:$fx/large:v1"
push oci-archive "oci-archive:$fx/archives/oci-skopeo.tar:v1"
push docker-archive "docker-archive:$fx/archives/docker-skopeo.tar:app:v1"
push docker-archive-oci-form "docker-archive:$fx/archives/docker-oci.tar"
push docker-archive-buildah "docker-archive:$fx/archives/docker-buildah.tar:bimg:v1"
push oci-archive-detected "$fx/archives/oci-tar.tar"
push multi-arch-index "oci:$fx/archives/multi:multi"
push one-platform "oci:$fx/archives/multi:multi" --platform linux/arm64 \
  --dest "$IDP_GITEA_REGISTRY/giteaadmin/multi-arm64:v1"
STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot \
  push buildah-built --build -f "$state/app/Dockerfile" --context "$state/app" localhost/e2e-app:1

step "a wrong password fails with one line and no secret"
set +e
err=$(printf 'wrong-e2e-password' | bin/idpbuilder push "oci:$fx/layout:v1" --registry "$IDP_GITEA_REGISTRY" \
  -u giteaAdmin --password-stdin --ca-file "$IDP_GITEA_CA" --quiet 2>&1 >/dev/null)
rc=$?
set -e
[ $rc -eq 1 ] || fail "wrong password exited $rc"
[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "wrong password printed: $err"
case $err in *wrong-e2e-password*) fail "the password leaked" ;; esac
echo "ok  wrong password: $err"

if grep -qF -- "$IDP_GITEA_PASSWORD" "$output_log"; then
  fail "Gitea's password appears in the output"
fi
echo "e2e passed in $(($(date +%s) - started)) s; Gitea's password appears in none of its output"
rm -f "$output_log"

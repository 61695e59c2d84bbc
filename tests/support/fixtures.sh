#!/usr/bin/env bash
# Makes test images with other tools (umoci), so our reader is checked against real layouts.
#
#   tests/support/fixtures.sh OUT_DIR
#
# OUT_DIR/layout        OCI layout, image tagged "v1": three layers (busybox, a 3 MB random
#                       file, a small text file) plus config, made by umoci.
# OUT_DIR/two-tags      OCI layout holding two images, tagged "a" and "b".
# OUT_DIR/big           OCI layout, tag "v1": a 40 MB incompressible layer and a small one
#                       (for chunked uploads behind a body-limited proxy, and resumes).
set -euo pipefail
out=${1:?usage: fixtures.sh OUT_DIR}
rm -rf "$out"
mkdir -p "$out/src"
cd "$out"

mkdir -p src/l1/bin src/l2/data src/l3/etc src/l4/data
cp "$(command -v busybox)" src/l1/bin/busybox
head -c 3000000 /dev/urandom >src/l2/data/random.bin
echo "hello from idp-push tests" >src/l3/etc/hello

umoci init --layout layout
umoci new --image layout:v1
umoci insert --image layout:v1 src/l1/bin /bin
umoci insert --image layout:v1 src/l2/data /data
umoci insert --image layout:v1 src/l3/etc /etc
umoci config --image layout:v1 --config.cmd /bin/busybox --config.cmd sh
umoci gc --layout layout

umoci init --layout two-tags
umoci new --image two-tags:a
umoci insert --image two-tags:a src/l3/etc /etc
umoci new --image two-tags:b
umoci insert --image two-tags:b src/l1/bin /bin
umoci gc --layout two-tags
head -c 40000000 /dev/urandom >src/l4/data/big.bin
umoci init --layout big
umoci new --image big:v1
umoci insert --image big:v1 src/l4/data /data
umoci insert --image big:v1 src/l3/etc /etc
umoci gc --layout big
rm -rf src
( case $0 in /*) s=$0 ;; *) s=$OLDPWD/$0 ;; esac; "$(dirname "$s")/archives.sh" "$PWD" )

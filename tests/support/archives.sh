#!/usr/bin/env bash
# Makes image archives with other tools (skopeo, umoci, tar, buildah) and hostile ones with
# Python's tarfile, for tests/sources_*.rs. Called by fixtures.sh once its layouts exist.
#
#   tests/support/archives.sh FIXTURES_DIR      # writes FIXTURES_DIR/archives/
#
# archives/oci-skopeo.tar     skopeo copy oci:layout:v1 oci-archive:…:v1
# archives/oci-tar.tar        tar -C layout -cf … .   (entries named ./…)
# archives/docker-skopeo.tar  skopeo copy oci:layout:v1 docker-archive:…:app:v1 (classic form:
#                             manifest.json, <id>.json config, <sha>.tar layers, symlinks)
# archives/docker-buildah.tar buildah push … docker-archive:…:bimg:v1
# archives/docker-two.tar     classic, two images: app:v1 and other:b (two-tags:b)
# archives/docker-oci.tar     the docker 25+ form: manifest.json + an OCI layout (oci-layout,
#                             index.json with io.containerd.image.name, blobs/) whose manifest
#                             has uncompressed layers, as `docker save` writes it
# archives/docker-big.tar     classic, from the big layout (a 40 MB incompressible layer)
# archives/oci-big.tar        oci-archive of the big layout
# archives/multi/             OCI layout: index tagged "multi" over linux/amd64 and linux/arm64
#                             images (umoci, different architecture in each config)
# archives/multi.tar          tar of multi/
# archives/hostile/*.tar      traversal (../), absolute path, symlink escape, hard link escape,
#                             truncated, corrupted blob, duplicate blob with other content,
#                             docker layer not matching its diff_id, gzip-compressed archive
set -euo pipefail
fx=$(cd "${1:?usage: archives.sh FIXTURES_DIR}" && pwd)
out=$fx/archives
rm -rf "$out"
mkdir -p "$out/hostile"
cd "$out"

skopeo copy -q "oci:$fx/layout:v1" oci-archive:oci-skopeo.tar:v1
tar -C "$fx/layout" -cf oci-tar.tar .
skopeo copy -q "oci:$fx/layout:v1" docker-archive:docker-skopeo.tar:app:v1
skopeo copy -q "oci:$fx/two-tags:b" docker-archive:other.tar:other:b
skopeo copy -q "oci:$fx/big:v1" docker-archive:docker-big.tar:big:v1
skopeo copy -q "oci:$fx/big:v1" oci-archive:oci-big.tar:v1

# Buildah's docker-archive writer, with storage of its own so nothing leaks into the user's.
# skopeo puts the layout into that storage under a fixed name: `buildah pull oci:PATH` names the
# image after PATH, which fails when PATH has capitals (mktemp's do).
bstore=(--root "$out/.buildah/root" --runroot "$out/.buildah/run" --storage-driver vfs)
skopeo copy -q "oci:$fx/layout:v1" \
  "containers-storage:[vfs@$out/.buildah/root+$out/.buildah/run]localhost/bimg:v1"
buildah "${bstore[@]}" push -q localhost/bimg:v1 docker-archive:docker-buildah.tar:bimg:v1
buildah "${bstore[@]}" rmi -a -f >/dev/null 2>&1 || true
rm -rf "$out/.buildah"

# Multi-platform layout: two images whose configs say amd64 and arm64, under one index.
mkdir -p src/a src/b
echo amd64 >src/a/arch
echo arm64 >src/b/arch
umoci init --layout multi
umoci new --image multi:amd64
umoci insert --image multi:amd64 src/a /etc
umoci config --image multi:amd64 --os linux --architecture amd64
umoci new --image multi:arm64
umoci insert --image multi:arm64 src/b /etc
umoci config --image multi:arm64 --os linux --architecture arm64
umoci gc --layout multi
rm -rf src

python3 - "$out" <<'PY'
import hashlib, io, json, os, sys, tarfile

out = sys.argv[1]
os.chdir(out)

def sha(b):
    return hashlib.sha256(b).hexdigest()

# --- the index over the two platform images, tagged "multi" ---
layout = "multi"
index = json.load(open(f"{layout}/index.json"))
children = []
for m in index["manifests"]:
    arch = m["annotations"]["org.opencontainers.image.ref.name"]
    children.append({"mediaType": m["mediaType"], "digest": m["digest"], "size": m["size"],
                     "platform": {"os": "linux", "architecture": arch}})
children.sort(key=lambda c: c["platform"]["architecture"])
blob = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                   "manifests": children}, indent=2).encode()
open(f"{layout}/blobs/sha256/{sha(blob)}", "wb").write(blob)
index["manifests"].append({"mediaType": "application/vnd.oci.image.index.v1+json",
                           "digest": "sha256:" + sha(blob), "size": len(blob),
                           "annotations": {"org.opencontainers.image.ref.name": "multi"}})
json.dump(index, open(f"{layout}/index.json", "w"))
with tarfile.open("multi.tar", "w", format=tarfile.PAX_FORMAT) as t:
    for name in ["oci-layout", "index.json"] + ["blobs/sha256/" + b for b in sorted(os.listdir(f"{layout}/blobs/sha256"))]:
        t.add(f"{layout}/{name}", arcname=name)

def members(path):
    """(TarInfo, bytes) for every member of a tar."""
    with tarfile.open(path) as t:
        return [(m, t.extractfile(m).read() if m.isfile() else None) for m in t.getmembers()]

def write(path, items, fmt=tarfile.GNU_FORMAT):
    with tarfile.open(path, "w", format=fmt) as t:
        for info, data in items:
            info = tarfile.TarInfo(info) if isinstance(info, str) else info
            if data is not None:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
            else:
                t.addfile(info)

def link(name, target, kind):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return (info, None)

# --- docker-two: two classic archives merged, manifest.json listing both ---
a, b = members("docker-skopeo.tar"), members("other.tar")
manifest = json.loads(dict((m.name, d) for m, d in a)["manifest.json"]) + \
    json.loads(dict((m.name, d) for m, d in b)["manifest.json"])
seen, items = set(), []
for m, d in a + b:
    if m.name in ("manifest.json", "repositories") or m.name in seen:
        continue
    seen.add(m.name)
    items.append((m, d))
items.append(("manifest.json", json.dumps(manifest).encode()))
write("docker-two.tar", items)
os.remove("other.tar")

# --- docker-oci: the docker 25+ form, made from the classic archive as moby's save does ---
files = dict((m.name, d) for m, d in a if m.isfile())
links = dict((m.name, m.linkname) for m, d in a if m.issym())
entry = json.loads(files["manifest.json"])[0]
config = files[entry["Config"]]
layers = [files[l] for l in entry["Layers"]]
oci_manifest = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
               "digest": "sha256:" + sha(config), "size": len(config)},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": "sha256:" + sha(l), "size": len(l)} for l in layers],
}).encode()
oci_index = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                   "digest": "sha256:" + sha(oci_manifest), "size": len(oci_manifest),
                   "annotations": {"io.containerd.image.name": "docker.io/library/app:v1",
                                   "org.opencontainers.image.ref.name": "v1"}}],
}).encode()
items = [("blobs/sha256/" + sha(x), x) for x in [config, oci_manifest] + layers]
items += [
    ("index.json", oci_index),
    ("manifest.json", json.dumps([{
        "Config": "blobs/sha256/" + sha(config), "RepoTags": ["app:v1"],
        "Layers": ["blobs/sha256/" + sha(l) for l in layers]}]).encode()),
    ("oci-layout", b'{"imageLayoutVersion": "1.0.0"}'),
    ("repositories", json.dumps({"app": {"v1": sha(config)}}).encode()),
]
write("docker-oci.tar", items, tarfile.PAX_FORMAT)
open("docker-oci.manifest-digest", "w").write("sha256:" + sha(oci_manifest))

# --- hostile archives, each otherwise a valid OCI archive of the layout ---
oci = members("oci-skopeo.tar")
largest = max((m for m, d in oci if m.isfile()), key=lambda m: m.size)
write("hostile/traversal.tar", oci + [("../evil", b"escaped\n")])
write("hostile/absolute.tar", oci + [("/tmp/idp-push-evil", b"escaped\n")])
write("hostile/symlink.tar", oci + [link("blobs/evil", "../../../etc/passwd", tarfile.SYMTYPE)])
write("hostile/hardlink.tar", oci + [link("evil", "../outside", tarfile.LNKTYPE)])
flipped = [(m, (d[:len(d) // 2] + bytes([d[len(d) // 2] ^ 0xFF]) + d[len(d) // 2 + 1:])
            if m.name == largest.name else d) for m, d in oci]
write("hostile/corrupted.tar", flipped)
dup = next(d for m, d in flipped if m.name == largest.name)
write("hostile/duplicate.tar", oci + [(largest.name, dup)])
whole = open("oci-skopeo.tar", "rb").read()
open("hostile/truncated.tar", "wb").write(whole[: len(whole) * 2 // 3])
# A docker archive whose biggest layer was changed (same size): it no longer matches its
# diff_id, which only shows while it streams.
big = max(entry["Layers"], key=lambda l: len(files[l]))
bad = bytearray(files[big])
bad[len(bad) // 3] ^= 0xFF
write("hostile/docker-diffid.tar", [(m, bytes(bad) if m.name == big else d) for m, d in a])
PY

gzip -c oci-skopeo.tar >hostile/compressed.tar.gz

#!/usr/bin/env python3
"""Writes an OCI image layout of incompressible layers for the benchmark.

    make_layout.py OUT_DIR LAYERS LAYER_BYTES

The layers are random bytes declared as gzip layers: registries and the tools we measure copy
them as they are, and random data is what a compressed layer looks like to the network. Skips
the work when OUT_DIR already holds a layout made with the same arguments.
"""
import hashlib
import json
import os
import sys


def write_blob(blobs, data_iter):
    h = hashlib.sha256()
    tmp = os.path.join(blobs, "tmp")
    size = 0
    with open(tmp, "wb") as f:
        for chunk in data_iter:
            h.update(chunk)
            f.write(chunk)
            size += len(chunk)
    digest = h.hexdigest()
    os.replace(tmp, os.path.join(blobs, digest))
    return "sha256:" + digest, size


def random_bytes(total):
    step = 4 << 20
    left = total
    while left > 0:
        n = min(step, left)
        yield os.urandom(n)
        left -= n


def main():
    out, layers, layer_bytes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    stamp = os.path.join(out, ".made-with")
    want = f"{layers} {layer_bytes}\n"
    if os.path.exists(stamp) and open(stamp).read() == want:
        return
    blobs = os.path.join(out, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)
    descriptors = []
    for _ in range(layers):
        digest, size = write_blob(blobs, random_bytes(layer_bytes))
        descriptors.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                            "digest": digest, "size": size})
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [d["digest"] for d in descriptors]},
        "config": {},
    }).encode()
    config_digest, config_size = write_blob(blobs, [config])
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config_size},
        "layers": descriptors,
    }).encode()
    manifest_digest, manifest_size = write_blob(blobs, [manifest])
    with open(os.path.join(out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest, "size": manifest_size,
            "annotations": {"org.opencontainers.image.ref.name": "v1"}}]}, f)
    with open(stamp, "w") as f:
        f.write(want)


if __name__ == "__main__":
    main()

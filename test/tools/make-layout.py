#!/usr/bin/env python3
"""test/tools/make-layout.py: write a synthetic image as an OCI layout, for
registry tests and benchmarks that need more or bigger layers than the
busybox fixture.

Usage: make-layout.py DIR LAYERS LAYER_BYTES [--seed N] [--arch ARCH] [--tag TAG]
Each layer is a real tar.gz holding one file of LAYER_BYTES pseudo-random
bytes (incompressible, so blob size ~ LAYER_BYTES), deterministic for a
seed; the config lists the layers' diff_ids. DIR gets oci-layout,
index.json (one manifest, ref name TAG, default "latest") and blobs/sha256/.
Prints the manifest digest.
"""
import gzip, hashlib, io, json, os, random, sys, tarfile

args = sys.argv[1:]
opts = {"--seed": "1", "--arch": "amd64", "--tag": "latest"}
pos = []
while args:
    a = args.pop(0)
    if a in opts:
        opts[a] = args.pop(0)
    else:
        pos.append(a)
out, nlayers, size = pos[0], int(pos[1]), int(pos[2])
rng = random.Random(int(opts["--seed"]))
blobs = os.path.join(out, "blobs", "sha256")
os.makedirs(blobs, exist_ok=True)


def put(data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, d), "wb") as f:
        f.write(data)
    return "sha256:" + d, len(data)


layers, diff_ids = [], []
for i in range(nlayers):
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w", format=tarfile.PAX_FORMAT) as t:
        info = tarfile.TarInfo(f"data/layer-{i:03d}.bin")
        info.size, info.mtime, info.mode = size, 0, 0o644
        t.addfile(info, io.BytesIO(rng.randbytes(size)))
    raw = tar.getvalue()
    diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
    d, n = put(gzip.compress(raw, compresslevel=1, mtime=0))
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                   "digest": d, "size": n})
config = json.dumps({"architecture": opts["--arch"], "os": "linux",
                     "config": {"Cmd": ["/bin/true"]},
                     "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
cd, cn = put(config)
manifest = json.dumps({"schemaVersion": 2,
                       "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": cd, "size": cn},
                       "layers": layers}).encode()
md, mn = put(manifest)
with open(os.path.join(out, "index.json"), "w") as f:
    json.dump({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": mn,
        "annotations": {"org.opencontainers.image.ref.name": opts["--tag"]}}]}, f)
with open(os.path.join(out, "oci-layout"), "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
print(md)

"""Figures 7 and 8: save, load, import of a ~200 MB Debian image; pull and push through a
local registry; a cold build and an unchanged rebuild of a multi-stage Dockerfile.

Operations other berth branches are adding (pull, push, build) are probed on berth's API
first: a 404 or 501 there makes the rows say "not supported by this berth" instead of failing,
so the figures appear on their own when those branches land."""

import io
import os
import subprocess
import tarfile
import urllib.parse

from . import engines
from .model import Figure, ratio_target
from .proc import Unsupported

IMG = "bench/debian:import"
AUTH = {"X-Registry-Auth": "e30="}  # base64 of "{}": no credentials for the local registry


_PROBED = set()


def _probe(e, method, path, body=None, headers=None):
    """For berth, once per operation: try it on the API; 404 or 501 means this berth does not
    have it yet."""
    op = (e.key, path.split("?")[0])
    if e.daemon.name != "berth" or op in _PROBED:
        return
    _PROBED.add(op)
    status, out = engines.api(e.sock, method, path, body=body, headers=headers, timeout=1800)
    if status in (404, 501):
        raise Unsupported(f"{method} {path.split('?')[0]} answered {status}: "
                          f"{engines.api_message(out)}")


def images(ctx):
    f = Figure(7, "images: import, save, load; pull and push through a local registry")
    keys = ctx.keys("berth", "docker", "podman")
    size = os.path.getsize(ctx.image_tar) / (1 << 20)
    f.notes.append(f"The image: {ctx.image_source}, a {size:.0f} MiB rootfs tar, one layer.")
    imp = f.measure("import", "s")
    ctx.sample(imp, keys, ctx.runs(5), lambda e: _import(e, ctx.image_tar))
    save = f.measure("save", "s")
    out = ctx.ws.path("saved.tar")
    ctx.sample(save, keys, ctx.runs(5), lambda e: _save(e, out))
    ref = ctx.ws.path("reference.tar")
    ctx.engines["docker"].run("save", "-o", ref, IMG)
    load = f.measure("load (of dockerd's archive)", "s")
    ctx.sample(load, keys, ctx.runs(5), lambda e: _load(e, ref))
    ids = {k: ctx.engines[k].run("image", "inspect", "-f", "{{.Id}}", IMG).decode().strip()
           for k in keys}
    same = len(set(ids.values())) == 1
    f.notes.append("Image IDs after load: " + ", ".join(f"{k} `{v[:19]}`" for k, v in ids.items())
                   + (" (identical)." if same else " (**they differ**)."))
    _registry(ctx, f, keys)
    ratio_target(f, "import", "berth", "docker", 0.8)
    ratio_target(f, "load (of dockerd's archive)", "berth", "docker", 0.8)
    ratio_target(f, "pull (download + unpack)", "berth", "docker", 0.5)
    return f


def _import(e, tar):
    if _has(e, IMG):
        e.run("rmi", "-f", IMG)
    return e.timed("import", tar, IMG)


def _save(e, out):
    try:
        return e.timed("save", "-o", out, IMG)
    finally:
        if os.path.exists(out):
            os.unlink(out)


def _load(e, ref):
    if _has(e, IMG):
        e.run("rmi", "-f", IMG)
    return e.timed("load", "-q", "-i", ref)


def _has(e, ref):
    return subprocess.run(e.cli("image", "inspect", ref), env=e.env, capture_output=True,
                          check=False).returncode == 0


def _registry(ctx, f, keys):
    reg = ctx.registry
    remote = f"{reg.addr}/bench/debian:latest"
    push = f.measure("push (upload to an empty registry)", "s")

    def one_push(e):
        reg.reset()
        e.run("tag", IMG, remote)
        _probe(e, "POST", f"/images/{remote.rsplit(':', 1)[0]}/push?tag=latest", headers=AUTH)
        reg.reset()  # the probe uploaded it: start empty again
        return e.timed("push", remote)

    ctx.sample(push, keys, ctx.runs(3), one_push)
    pull = f.measure("pull (download + unpack)", "s")
    reg.reset()
    ctx.engines["docker"].run("tag", IMG, remote)
    ctx.engines["docker"].run("push", remote)

    def one_pull(e):
        for ref in (IMG, remote):
            if _has(e, ref):
                e.run("rmi", "-f", ref)
        q = urllib.parse.urlencode({"fromImage": remote.rsplit(":", 1)[0], "tag": "latest"})
        _probe(e, "POST", f"/images/create?{q}", headers=AUTH)
        if _has(e, remote):
            e.run("rmi", "-f", remote)
        return e.timed("pull", remote)

    ctx.sample(pull, keys, ctx.runs(3), one_pull)
    f.notes.append(f"Registry: Debian's docker-registry on {reg.addr} (plain HTTP, fresh "
                   "storage before every push). Before every pull the image is removed from "
                   "the engine, so its layer is downloaded and unpacked again.")


DOCKERFILE = """\
FROM busybox AS build
WORKDIR /src
COPY gen.sh .
RUN sh gen.sh /out
FROM busybox
COPY --from=build /out /app
COPY README /app/README
CMD ["ls", "/app"]
"""

GEN = """\
mkdir -p "$1"; i=0
while [ $i -lt 500 ]; do echo "file $i" > "$1/f$i"; i=$((i+1)); done
head -c 10485760 /dev/zero > "$1/blob"
"""


def build(ctx):
    f = Figure(8, "build: a cold build and an unchanged rebuild of a multi-stage Dockerfile")
    keys = ctx.keys("berth", "docker", "podman")
    ctxdir = ctx.ws.path("build-context")
    os.makedirs(ctxdir, exist_ok=True)
    for name, text in (("Dockerfile", DOCKERFILE), ("gen.sh", GEN),
                       ("README", "built by bench/all\n")):
        with open(os.path.join(ctxdir, name), "w", encoding="utf-8") as fh:
            fh.write(text)
    cold = f.measure("cold build (--no-cache)", "s")
    warm = f.measure("unchanged rebuild (cache)", "s")
    misses = []

    def one(e):
        _probe(e, "POST", "/build?t=bench/probe:latest&q=1", body=_probe_context(),
               headers={"Content-Type": "application/x-tar"})
        t_cold = e.timed("build", "--no-cache", "-q", "-t", "bench/build:latest", ctxdir)
        id_cold = _image_id(e, "bench/build:latest")
        t_warm = e.timed("build", "-q", "-t", "bench/build:latest", ctxdir)
        if _image_id(e, "bench/build:latest") != id_cold:
            misses.append(e.key)
        return t_cold, t_warm

    ctx.sample([cold, warm], keys, ctx.runs(3), one)
    f.notes.append("Docker's legacy builder (`DOCKER_BUILDKIT=0`: dockerd 20.10 has no buildx "
                   "here). Stage one writes 500 small files and a 10 MiB file; stage two copies "
                   "them out. The unchanged rebuild must hit the cache for every step.")
    if misses:
        f.notes.append("**The rebuild produced a different image (cache missed) on: "
                       + ", ".join(sorted(set(misses))) + ".**")
    return f


def _image_id(e, ref):
    return e.run("image", "inspect", "-f", "{{.Id}}", ref).decode().strip()


def _probe_context():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        data = b"FROM busybox\n"
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    return buf.getvalue()

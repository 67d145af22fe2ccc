"""Images: the shared base, the stack's own builds, and the Toxiproxy server image.

The base comes from ``debian:bookworm-slim`` where a registry answers; on an
air-gapped host (this project's own machines) from a local ``debootstrap`` of
Debian bookworm imported with ``docker import``. Built images are tagged by a
hash of their build context, so an unchanged context is never rebuilt.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors

from docker import DockerClient
from faultdrill.errors import InfraError
from faultdrill.scenario.docker_options import BuildOptions
from faultdrill.stack import labels

BASE_TAG = "faultdrill/base:bookworm"
REGISTRY_BASE = "debian:bookworm-slim"
BASE_PACKAGES = ("python3", "ca-certificates")
Log = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def offline() -> bool:
    """FAULTDRILL_OFFLINE=1 skips every registry pull (faster on air-gapped hosts)."""
    return os.environ.get("FAULTDRILL_OFFLINE", "") not in ("", "0", "false")


def image_exists(client: DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def try_pull(client: DockerClient, ref: str, timeout: float = 60.0, log: Log = _quiet) -> bool:
    """Pull ``ref``; False (never an exception) when no registry answers within ``timeout``."""
    if offline():
        return False
    result: list[bool] = []

    def pull() -> None:
        try:
            client.images.pull(ref)
            result.append(True)
        except (docker.errors.APIError, docker.errors.DockerException) as exc:
            detail = getattr(exc, "explanation", None) or str(exc)
            log(f"cannot pull {ref}: {_short(str(detail))}")
            result.append(False)

    worker = threading.Thread(target=pull, daemon=True)
    worker.start()
    worker.join(timeout)
    return bool(result and result[0])


def _short(text: str) -> str:
    """The useful tail of a Docker pull error (the engine wraps the registry's answer in layers)."""
    for marker in ("no such host", "connection refused", "i/o timeout", "not found", "unauthorized", "denied"):
        if marker in text:
            return marker + " (no registry reachable?)"
    return text.splitlines()[0][:120]


# --------------------------------------------------------------------------- base image
@contextmanager
def _one_builder(tag: str) -> Iterator[None]:
    """Held while ``tag`` is made: two runs (or test processes) starting at once build an image once, the
    second waits and finds it. An advisory lock on a file per tag, released when its holder dies."""
    folder = Path(tempfile.gettempdir(), "faultdrill-image-locks")
    folder.mkdir(exist_ok=True)
    with open(folder / hashlib.sha256(tag.encode()).hexdigest()[:16], "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_base(client: DockerClient, log: Log = _quiet) -> str:
    if image_exists(client, BASE_TAG):
        return BASE_TAG
    with _one_builder(BASE_TAG):
        if not image_exists(client, BASE_TAG):  # another process may have made it while we waited
            _make_base(client, log)
    return BASE_TAG


def _make_base(client: DockerClient, log: Log) -> None:
    log(f"building the base image {BASE_TAG}")
    if try_pull(client, REGISTRY_BASE, log=log):
        with tempfile.TemporaryDirectory(prefix="faultdrill-base-") as ctx:
            Path(ctx, "Dockerfile").write_text(
                f"FROM {REGISTRY_BASE}\n"
                "RUN apt-get update && apt-get install -y --no-install-recommends "
                f"{' '.join(BASE_PACKAGES)} && rm -rf /var/lib/apt/lists/*\n"
                "ENV LANG=C.UTF-8\n"
            )
            _build_now(client, Path(ctx), BASE_TAG, {}, {labels.ROLE: "image"}, log, None, None)  # lock held
        return
    log("no registry reachable: building the base from a local debootstrap of Debian bookworm")
    _debootstrap_base(client, log)


def _debootstrap_base(client: DockerClient, log: Log) -> None:
    if shutil.which("debootstrap") is None:
        raise InfraError(
            "no registry answers and debootstrap is not installed, so no base image can be made",
            hint="install Debian's debootstrap package (apt-get install debootstrap) and run as root",
        )
    with tempfile.TemporaryDirectory(prefix="faultdrill-rootfs-", dir="/var/tmp") as tmp:
        root = Path(tmp, "rootfs")
        cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", "bookworm", str(root)]
        log("$ " + " ".join(cmd))
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
            raise InfraError(f"debootstrap failed (exit {proc.returncode}):\n{tail}",
                             hint="debootstrap needs root and a reachable Debian package mirror")
        tarball = Path(tmp, "rootfs.tar")
        subprocess.run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(tarball), "."], check=True)
        repo, tag = BASE_TAG.split(":")
        client.api.import_image_from_file(str(tarball), repository=repo, tag=tag,
                                          changes=['CMD ["/bin/bash"]', "ENV LANG=C.UTF-8"])
    log(f"imported {BASE_TAG}")


# --------------------------------------------------------------------------- built images
def context_hash(path: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(file.relative_to(path)).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()[:12]


def build_tag(context: Path) -> str:
    """The content-hashed tag ``ensure_built`` gives ``context``'s image."""
    return f"faultdrill/{_slug(context.name)}:{context_hash(context)}"


def ensure_built(client: DockerClient, context: Path, log: Log = _quiet) -> str:
    """Build ``context`` on the base image unless an image of the same content exists; return its tag."""
    tag = build_tag(context)
    if image_exists(client, tag):
        return tag
    base = ensure_base(client, log)
    log(f"building {tag} from {context}")
    _build(client, context, tag, {"BASE_IMAGE": base}, {labels.ROLE: "image", labels.CONTENT: tag}, log)
    return tag


def ensure_built_with(client: DockerClient, context: Path, dockerfile: str | None, args: dict[str, str],
                      target: str | None, log: Log = _quiet) -> str:
    """Build a user's context (a compose ``build:``) as written: their Dockerfile, args and target, no
    faultdrill build arg. Tagged by content (context, Dockerfile choice, args, target)."""
    extra = repr((dockerfile, sorted(args.items()), target)).encode()
    tag = f"faultdrill/{_slug(context.name)}:{hashlib.sha256(context_hash(context).encode() + extra).hexdigest()[:12]}"
    if image_exists(client, tag):
        return tag
    dockerfile_text = (context / (dockerfile or "Dockerfile")).read_text(encoding="utf-8", errors="replace")
    if BASE_TAG in dockerfile_text and "BASE_IMAGE" not in args:
        ensure_base(client, log)  # a Dockerfile written for this host's air-gapped base
    log(f"building {tag} from {context}")
    _build(client, context, tag, dict(args), {labels.ROLE: "image", labels.CONTENT: tag}, log,
           dockerfile=dockerfile, target=target)
    return tag


def ensure_service_image(client: DockerClient, context: Path, options: BuildOptions | None, as_written: bool,
                         log: Log = _quiet) -> str:
    """A service's build: a compose file's (``as_written``: the user's Dockerfile, args, target) or faultdrill's
    own (the base image passed as BASE_IMAGE). The run and `faultdrill images build` share this."""
    if options is not None or as_written:
        return ensure_built_with(client, context, options.dockerfile if options else None,
                                 options.args if options else {}, options.target if options else None, log)
    return ensure_built(client, context, log)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name.lower()).strip("-.") or "image"


def _build(client: DockerClient, context: Path, tag: str, buildargs: dict[str, str],
           image_labels: dict[str, str], log: Log, dockerfile: str | None = None, target: str | None = None) -> None:
    with _one_builder(tag):
        if image_exists(client, tag):
            return  # built by another process while this one waited
        _build_now(client, context, tag, buildargs, image_labels, log, dockerfile, target)


def _build_now(client: DockerClient, context: Path, tag: str, buildargs: dict[str, str],
               image_labels: dict[str, str], log: Log, dockerfile: str | None, target: str | None) -> None:
    tail: list[str] = []
    extra: dict[str, Any] = {k: v for k, v in (("dockerfile", dockerfile), ("target", target)) if v}
    try:
        for chunk in client.api.build(path=str(context), tag=tag, buildargs=buildargs, labels=image_labels,
                                      rm=True, forcerm=True, decode=True, pull=False, **extra):
            if "stream" in chunk:
                for line in chunk["stream"].splitlines():
                    if line.strip():
                        tail = (tail + [line])[-20:]
                        if line.startswith("Step "):
                            log(f"  {tag}: {line.strip()}")
            if "error" in chunk:
                raise InfraError(f"building {tag} failed: {chunk['error'].strip()}\n" + "\n".join(tail),
                                 hint=f"fix {context}/Dockerfile, or run `docker build {context}` to see the whole log")
    except docker.errors.APIError as exc:
        raise InfraError(f"building {tag} failed: {exc}") from None


# --------------------------------------------------------------------------- toxiproxy images
@dataclass(frozen=True)
class ToxiproxyImage:
    image: str
    kind: str  # "official" | "builtin"
    command: list[str] | None
    api_port: int = 8474


def ensure_toxiproxy(client: DockerClient, server: str, official_image: str, log: Log = _quiet) -> ToxiproxyImage:
    """The official image where it exists or can be pulled (unless ``server: builtin``); else ours."""
    if server in ("auto", "official"):
        if image_exists(client, official_image) or try_pull(client, official_image, log=log):
            return ToxiproxyImage(official_image, "official", ["-host=0.0.0.0", "-proxy-metrics"])
        if server == "official":
            raise InfraError(f"cannot pull the official Toxiproxy image {official_image}",
                             hint="set toxiproxy.server: builtin (or auto) to use faultdrill's compatible server")
        log("Toxiproxy: using faultdrill's compatible server instead of the official image")
    return ToxiproxyImage(_build_builtin_toxiproxy(client, log), "builtin",
                          ["python3", "-m", "faultdrill.toxiproxy_server", "--host", "0.0.0.0", "--port", "8474",
                           "--proxy-metrics"])


#: The native pump (links with no toxic), compiled in a build stage for the image's own Python: the
#: image gets the module, not the compiler.
_PUMP_BUILD = " && ".join([
    "apt-get update -qq",
    "apt-get install -y -qq --no-install-recommends gcc libc6-dev python3-dev >/dev/null",
    "cd /src",
    'gcc -shared -fPIC -O2 -Wall -Werror -Wno-missing-field-initializers'
    ' -I"$(python3 -c \'import sysconfig; print(sysconfig.get_paths()["include"])\')"'
    ' -o "_pump$(python3 -c \'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))\')" _pump.c',
])


def _build_builtin_toxiproxy(client: DockerClient, log: Log) -> str:
    package = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="faultdrill-toxiproxy-") as tmp:
        ctx = Path(tmp)
        target = ctx / "faultdrill"
        shutil.copytree(package / "toxiproxy_server", target / "toxiproxy_server",
                        ignore=shutil.ignore_patterns("__pycache__", "*.so"))
        shutil.copy(package / "__init__.py", target / "__init__.py")
        (ctx / "Dockerfile").write_text(
            "ARG BASE_IMAGE\nFROM ${BASE_IMAGE} AS pump\n"
            "COPY faultdrill/toxiproxy_server/_pump.c /src/_pump.c\n"
            f"RUN {_PUMP_BUILD}\n"
            "FROM ${BASE_IMAGE}\n"
            # uvloop: the data path's event loop (the server falls back to asyncio's without it)
            "RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-uvloop >/dev/null"
            " && rm -rf /var/lib/apt/lists/*\n"
            "COPY faultdrill /opt/faultdrill/faultdrill\n"
            "COPY --from=pump /src/*.so /opt/faultdrill/faultdrill/toxiproxy_server/\n"
            "ENV PYTHONPATH=/opt/faultdrill PYTHONUNBUFFERED=1\n"
            # fail the build, not the first drill, when the module does not load
            "RUN python3 -c 'from faultdrill.toxiproxy_server import _pump'\n"
            "EXPOSE 8474\n"
            'CMD ["python3", "-m", "faultdrill.toxiproxy_server", "--host", "0.0.0.0", "--port", "8474"]\n'
        )
        tag = f"faultdrill/toxiproxy-compat:{context_hash(ctx)}"
        if image_exists(client, tag):
            return tag
        base = ensure_base(client, log)
        log(f"building {tag}")
        _build(client, ctx, tag, {"BASE_IMAGE": base}, {labels.ROLE: "image", labels.CONTENT: tag}, log)
        return tag

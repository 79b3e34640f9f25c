"""Cached preprocessing that notices damage: a file's size and hash go into its version stamp,
so a truncated or altered cache file is named and rebuilt instead of failing in numpy or torch."""

from __future__ import annotations

import glob
import hashlib
import itertools
import json
import os
import pickle
import shutil
import socket
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, BinaryIO

from common.errors import DataError, naming

# What numpy raises on a damaged .npz: a truncated zip, a flipped byte, a missing member.
NPZ_DAMAGE = (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile)
_WRITES = itertools.count()  # numbers this process's temporary files
# Another host's temporary file (a shared NFS data folder) is deleted once this old: its pid means
# nothing here, and no cache of this project takes a day to write.
FOREIGN_TMP_S = 24 * 3600


def _alive(pid: int) -> bool:
    """Whether process `pid` runs; on Windows assumed so (there os.kill(pid, 0) would end it)."""
    if sys.platform == "win32":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # someone else's process
        pass
    return True


def _stale(tmp: Path, name: str) -> bool:
    """Whether `tmp` (`<name>.<host>-<pid>-<n>.tmp`) was left by a writer that is gone: on this
    host, one whose process has ended; from another host, or unnamed (older versions), a day old."""
    host, _, pid = tmp.name.removeprefix(name + ".").rpartition("-")[0].rpartition("-")
    if host == socket.gethostname():
        return pid.isdigit() and not _alive(int(pid))
    return time.time() - tmp.stat().st_mtime > FOREIGN_TMP_S


@contextmanager
def replacing(path: Path) -> Iterator[BinaryIO]:
    """A binary file `<path>.<host>-<pid>-<n>.tmp` to write, renamed to `path` when the block
    completes: an interrupted or failed write leaves `path` as it was (absent or whole), and no
    partial file. Each write has a file of its own, so two trainings that build the same cache at
    once each replace it whole (they once shared `<path>.tmp`, and the slower one's rename failed);
    one left by a process of this host that was killed (kill -9) is deleted by the next write of
    `path`, one of another host (a shared folder) once it is FOREIGN_TMP_S old."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for old in path.parent.glob(f"{glob.escape(path.name)}.*-*.tmp"):
        with suppress(OSError):  # renamed by its writer meanwhile, or not ours to delete
            if _stale(old, path.name):
                old.unlink()
    tmp = path.with_name(f"{path.name}.{socket.gethostname()}-{os.getpid()}-{next(_WRITES)}.tmp")
    try:
        with naming(path), tmp.open("wb") as f:  # a full disk: name the file, not the .tmp
            yield f
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def download(url: str, dest: Path, what: str, instead: str) -> Path:
    """`url` fetched to `dest` once; offline, a DataError naming `what` and saying `instead`."""
    if dest.is_file():
        return dest
    print(f"downloading {what}: {url} -> {dest}", flush=True)
    with replacing(dest) as out:
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                shutil.copyfileobj(response, out)
        except OSError as err:
            raise DataError(f"could not download {what} from {url} ({err}); {instead}") from None
    return dest


def file_stamp(path: Path) -> dict[str, Any]:
    """Size and SHA-1 of a file (about 1 s per GB)."""
    with Path(path).open("rb") as f:
        digest = hashlib.file_digest(f, "sha1").hexdigest()
    return {"bytes": Path(path).stat().st_size, "sha1": digest}


def damage(path: Path, stamp: dict[str, Any] | None) -> str | None:
    """Why `path` does not match its stamp (missing, other size, other hash), or None."""
    path = Path(path)
    if stamp is None:
        return f"{path} has no size/hash stamp (written by an older version)"
    if not path.is_file():
        return f"{path} is missing"
    size = path.stat().st_size
    if size != stamp.get("bytes"):
        return f"{path} has {size} bytes, its stamp says {stamp.get('bytes')} (truncated?)"
    if file_stamp(path)["sha1"] != stamp.get("sha1"):
        return f"{path} does not match the hash in its stamp (altered or damaged)"
    return None


def stamp_path(path: Path) -> Path:
    """Where the stamp of a single-file cache lives: beside it, `<name>.stamp.json`."""
    return Path(path).with_name(Path(path).name + ".stamp.json")


def write_stamp(path: Path, **extra: Any) -> None:
    """Stamp a finished single-file cache (write the file first, the stamp last)."""
    with replacing(stamp_path(path)) as f:
        f.write(json.dumps({**file_stamp(path), **extra}).encode())


def read_stamp(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(stamp_path(path).read_text())
    except (OSError, ValueError):
        return None


def load_tensors(path: Path, what: str) -> Any | None:
    """A stamped torch cache written by `save_tensors` (tensors, lists and dicts only, no code),
    or None when it is missing; a damaged one is named and None returned, to be built again."""
    import torch

    path = Path(path)
    if not path.exists():
        return None
    broken = damage(path, read_stamp(path))  # size and hash from its stamp file
    if broken is None:
        try:
            return torch.load(path, weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError) as err:
            broken = f"{path} cannot be loaded safely ({type(err).__name__})"
    print(f"{what}: the cache is damaged: {broken}; building it again", flush=True)
    return None


def save_atomic(obj: Any, path: Path) -> None:
    """torch.save through `replacing`: `path` is absent or whole, never half-written."""
    import io

    import torch

    buffer = io.BytesIO()  # torch's own writer turns a full disk into an unnamed RuntimeError
    torch.save(obj, buffer)
    with replacing(path) as f:
        f.write(buffer.getbuffer())


def save_tensors(obj: Any, path: Path) -> None:
    """`save_atomic`, then stamp: an interrupted run leaves no half-written cache."""
    save_atomic(obj, path)
    write_stamp(path)

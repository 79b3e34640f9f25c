"""Damaged data caches are named and rebuilt, not fed to numpy or torch."""

import os
import socket
import sys
import time

import numpy as np
import pytest

from common.cache import damage, download, file_stamp, read_stamp, replacing, write_stamp
from common.errors import DataError


def test_stamp_notices_truncation_and_alteration(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(b"0123456789" * 100)
    write_stamp(path)
    stamp = read_stamp(path)
    assert stamp == file_stamp(path) and damage(path, stamp) is None
    path.write_bytes(b"0123456789" * 50)
    assert "truncated" in damage(path, stamp) and str(path) in damage(path, stamp)
    path.write_bytes(b"x123456789" + b"0123456789" * 99)
    assert "hash" in damage(path, stamp)
    assert "no size/hash stamp" in damage(path, None)
    path.unlink()
    assert "missing" in damage(path, stamp)


def test_truncated_speech_clips_are_named_and_regenerated(tmp_path, capsys):
    from speech import synthetic
    from speech.synthetic import SynthConfig

    tiny, words = SynthConfig(train_per_word=2, val_per_word=1, test_per_word=1), ["yes", "no"]
    first = synthetic.load_or_generate(tiny, tmp_path, words, verbose=False)
    clips = synthetic.cache_dir(tiny, tmp_path, words) / "clips.npy"
    clips.write_bytes(clips.read_bytes()[: clips.stat().st_size // 2])
    again = synthetic.load_or_generate(tiny, tmp_path, words, verbose=False)
    out = capsys.readouterr().out
    assert "damaged" in out and str(clips) in out
    assert np.array_equal(again["clips"], first["clips"])
    assert damage(clips, again["clips_stamp"]) is None
    meta = clips.with_name("meta.json")  # its description cut short: named, not clips.npy
    meta.write_text(meta.read_text()[:40])
    third = synthetic.load_or_generate(tiny, tmp_path, words, verbose=False)
    out = capsys.readouterr().out
    assert f"damaged: {meta} is not the data set's description" in out
    assert np.array_equal(third["clips"], first["clips"])


def test_speech_clips_cut_by_a_full_disk_leave_no_partial_file_and_name_it(tmp_path, monkeypatch):
    """clips.npy was written in place: a full disk (or a kill) left a truncated file, and the
    disk's OSError named no file."""
    import errno

    from speech import synthetic
    from speech.synthetic import SynthConfig

    tiny, words = SynthConfig(train_per_word=2, val_per_word=1, test_per_word=1), ["yes", "no"]
    clips = synthetic.cache_dir(tiny, tmp_path, words) / "clips.npy"

    def full_disk(f, array, **kwargs):  # the header and part of the data, then ENOSPC
        f.write(b"\x93NUMPY" + bytes(1000))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np.lib.format, "write_array", full_disk)
    with pytest.raises(OSError) as raised:
        synthetic.load_or_generate(tiny, tmp_path, words, verbose=False)
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(clips)
    assert list(clips.parent.iterdir()) == []
    monkeypatch.undo()
    again = synthetic.load_or_generate(tiny, tmp_path, words, verbose=False)
    assert damage(clips, again["clips_stamp"]) is None


@pytest.mark.parametrize("how", ["truncate", "no-stamp"])
def test_damaged_handwriting_cache_is_named_and_regenerated(tmp_path, monkeypatch, capsys, how):
    from handwriting import data

    monkeypatch.setattr(data, "data_dir", lambda: tmp_path)
    first = data.load_or_generate_hershey(6, 2, 20, 0)
    (path,) = tmp_path.glob("hershey-*.pt")
    if how == "truncate":
        path.write_bytes(path.read_bytes()[:100])
    else:  # a cache written before stamps existed is regenerated once
        (tmp_path / (path.name + ".stamp.json")).unlink()
    again = data.load_or_generate_hershey(6, 2, 20, 0)
    assert "damaged" in capsys.readouterr().out
    assert again["train"]["texts"] == first["train"]["texts"]
    assert damage(path, read_stamp(path)) is None


def test_speech_figures_of_same_named_files_do_not_overwrite(tmp_path):
    from pathlib import Path

    from speech.demo import figure_path

    used: set[Path] = set()
    names = [figure_path(tmp_path, Path(p), used).name for p in ("x.flac", "x.ogg", "x.mp3")]
    names.append(figure_path(tmp_path, Path("other/x.flac"), used).name)
    assert names == ["x.flac.png", "x.ogg.png", "x.mp3.png", "x.flac-2.png"]


def test_replacing_leaves_the_old_file_or_the_new_one_and_no_partial(tmp_path):
    path = tmp_path / "sub" / "data.bin"
    with replacing(path) as f:
        f.write(b"old")
    with pytest.raises(RuntimeError), replacing(path) as f:
        f.write(b"half")
        raise RuntimeError("interrupted")
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in path.parent.iterdir()) == ["data.bin"]


def test_download_fetches_once_and_names_what_failed(tmp_path):
    source = tmp_path / "remote.pickle"
    source.write_bytes(b"payload")
    dest = tmp_path / "data" / "local.pickle"
    assert download(source.as_uri(), dest, "the thing", "do X") == dest
    assert dest.read_bytes() == b"payload"
    source.unlink()  # a second call does not fetch again
    assert download(source.as_uri(), dest, "the thing", "do X").read_bytes() == b"payload"
    missing = tmp_path / "data" / "missing.pickle"
    with pytest.raises(DataError, match=r"could not download the thing from file:.*; do X$"):
        download(source.as_uri(), missing, "the thing", "do X")
    assert sorted(p.name for p in missing.parent.iterdir()) == ["local.pickle"]


def test_two_writers_of_one_cache_each_replace_it_whole(tmp_path):
    """Two trainings building the same cache at once: the second writer no longer truncates the
    first one's temporary file, and the first one's rename no longer fails (FileNotFoundError)."""
    path = tmp_path / "cache.bin"
    with replacing(path) as first:
        first.write(b"first, half")
        with replacing(path) as second:
            second.write(b"second, whole")
        assert path.read_bytes() == b"second, whole"
        first.write(b" and the rest")
    assert path.read_bytes() == b"first, half and the rest"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache.bin"]


def test_a_killed_writers_temporary_file_is_deleted_by_the_next_write(tmp_path):
    import subprocess
    import sys

    TEXT = {"text": True, "capture_output": True, "check": True}

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], **TEXT)
    dead = gone.stdout.strip()  # the pid of a process that has ended
    here = socket.gethostname()
    (tmp_path / f"cache.bin.{here}-{dead}-0.tmp").write_bytes(b"half")  # its writer was killed
    (tmp_path / f"cache.bin.{here}-{os.getpid()}-99.tmp").write_bytes(b"busy")  # a live one's
    with replacing(tmp_path / "cache.bin") as f:
        f.write(b"whole")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["cache.bin", f"cache.bin.{here}-{os.getpid()}-99.tmp"]


def _ended_pid() -> int:
    import subprocess

    code = "import os; print(os.getpid())"
    return int(subprocess.run([sys.executable, "-c", code], capture_output=True).stdout)


def test_another_hosts_writer_keeps_its_temporary_file(tmp_path, monkeypatch):
    """On a shared (NFS) data folder a writer on another host has a pid that does not run here:
    its temporary file was deleted, and its rename failed (FileNotFoundError)."""
    path = tmp_path / "cache.bin"
    monkeypatch.setattr(socket, "gethostname", lambda: "elsewhere")
    monkeypatch.setattr(os, "getpid", _ended_pid)
    with replacing(path) as first:  # opened on host "elsewhere" by a pid that is no process here
        monkeypatch.undo()
        first.write(b"first, half")
        with replacing(path) as second:
            second.write(b"second, whole")
        first.write(b" and the rest")
    assert path.read_bytes() == b"first, half and the rest"


def test_another_hosts_temporary_file_is_deleted_once_a_day_old(tmp_path):
    dead = _ended_pid()
    fresh, old = (tmp_path / f"cache.bin.elsewhere-{dead}-{n}.tmp" for n in (0, 1))
    unnamed = tmp_path / f"cache.bin.{dead}-0.tmp"  # written before hosts were named
    for tmp in (fresh, old, unnamed):
        tmp.write_bytes(b"half")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(old, (two_days_ago, two_days_ago))
    with replacing(tmp_path / "cache.bin") as f:
        f.write(b"whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["cache.bin", fresh.name, unnamed.name]
    )


def test_on_windows_no_writer_is_signalled(tmp_path, monkeypatch):
    """There os.kill(pid, 0) does not ask whether the process runs: it ends it. A temporary
    file's writer is then taken to be alive, and its file kept."""

    def kill(pid, sig):
        raise AssertionError(f"os.kill({pid}, {sig}) would end that process on Windows")

    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(os, "kill", kill)
    half = tmp_path / f"cache.bin.{socket.gethostname()}-4242-0.tmp"
    half.write_bytes(b"half")
    with replacing(tmp_path / "cache.bin") as f:
        f.write(b"whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache.bin", half.name]

"""Tests of genloose._io: atomic writes, no partial files, no silent overwrite."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from genloose._errors import InvalidArgumentError
from genloose._io import atomic_open, atomic_write_bytes, atomic_write_text, check_destination


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_writes_text_and_bytes(tmp_path: Path) -> None:
    assert atomic_write_text(tmp_path / "a.txt", "héllo\n").read_text(encoding="utf-8") == "héllo\n"
    assert atomic_write_bytes(tmp_path / "b.bin", b"\x00\xff").read_bytes() == b"\x00\xff"
    assert _leftovers(tmp_path) == ["a.txt", "b.bin"]


def test_refuses_to_overwrite_unless_asked(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    atomic_write_text(target, "first")
    with pytest.raises(InvalidArgumentError, match="must not exist already"):
        atomic_write_text(target, "second")
    assert target.read_text() == "first"
    atomic_write_text(target, "second", overwrite=True)
    assert target.read_text() == "second"
    assert _leftovers(tmp_path) == ["out.json"]


def _write_then_fail(target: Path, *, overwrite: bool = False) -> None:
    with atomic_open(target, overwrite=overwrite) as handle:
        handle.write("partial")
        raise RuntimeError("boom")


def _write_while_another_writer_wins(target: Path) -> None:
    with atomic_open(target) as handle:
        handle.write("mine")
        target.write_text("theirs")


def test_failure_inside_the_block_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        _write_then_fail(tmp_path / "out.csv")
    assert _leftovers(tmp_path) == []


def test_failure_while_overwriting_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="boom"):
        _write_then_fail(target, overwrite=True)
    assert target.read_text() == "old"
    assert _leftovers(tmp_path) == ["out.csv"]


def test_a_file_appearing_during_the_write_is_not_clobbered(tmp_path: Path) -> None:
    target = tmp_path / "race.txt"
    with pytest.raises(InvalidArgumentError, match="must not exist"):
        _write_while_another_writer_wins(target)
    assert target.read_text() == "theirs"
    assert _leftovers(tmp_path) == ["race.txt"]


def test_permissions_follow_the_umask_or_the_replaced_file(tmp_path: Path) -> None:
    fresh = atomic_write_text(tmp_path / "fresh.txt", "x")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask
    kept = tmp_path / "kept.txt"
    kept.write_text("x")
    kept.chmod(0o640)
    atomic_write_text(kept, "y", overwrite=True)
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640


def test_bad_destinations(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="existing directory"):
        check_destination(tmp_path / "missing" / "x.json")
    with pytest.raises(InvalidArgumentError, match="not a directory"):
        check_destination(tmp_path)
    with pytest.raises(InvalidArgumentError, match="file path"):
        check_destination(3)
    with pytest.raises(InvalidArgumentError, match="non-empty"):
        check_destination("")
    with pytest.raises(InvalidArgumentError, match="overwrite must be a bool"):
        check_destination(tmp_path / "x", overwrite="yes")
    with pytest.raises(InvalidArgumentError, match="mode"), atomic_open(tmp_path / "x", mode="a"):  # type: ignore[arg-type]
        pass
    with pytest.raises(InvalidArgumentError, match="text must be a str"):
        atomic_write_text(tmp_path / "x", b"bytes")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="data must be bytes"):
        atomic_write_bytes(tmp_path / "x", "text")  # type: ignore[arg-type]
    assert _leftovers(tmp_path) == []


def test_relative_paths_use_the_current_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    atomic_write_text("relative.txt", "ok")
    assert (tmp_path / "relative.txt").read_text() == "ok"

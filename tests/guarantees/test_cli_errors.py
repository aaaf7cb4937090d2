"""The command line's promise: every error is one line on stderr with a documented exit status, never a traceback.

Exit 2 for usage errors found before any work (a device this machine lacks, an output path that cannot be written,
sizes no memory holds), 1 for failures during the run (a disk that fills up), 130 for Ctrl-C; and an interrupted
``reproduce`` leaves no empty output directory behind.
"""

from __future__ import annotations

import errno
import os
import sys
import types
from pathlib import Path

import pytest

import genloose._io
from genloose.cli import main
from tests.test_cli import _evaluate_args, _files, workdir  # noqa: F401 (workdir is a fixture)


def _one_line_error(capsys: pytest.CaptureFixture[str], *fragments: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err, err
    return err


@pytest.mark.parametrize("device", ["cuda:99", "meta", "nonsense"])
def test_a_device_this_machine_lacks_is_a_usage_error(workdir: Path, capsys, device: str) -> None:  # noqa: F811
    assert main(_evaluate_args(workdir, "--device", device)) == 2
    _one_line_error(capsys, "--device must be")


def test_cuda_without_a_gpu_is_a_usage_error(workdir: Path, capsys) -> None:  # noqa: F811
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert main(_evaluate_args(workdir, "--device", "cuda")) == 2
    _one_line_error(capsys, "--device must be a device available on this machine")


@pytest.mark.parametrize("option", ["--num-samples", "--pool-size"])
def test_sizes_no_memory_holds_are_usage_errors(workdir: Path, capsys, option: str) -> None:  # noqa: F811
    args = _evaluate_args(workdir)
    args[args.index(option) + 1] = str(10**15)
    assert main(args) == 2
    _one_line_error(capsys, "must fit in memory")


def test_an_unwritable_json_directory_is_refused_before_the_work(workdir: Path, capsys, monkeypatch) -> None:  # noqa: F811
    target = workdir / "locked"
    target.mkdir()

    def refuse(*args: object, **kwargs: object) -> tuple[int, str]:
        raise PermissionError(errno.EACCES, "Permission denied")

    evaluated = []
    monkeypatch.setattr("genloose._evaluate.evaluate", lambda *a, **k: evaluated.append(1))
    monkeypatch.setattr(genloose._io.tempfile, "mkstemp", refuse)
    assert main(_evaluate_args(workdir, "--json", str(target / "report.json"))) == 2
    _one_line_error(capsys, "--json must be in a writable directory")
    assert not evaluated


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes through permissions")
def test_a_read_only_directory_is_refused(workdir: Path, capsys) -> None:  # noqa: F811
    target = workdir / "read-only"
    target.mkdir()
    target.chmod(0o500)
    try:
        assert main(_evaluate_args(workdir, "--json", str(target / "report.json"))) == 2
    finally:
        target.chmod(0o700)
    _one_line_error(capsys, "--json must be in a writable directory")


def test_a_full_file_system_is_refused_before_the_work(workdir: Path, capsys, monkeypatch) -> None:  # noqa: F811
    monkeypatch.setattr(genloose._io.shutil, "disk_usage", lambda path: types.SimpleNamespace(free=0))
    assert main(_evaluate_args(workdir, "--json", str(workdir / "report.json"))) == 2
    _one_line_error(capsys, "--json must be on a file system with free space")


def test_a_disk_that_fills_up_during_the_write_is_one_line_and_no_file(workdir: Path, capsys, monkeypatch) -> None:  # noqa: F811
    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(genloose._io, "atomic_write_text", full)
    assert main(_evaluate_args(workdir, "--json", str(workdir / "report.json"))) == 1
    _one_line_error(capsys, "No space left on device")
    assert "report.json" not in _files(workdir)


def _fake_experiment(monkeypatch: pytest.MonkeyPatch, run: object) -> None:
    fake = types.ModuleType("genloose.experiments.grid")
    fake.run_grid_experiment = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "genloose.experiments.grid", fake)


def test_out_naming_a_file_is_a_usage_error(tmp_path: Path, capsys, monkeypatch) -> None:
    _fake_experiment(monkeypatch, lambda out, **kwargs: None)
    (tmp_path / "file").write_text("x")
    assert main(["reproduce", "grid", "--out", str(tmp_path / "file"), "--silent"]) == 2
    _one_line_error(capsys, "--out must name a directory")


def test_out_naming_a_file_is_refused_by_the_real_experiments(tmp_path: Path, capsys) -> None:
    (tmp_path / "file").write_text("x")
    for experiment in ("grid", "vae"):
        assert main(["reproduce", experiment, "--out", str(tmp_path / "file" / "sub"), "--silent"]) == 2
        _one_line_error(capsys, "out_dir must be a directory that can be created")


@pytest.mark.parametrize("creates", [False, True])
def test_ctrl_c_during_reproduce_exits_130_in_one_line_and_leaves_no_empty_directory(
    tmp_path: Path, capsys, monkeypatch, creates: bool
) -> None:
    def interrupted(out: Path, **kwargs: object) -> None:
        if creates:
            (Path(out) / "weights").mkdir(parents=True)
        raise KeyboardInterrupt

    _fake_experiment(monkeypatch, interrupted)
    out = tmp_path / "new" / "results"
    assert main(["reproduce", "grid", "--out", str(out), "--silent"]) == 130
    _one_line_error(capsys, "interrupted")
    assert not (tmp_path / "new").exists()


def test_ctrl_c_keeps_a_directory_that_existed_or_holds_results(tmp_path: Path, capsys, monkeypatch) -> None:
    def interrupted(out: Path, **kwargs: object) -> None:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "metrics.csv").write_text("done")
        raise KeyboardInterrupt

    _fake_experiment(monkeypatch, interrupted)
    out = tmp_path / "results"
    assert main(["reproduce", "grid", "--out", str(out), "--silent"]) == 130
    assert (out / "metrics.csv").read_text() == "done"
    existing = tmp_path / "existing"
    existing.mkdir()
    _fake_experiment(monkeypatch, lambda out, **kwargs: (_ for _ in ()).throw(KeyboardInterrupt))
    assert main(["reproduce", "grid", "--out", str(existing), "--silent"]) == 130
    assert existing.is_dir()

"""Tests of the progress bars (genloose/_progress.py) and of the class-radius bar that counts points."""

from __future__ import annotations

import io
import threading
import time

import pytest
import torch

import genloose
from genloose import _progress
from genloose._progress import progress_bar


def _ticker_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "genloose-progress"]


def test_class_radius_bar_counts_points_with_remaining_time(capsys: pytest.CaptureFixture[str]) -> None:
    genloose.class_radius(
        torch.nn.Identity(), lambda x: x[:, :3], latent_dim=3, num_samples=300, batch_size=128, progress=True
    )
    err = capsys.readouterr().err
    for count in ("0/300", "128/300", "256/300", "300/300"):
        assert count in err, err
    assert "point" in err
    assert "chunk" not in err
    # tqdm's "[elapsed<remaining, rate]": the estimate of the remaining time is shown
    assert "<" in err.rsplit("128/300", 1)[1].split("]")[0]
    assert err.endswith("\n")  # the finished bar stays on screen
    assert not _ticker_threads()


def test_a_silent_run_has_no_bar(capsys: pytest.CaptureFixture[str]) -> None:
    genloose.class_radius(torch.nn.Identity(), lambda x: x[:, :3], latent_dim=3, num_samples=20, progress=False)
    assert capsys.readouterr().err == ""


def test_sized_bar_is_redrawn_during_a_long_item(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_progress, "REFRESH_SECONDS", 0.02)
    out = io.StringIO()
    for _ in progress_bar([0], progress=True, size_of=lambda _: 5, total=5, file=out):
        before = out.getvalue().count("0/5")
        time.sleep(0.3)
        during = out.getvalue().count("0/5")
    assert during > before  # the elapsed time kept moving while the item was worked on
    assert "5/5" in out.getvalue()
    assert not _ticker_threads()


def test_sized_bar_stops_its_ticker_when_the_loop_fails() -> None:
    out = io.StringIO()

    def search() -> None:
        for _ in progress_bar(range(3), progress=True, size_of=lambda _: 1, total=3, file=out):
            raise RuntimeError("model failed")

    with pytest.raises(RuntimeError, match="model failed"):
        search()
    assert not _ticker_threads()


def test_unsized_bar_keeps_its_behaviour() -> None:
    out = io.StringIO()
    assert list(progress_bar(range(4), progress=True, file=out, desc="epochs")) == [0, 1, 2, 3]
    assert "epochs:   0%" in out.getvalue()
    assert out.getvalue().endswith("\r")  # leave=False: cleared at the end, as before
    assert not _ticker_threads()

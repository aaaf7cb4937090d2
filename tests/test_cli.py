"""Tests of the ``genloose`` command line (genloose/cli.py): outputs, exit codes, stderr, no partial files."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pandas as pd
import pytest

import genloose
from genloose._errors import ModelOutputError
from genloose.cli import build_parser, load_object, main
from genloose.theory import collision_entropy_upper_bound, fawzi_bound, theorem_3_2_bound

USER_MODULE = """
import torch
from genloose.testing import sectors

_testbed = sectors(3, 4)
generator = _testbed.generator
classifier = _testbed.classifier
calls = []


def make_classifier():
    calls.append("factory")
    return _testbed.classifier


class DCGAN(torch.nn.Module):  # takes latents of shape (n, 3, 1, 1), as the PyTorch DCGAN recipe does

    def forward(self, z):
        assert z.shape[1:] == (3, 1, 1), z.shape
        return z.flatten(1)


class Stretch(torch.nn.Module):
    def forward(self, z):
        return 2 * z


def nan_generator(z):
    return z * float("nan")


def raising_generator(z):
    raise RuntimeError("user bug")
"""


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    name = f"user_models_{abs(hash(str(tmp_path)))}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(USER_MODULE))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TQDM_DISABLE", "1")
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    (tmp_path / "name").write_text(name)
    return tmp_path


def _module(workdir: Path) -> str:
    return (workdir / "name").read_text()


def _evaluate_args(workdir: Path, *extra: str, generator: str = "generator") -> list[str]:
    m = _module(workdir)
    return [
        "evaluate",
        "--generator",
        f"{m}:{generator}",
        "--classifier",
        f"{m}:classifier",
        "--latent-dim",
        "3",
        "--num-samples",
        "40",
        "--pool-size",
        "32",
        "--seed",
        "1",
        *extra,
    ]


def _files(folder: Path) -> list[str]:
    return sorted(
        p.name for p in folder.iterdir() if p.name != "name" and not p.name.endswith(".py") and p.name != "__pycache__"
    )


# ----------------------------------------------------------------------------------------------
# evaluate
# ----------------------------------------------------------------------------------------------


def test_evaluate_prints_the_report_and_writes_files(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(_evaluate_args(workdir, "--json", "r.json", "--csv", "r.csv"))
    out, err = capsys.readouterr()
    assert status == 0, err
    lines = out.splitlines()
    assert len(lines) == 7  # a short summary, not the table
    assert lines[0].startswith("class radius <= ")
    assert lines[0].endswith("an upper estimate from 40 points, white-box search")
    assert lines[1].startswith("collision entropy ")
    assert lines[1].endswith("at most log K = 1.386 for K = 4 classes")
    assert lines[-1] == "wrote r.json, r.csv"
    assert max(len(line) for line in lines) <= 130
    data = json.loads((workdir / "r.json").read_text())
    assert data["num_samples"] == 40
    assert data["seed"] == 1
    assert data["latent_dim"] == 3
    frame = pd.read_csv(workdir / "r.csv")
    assert frame["quantity"].iloc[0] == "class_radius"
    assert frame["value"].iloc[0] == pytest.approx(data["class_radius_value"], rel=1e-12)
    assert _files(workdir) == ["r.csv", "r.json"]
    assert main(_evaluate_args(workdir, "--json", "r.json", "--overwrite", "--silent")) == 0
    assert capsys.readouterr().out == ""  # --silent: no bar, no summary


def test_evaluate_plot_writes_the_report_figure(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(_evaluate_args(workdir, "--plot", "r.png", "--silent"))
    _, err = capsys.readouterr()
    assert status == 0, err
    data = (workdir / "r.png").read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    import matplotlib.image

    height, width, _ = matplotlib.image.imread(workdir / "r.png").shape
    assert (width, height) == (1000, 780)  # the 2 x 2 panels of Report.plot at 100 dpi
    assert _files(workdir) == ["r.png"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--plot", "r.gif"), "--plot must name a .png, .pdf or .svg file; got 'r.gif'"),
        (("--json", "r.png", "--plot", "r.png"), "--json and --plot must name different files"),
    ],
)
def test_evaluate_plot_bad_destination(
    workdir: Path, capsys: pytest.CaptureFixture[str], extra: tuple[str, ...], message: str
) -> None:
    assert main(_evaluate_args(workdir, *extra, generator="raising_generator")) == 2
    assert message in capsys.readouterr().err
    assert _files(workdir) == []


def test_latent_shape_for_a_dcgan_generator(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from genloose import Report

    args = _evaluate_args(workdir, "--latent-shape", "3,1,1", "--json", "dcgan.json", "--silent", generator="DCGAN")
    del args[args.index("--latent-dim") : args.index("--latent-dim") + 2]  # the shape gives d
    assert main(args) == 0, capsys.readouterr().err
    assert Report.from_json(workdir / "dcgan.json").metadata.latent_dim == 3
    assert main([*args, "--device", "cpu", "--overwrite"]) == 0, capsys.readouterr().err
    assert main(_evaluate_args(workdir, "--latent-shape", "4,1,1", generator="DCGAN")) == 2
    assert "--latent-shape must have latent_dim=3 entries in all; got 4,1,1 (4)" in capsys.readouterr().err
    assert main(_evaluate_args(workdir, "--latent-shape", "3,x", generator="DCGAN")) == 2
    assert "must be comma-separated integers such as 100,1,1" in capsys.readouterr().err
    # without it, the first call fails and the message says what to pass
    assert main(_evaluate_args(workdir, generator="DCGAN")) == 1
    err = capsys.readouterr().err
    assert "genloose sent the generator a tensor of shape" in err


def test_existing_output_is_refused_before_any_work(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "r.json").write_text("keep me")
    status = main(_evaluate_args(workdir, "--json", "r.json", generator="raising_generator"))
    _, err = capsys.readouterr()
    assert status == 2
    assert "--json must not exist already" in err
    assert "--overwrite" in err
    assert (workdir / "r.json").read_text() == "keep me"
    assert main(_evaluate_args(workdir, "--json", "r.json", "--overwrite", "--silent")) == 0
    assert json.loads((workdir / "r.json").read_text())["seed"] == 1


def test_import_path_that_does_not_resolve(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    m = _module(workdir)
    cases = {
        "no_such_module_xyz:generator": "cannot import module 'no_such_module_xyz'",
        f"{m}:no_such_attribute": "has no attribute 'no_such_attribute'",
        "missing_colon": "must be MODULE:ATTR",
        "missing/file.py:generator": "does not exist",
    }
    for spec, message in cases.items():
        args = _evaluate_args(workdir, "--json", "r.json")
        args[args.index("--generator") + 1] = spec
        status = main(args)
        _, err = capsys.readouterr()
        assert status == 2, spec
        assert message in err, (spec, err)
        assert err.startswith("genloose evaluate: error: --generator")
        assert "Traceback" not in err
    assert _files(workdir) == []  # no partial output


def test_model_failure_exits_1_and_leaves_no_file(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(_evaluate_args(workdir, "--json", "r.json", "--csv", "r.csv", generator="nan_generator"))
    _, err = capsys.readouterr()
    assert status == 1
    assert "unusable output" in err
    assert "NaN" in err
    assert "Traceback" not in err
    assert _files(workdir) == []


def test_errors_in_user_models(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(_evaluate_args(workdir, "--json", "r.json", generator="raising_generator"))
    _, err = capsys.readouterr()
    assert status == 1
    assert "generator raised RuntimeError: user bug" in err
    assert "Traceback" not in err
    with pytest.raises(ModelOutputError, match="user bug") as caught:  # --traceback: the full story
        main(["--traceback", *_evaluate_args(workdir, "--json", "r.json", generator="raising_generator")])
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert _files(workdir) == []


def test_factories_classes_files_and_device(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    m = _module(workdir)
    args = _evaluate_args(workdir, "--device", "cpu", "--json", "r.json", "--silent", generator="Stretch")
    args[args.index("--classifier") + 1] = f"{workdir / (m + '.py')}:make_classifier"
    assert main(args) == 0, capsys.readouterr().err
    data = json.loads((workdir / "r.json").read_text())
    assert data["device"] == "cpu"
    assert load_object(f"{m}:make_classifier").__class__.__name__ != "function"
    assert load_object(f"{m}:nan_generator").__name__ == "nan_generator"  # takes a batch: not a factory


@pytest.fixture
def evaluate_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """The keyword arguments of every call of ``genloose.evaluate`` the command line makes (it still runs)."""
    import importlib

    module = importlib.import_module("genloose._evaluate")  # the module, even once genloose exports the function
    seen: list[dict] = []
    original = module.evaluate

    def spy(*args, **kwargs):
        seen.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, "evaluate", spy)
    return seen


def test_progress_and_options_reach_evaluate(workdir: Path, evaluate_calls: list[dict]) -> None:
    seen = evaluate_calls
    assert main(_evaluate_args(workdir, "--silent", "--access", "black-box", "--batch-size", "16")) == 0
    assert main(_evaluate_args(workdir, "--confidence", "0.9", "--num-classes", "4")) == 0
    assert seen[0]["progress"] is False
    assert seen[0]["access"] == "black-box"
    assert seen[0]["batch_size"] == 16
    assert seen[1]["progress"] is None
    assert seen[1]["confidence"] == 0.9
    assert seen[1]["num_classes"] == 4


def test_usage_errors_exit_2(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    m = _module(workdir)
    assert main(["evaluate", "--generator", f"{m}:generator"]) == 2  # missing required options
    assert "required" in capsys.readouterr().err
    assert main(_evaluate_args(workdir, "--num-samples", "0")) == 2
    assert "must be >= 2" in capsys.readouterr().err
    args = _evaluate_args(workdir)
    del args[args.index("--latent-dim") : args.index("--latent-dim") + 2]
    assert main(args) == 2
    assert "--latent-dim is required" in capsys.readouterr().err
    assert main(_evaluate_args(workdir, "--json", "nowhere/r.json")) == 2
    assert "existing directory" in capsys.readouterr().err
    assert main(_evaluate_args(workdir, "--json", "same", "--csv", "same")) == 2
    assert main(_evaluate_args(workdir, "--device", "not-a-device")) == 2
    assert "--device" in capsys.readouterr().err
    assert main(["frobnicate"]) == 2


def test_help_shows_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--seed SEED" in text
    assert "(default: 0)" in text
    assert "(default: 256)" in text
    assert "(default: auto)" in text
    assert "runs their code" in " ".join(text.split())
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("genloose ")
    assert main([]) == 0
    assert "evaluate" in capsys.readouterr().out
    assert build_parser().prog == "genloose"


# ----------------------------------------------------------------------------------------------
# bounds
# ----------------------------------------------------------------------------------------------


def _values(text: str) -> dict[str, str]:
    return {line.split()[0]: line.split()[1] for line in text.strip().splitlines()}


def test_bounds_for_a_distribution(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bounds", "--probabilities", "0.2,0.3,0.5", "--json", str(tmp_path / "b.json")]) == 0
    out = capsys.readouterr().out
    values = _values(out)
    assert float(values["fawzi_cap"]) == pytest.approx(fawzi_bound([0.2, 0.3, 0.5]), rel=1e-5)
    assert float(values["collision_probability"]) == pytest.approx(0.38)
    assert values["theorem_3_1_bound"] == "nan"
    assert "hypothesis every p_k <= 1/5 fails" in out
    data = json.loads((tmp_path / "b.json").read_text())
    assert data["theorem_3_1_bound"] is None
    assert data["fawzi_cap"] == pytest.approx(fawzi_bound([0.2, 0.3, 0.5]), rel=1e-12)


def test_bounds_for_classes_and_radius(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bounds", "--num-classes", "10", "--class-radius", "1.0"]) == 0
    values = _values(capsys.readouterr().out)
    assert float(values["theorem_3_2_bound"]) == pytest.approx(theorem_3_2_bound(10), rel=1e-5)
    assert float(values["collision_entropy_upper_bound"]) == pytest.approx(collision_entropy_upper_bound(1.0), rel=1e-5)


def test_bounds_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bounds"]) == 2
    assert "needs --probabilities" in capsys.readouterr().err
    assert main(["bounds", "--probabilities", "0.2,0.2"]) == 2
    assert "sum must be 1" in capsys.readouterr().err
    assert main(["bounds", "--probabilities", "a,b"]) == 2
    assert "comma-separated numbers" in capsys.readouterr().err
    assert main(["bounds", "--class-radius", "-1"]) == 2


# ----------------------------------------------------------------------------------------------
# compare
# ----------------------------------------------------------------------------------------------


def test_compare_saved_reports(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from genloose import Comparison, Report

    assert main(_evaluate_args(workdir, "--json", "plain.json", "--silent")) == 0
    assert main(_evaluate_args(workdir, "--json", "stretch.json", "--silent", generator="Stretch")) == 0
    args = [*_evaluate_args(workdir, "--json", "other_seed.json", "--silent")]
    args[args.index("--seed") + 1] = "2"
    assert main(args) == 0
    capsys.readouterr()

    status = main(["compare", "plain.json", "stretch.json", "--json", "c.json", "--plot", "c.png"])
    out, err = capsys.readouterr()
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0] == "genloose Comparison: plain vs stretch, paired (same latents), alpha=0.05"
    assert lines[1] == "same seed 1 and num_samples 40: the same latents, so the paired tests apply"
    saved = Comparison.from_json(workdir / "c.json")
    assert saved.paired
    assert saved.names == ("plain", "stretch")
    direct = __import__("genloose").compare(
        Report.from_json(workdir / "plain.json"), Report.from_json(workdir / "stretch.json"), names=("plain", "stretch")
    )
    assert saved.to_json() == direct.to_json()
    assert (workdir / "c.png").read_bytes().startswith(b"\x89PNG")

    assert main(["compare", "plain.json", "other_seed.json", "--names", "x", "y", "--alpha", "0.01"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "genloose Comparison: x vs y, independent samples, alpha=0.01"
    assert lines[1].startswith("seeds 1 and 2 differ: independent samples, so the unpaired tests apply")


def test_compare_bad_files_exit_2(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_evaluate_args(workdir, "--json", "a.json", "--silent")) == 0
    from genloose import evaluate
    from genloose.testing import sectors

    bed = sectors(4, 4)
    evaluate(bed.generator, bed.classifier, latent_dim=4, num_samples=40, seed=1, progress=False).save_json("d4.json")
    (workdir / "cut.json").write_text((workdir / "a.json").read_text()[:500])
    (workdir / "foreign.json").write_text('{"accuracy": 0.9}')
    capsys.readouterr()
    cases = {
        ("a.json", "cut.json"): "cut.json' is not valid JSON",
        ("a.json", "foreign.json"): "is not a saved genloose.Report: it has no 'format' key",
        ("a.json", "missing.json"): "which does not exist",
        ("a.json", "d4.json"): "radii of different dimensions are not comparable",
    }
    for (a, b), message in cases.items():
        assert main(["compare", a, b]) == 2, (a, b)
        assert message in capsys.readouterr().err
    assert main(["compare", "a.json", "a.json", "--alpha", "2"]) == 2
    assert "must be strictly between 0 and 1" in capsys.readouterr().err
    before = (workdir / "a.json").read_text()
    assert main(["compare", "a.json", "a.json", "--json", "a.json", "--overwrite"]) == 2
    assert "--json must not name one of the compared reports; got 'a.json'" in capsys.readouterr().err
    assert (workdir / "a.json").read_text() == before


# ----------------------------------------------------------------------------------------------
# reproduce
# ----------------------------------------------------------------------------------------------


def test_reproduce_calls_the_experiment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[tuple] = []
    fake = types.ModuleType("genloose.experiments.grid")
    fake.run_grid_experiment = lambda out, **kwargs: calls.append((out, kwargs))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "genloose.experiments.grid", fake)
    assert main(["reproduce", "grid", "--out", str(tmp_path / "g"), "--retrain", "--silent"]) == 0
    assert calls == [(tmp_path / "g", {"retrain": True, "progress": False, "overwrite": False})]
    assert main(["reproduce", "grid", "--overwrite", "--num-samples", "50", "--seed", "3"]) == 0
    assert calls[-1] == (
        Path("genloose-grid"),
        {"retrain": False, "progress": None, "overwrite": True, "num_samples": 50, "seed": 3},
    )
    assert "results in" in capsys.readouterr().out
    monkeypatch.setitem(sys.modules, "genloose.experiments.vae", None)  # import fails
    assert main(["reproduce", "vae"]) == 2
    assert "is not available" in capsys.readouterr().err
    assert main(["reproduce", "nothing"]) == 2


def test_reproduce_ends_with_a_short_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """One short line per model with the bounds' verdicts (vacuous or not), not the wide table."""
    frame = pd.DataFrame(
        {
            "model": ["VAE", "LC-VAE"],
            "latent_dim": [2, 2],
            "class_radius": [1.6, 1.9],
            "class_radius_ci_low": [1.5, 1.8],
            "class_radius_ci_high": [1.7, 2.0],
            "collision_entropy": [2.2, 1.0],
            "collision_entropy_ci_low": [2.1, 0.9],
            "collision_entropy_ci_high": [2.3, 1.1],
            "num_observed_classes": [10, 10],
            "theorem_3_1_applies": [True, False],
            "theorem_3_1_bound": [1.65, float("nan")],
            "fawzi_cap": [1.7, 0.6],
            **{f"extra_{i}": [0.0, 0.0] for i in range(20)},  # the wide columns are not printed
        }
    )
    fake = types.ModuleType("genloose.experiments.vae")
    fake.run_vae_experiment = lambda out, **kwargs: frame  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "genloose.experiments.vae", fake)
    assert main(["reproduce", "vae", "--out", str(tmp_path / "v")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1:] == [
        "VAE (d=2): class radius 1.6 [1.5, 1.7], collision entropy 2.2 [2.1, 2.3] nats (log K = 2.303)",
        "  Theorem 3.1 bound 1.65 (below the Fawzi cap 1.7)",
        f"  entropy bound G⁻¹(radius) {collision_entropy_upper_bound(1.6):.4g} nats: below log K = 2.303: informative",
        "LC-VAE (d=2): class radius 1.9 [1.8, 2], collision entropy 1 [0.9, 1.1] nats (log K = 2.303)",
        "  Theorem 3.1: does not apply (hypothesis every p_k <= 1/5 fails); no entropy bound",
    ]
    assert collision_entropy_upper_bound(1.6) < math.log(10)
    assert main(["reproduce", "vae", "--out", str(tmp_path / "v"), "--silent"]) == 0
    assert capsys.readouterr().out == ""


def test_console_entry_point_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "genloose", "bounds", "--probabilities", "0.5,0.6"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("genloose bounds: error:")
    assert "Traceback" not in done.stderr


@pytest.mark.filterwarnings("ignore::genloose.GenlooseWarning")  # a tiny sample and budget
def test_num_samples_minimum_is_the_one_evaluate_has(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from genloose._validation import MIN_SAMPLES_EVALUATE

    assert main(_evaluate_args(workdir, "--num-samples", str(MIN_SAMPLES_EVALUATE - 1))) == 2
    assert f"must be >= {MIN_SAMPLES_EVALUATE}" in capsys.readouterr().err
    expected = f"num_samples must be an integer >= {MIN_SAMPLES_EVALUATE}"
    with pytest.raises(genloose.InvalidArgumentError, match=expected):
        genloose.evaluate(lambda z: z, lambda x: x, latent_dim=3, num_samples=MIN_SAMPLES_EVALUATE - 1)
    args = _evaluate_args(workdir, "--num-samples", str(MIN_SAMPLES_EVALUATE), "--silent")
    assert main(args) == 0, capsys.readouterr().err


@pytest.mark.filterwarnings("ignore::genloose.GenlooseWarning")  # a tiny sample and budget
def test_config_file_builds_the_search_config(workdir: Path, evaluate_calls: list[dict], capsys) -> None:
    seen = evaluate_calls
    config = genloose.SearchConfig(pool_size=64, max_queries=120, rtol=1e-3)
    (workdir / "search.json").write_text(json.dumps(config.to_dict()))
    args = _evaluate_args(workdir, "--config", "search.json", "--silent", "--json", "r.json")
    del args[args.index("--pool-size") : args.index("--pool-size") + 2]
    assert main(args) == 0, capsys.readouterr().err
    assert seen[-1]["config"] == config
    saved = json.loads((workdir / "r.json").read_text())
    assert genloose.Report.from_json(json.dumps(saved)).radius_result.metadata["search_config"] == config.to_dict()
    # --pool-size overrides the file's pool_size; without --config, the flags alone make the configuration
    assert main(_evaluate_args(workdir, "--config", "search.json", "--silent")) == 0
    assert seen[-1]["config"] == dataclasses.replace(config, pool_size=32)
    assert main(_evaluate_args(workdir, "--silent")) == 0
    assert seen[-1]["config"] == genloose.SearchConfig(pool_size=32)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"rtool": 0.001}', "SearchConfig has no field 'rtool'"),
        ('{"rtol": 2.0}', "SearchConfig.rtol must be a number <= 0.5"),
        ("not json", "is not valid JSON"),
        ('["rtol", 0.001]', "data must be a mapping of SearchConfig fields"),
    ],
)
def test_a_bad_config_file_is_a_usage_error(workdir: Path, capsys, content: str, message: str) -> None:
    (workdir / "bad.json").write_text(content)
    assert main(_evaluate_args(workdir, "--config", "bad.json")) == 2
    err = capsys.readouterr().err
    assert "--config" in err
    assert message in err
    assert main(_evaluate_args(workdir, "--config", "missing.json")) == 2
    assert "--config: cannot read 'missing.json'" in capsys.readouterr().err

"""The ``genloose`` command line.

Subcommands:

* ``genloose evaluate --generator MODULE:ATTR --classifier MODULE:ATTR --latent-dim D --num-samples N``
  loads a third-party generator and classifier by import path, runs :func:`genloose.evaluate`, prints a
  short summary (:meth:`genloose.Report.summary`; none with ``--silent``) and writes the report with
  ``--json`` / ``--csv`` / ``--plot`` (atomically; existing files are refused unless ``--overwrite``).
* ``genloose compare A.json B.json`` reads two saved reports (:meth:`genloose.Report.from_json`) and
  compares them with :func:`genloose.compare` (``--json`` / ``--plot`` write the result).
* ``genloose bounds --probabilities 0.2,0.3,0.5`` (or ``--num-classes K``, ``--class-radius R``) evaluates
  the paper's bounds (:mod:`genloose.theory`).
* ``genloose reproduce grid|vae`` reruns a paper experiment (:mod:`genloose.experiments`).

Exit status: 0 on success; 2 for a usage error (bad option, an import path that does not resolve, an
invalid argument, an output file that exists); 1 when a model fails (returns unusable output, or raises:
genloose reports an exception raised inside a model as a :class:`~genloose.ModelOutputError` naming it) or
a run fails (also a file-system error such as a disk that fills up, or running out of memory); 130 on Ctrl-C
(an interrupted ``reproduce`` removes the output directories it created if they are still empty). Devices,
output destinations (an existing file, a directory that cannot be written or is full) and sizes are checked
before any work. Errors go to stderr as one line, without a traceback; ``genloose --traceback COMMAND ...``
raises them instead, with the full traceback. Exceptions raised while importing the user's module or
calling a factory are not genloose's and keep their traceback.

Loading models runs the user's code: ``MODULE:ATTR`` imports ``MODULE`` (from ``sys.path``, with the current
directory first, or a ``path/to/file.py``) and takes its attribute ``ATTR`` (dots allowed). A class, or a
callable that can be called with no arguments, is a *factory*: it is called once and its result is the
model. Anything else (a ``torch.nn.Module`` instance, a function of a batch, a :class:`genloose.Generator`
or :class:`genloose.Classifier` adapter) is the model itself.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import json
import math
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from genloose._errors import BoundHypothesisWarning, GenlooseError, InvalidArgumentError, ModelOutputError
from genloose._plugins import UsageError, load_object
from genloose._version import __version__

__all__ = ["build_parser", "experiment_summary", "load_object", "main"]

_EXPERIMENTS = {
    "grid": ("genloose.experiments.grid", "run_grid_experiment"),
    "vae": ("genloose.experiments.vae", "run_vae_experiment"),
}


# ----------------------------------------------------------------------------------------------
# evaluate
# ----------------------------------------------------------------------------------------------


def _model_inputs(args: argparse.Namespace) -> tuple[Any, Any, int | None]:
    import torch

    from genloose.models import Classifier, Generator, check_device

    device = None
    if args.device is not None:  # before the user's code is loaded: a missing GPU is a usage error
        try:
            device = check_device(args.device, name="--device")
        except InvalidArgumentError as error:
            raise UsageError(str(error)) from None
    generator = load_object(args.generator, option="--generator")
    classifier = load_object(args.classifier, option="--classifier")
    latent_dim = args.latent_dim
    if args.latent_shape is not None:
        if isinstance(generator, Generator):
            raise UsageError(
                "--generator is a genloose adapter: set latent_shape in the adapter instead of passing --latent-shape"
            )
        size = math.prod(args.latent_shape)
        if latent_dim is not None and latent_dim != size:
            raise UsageError(
                f"--latent-shape must have latent_dim={latent_dim} entries in all; got "
                f"{','.join(map(str, args.latent_shape))} ({size})"
            )
        latent_dim = size
    if device is not None:
        for name, obj in (("--generator", generator), ("--classifier", classifier)):
            if isinstance(obj, (Generator, Classifier)):
                raise UsageError(
                    f"{name} is a genloose adapter: set its device in the adapter instead of passing --device"
                )
            if isinstance(obj, torch.nn.Module):
                obj.to(device)
        generator = Generator(generator, latent_dim=latent_dim, device=device, latent_shape=args.latent_shape)
        latent_dim = None
    elif args.latent_shape is not None:
        generator = Generator(generator, latent_dim=latent_dim, latent_shape=args.latent_shape)
        latent_dim = None
    elif isinstance(generator, Generator):
        if latent_dim is not None and latent_dim != generator.latent_dim:
            raise UsageError(
                f"--latent-dim must match the generator adapter's latent_dim={generator.latent_dim}; got {latent_dim}"
            )
        latent_dim = None
    if latent_dim is None and not isinstance(generator, Generator):
        raise UsageError("--latent-dim is required (the generator is not a genloose.Generator adapter)")
    return generator, classifier, latent_dim


def _search_config(args: argparse.Namespace) -> Any:
    """The one :class:`~genloose.SearchConfig` of a run: ``--config FILE.json``, then the search flags over it."""
    import dataclasses

    from genloose.metrics.radius.config import SearchConfig

    config = SearchConfig()
    if args.config is not None:
        try:
            data = json.loads(Path(args.config).read_text(encoding="utf-8"))
        except OSError as error:
            raise UsageError(f"--config: cannot read {args.config!r} ({error.strerror or error})") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise UsageError(f"--config: {args.config!r} is not valid JSON ({error})") from None
        try:
            config = SearchConfig.from_dict(data)
        except InvalidArgumentError as error:
            raise UsageError(f"--config {args.config}: {error}") from None
    if args.pool_size is not None:
        config = dataclasses.replace(config, pool_size=args.pool_size)
    return config


def _run_evaluate(args: argparse.Namespace) -> int:
    from genloose._evaluate import evaluate

    outputs = (("--json", args.json), ("--csv", args.csv), ("--plot", args.plot))
    _check_outputs(outputs, overwrite=args.overwrite)
    config = _search_config(args)
    generator, classifier, latent_dim = _model_inputs(args)
    report = evaluate(
        generator,
        classifier,
        latent_dim=latent_dim,
        num_samples=args.num_samples,
        seed=args.seed,
        access=args.access,
        num_classes=args.num_classes,
        confidence=args.confidence,
        batch_size=args.batch_size,
        config=config,
        progress=False if args.silent else None,
    )
    # Serialise everything before writing anything, so a failure leaves no file behind.
    payloads = []
    if args.json is not None:
        payloads.append((args.json, report.to_json()))
    if args.csv is not None:
        payloads.append((args.csv, report.to_frame().to_csv(index=False)))
    if args.plot is not None:
        payloads.append((args.plot, _figure_bytes(report, args.plot)))
    _write_payloads(payloads, overwrite=args.overwrite)
    if not args.silent:
        print(report.summary())
        if payloads:
            print("wrote " + ", ".join(str(path) for path, _ in payloads))
    return 0


_FIGURE_FORMATS = ("png", "pdf", "svg")


def _check_outputs(outputs: Sequence[tuple[str, str | None]], *, overwrite: bool) -> None:
    """Fail fast, before any model runs, on an output file that cannot be written or is named twice."""
    from genloose._io import check_destination

    seen: dict[Path, str] = {}
    for option, path in outputs:
        if path is None:
            continue
        try:
            check_destination(path, overwrite=overwrite, name=option)
        except InvalidArgumentError as error:
            raise UsageError(str(error)) from None
        if option == "--plot" and Path(path).suffix.lower().lstrip(".") not in _FIGURE_FORMATS:
            raise UsageError(f"--plot must name a .png, .pdf or .svg file; got {path!r}")
        resolved = Path(path).resolve()
        if resolved in seen:
            raise UsageError(f"{seen[resolved]} and {option} must name different files")
        seen[resolved] = option


def _figure_bytes(result: Any, path: str) -> bytes:
    """Draw ``result.plot()`` and return the file's bytes (format from the suffix), closing the figure."""
    import io

    import matplotlib

    matplotlib.use("Agg")  # the command line never opens a window
    import matplotlib.pyplot as plt

    fig, _ = result.plot()
    try:
        buffer = io.BytesIO()
        fig.savefig(buffer, format=Path(path).suffix.lower().lstrip("."), dpi=100)
    finally:
        plt.close(fig)
    return buffer.getvalue()


def _write_payloads(payloads: Sequence[tuple[str, str | bytes]], *, overwrite: bool) -> None:
    from genloose._io import atomic_write_bytes, atomic_write_text

    for path, data in payloads:
        if isinstance(data, bytes):
            atomic_write_bytes(path, data, overwrite=overwrite)
        else:
            atomic_write_text(path, data, overwrite=overwrite)


# ----------------------------------------------------------------------------------------------
# compare
# ----------------------------------------------------------------------------------------------


def _run_compare(args: argparse.Namespace) -> int:
    from genloose._compare import compare
    from genloose.report import Report

    _check_outputs((("--json", args.json), ("--plot", args.plot)), overwrite=args.overwrite)
    inputs = {Path(args.report_a).resolve(), Path(args.report_b).resolve()}
    for option, path in (("--json", args.json), ("--plot", args.plot)):
        if path is not None and Path(path).resolve() in inputs:
            raise UsageError(f"{option} must not name one of the compared reports; got {path!r}")
    if args.names is not None:
        names = (args.names[0], args.names[1])
    else:
        stems = (Path(args.report_a).stem, Path(args.report_b).stem)
        names = stems if stems[0] != stems[1] else ("a", "b")
    reports = []
    for path in (args.report_a, args.report_b):
        try:
            reports.append(Report.from_json(path))
        except InvalidArgumentError as error:
            raise UsageError(str(error)) from None
    comparison = compare(reports[0], reports[1], alpha=args.alpha, names=names)
    payloads: list[tuple[str, str | bytes]] = []
    if args.json is not None:
        payloads.append((args.json, comparison.to_json()))
    if args.plot is not None:
        payloads.append((args.plot, _figure_bytes(comparison, args.plot)))
    _write_payloads(payloads, overwrite=args.overwrite)
    print(comparison)
    return 0


# ----------------------------------------------------------------------------------------------
# bounds
# ----------------------------------------------------------------------------------------------


def _parse_probabilities(text: str) -> list[float]:
    try:
        values = [float(part) for part in text.replace(" ", "").split(",") if part != ""]
    except ValueError:
        raise UsageError(f"--probabilities must be comma-separated numbers such as 0.2,0.3,0.5; got {text!r}") from None
    if not values:
        raise UsageError(f"--probabilities must hold at least one probability; got {text!r}")
    return values


def _bounds_rows(args: argparse.Namespace) -> list[tuple[str, float, str]]:
    import numpy as np

    from genloose import theory

    rows: list[tuple[str, float, str]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BoundHypothesisWarning)
        if args.probabilities is not None:
            p = np.array(_parse_probabilities(args.probabilities))
            fawzi = float(theory.fawzi_bound(p))
            q = float(np.sum(p * p))
            top = float(p.max())
            observed = int(np.count_nonzero(p))
            holds = top <= theory.HYPOTHESIS_MAX_PROBABILITY
            note = "" if holds else f"n/a: hypothesis every p_k <= 1/5 fails (max p = {top:.4g})"
            rows += [
                ("num_classes", float(observed), "classes with p_k > 0"),
                ("max_probability", top, ""),
                ("collision_probability", q, "sum_k p_k^2"),
                ("collision_entropy", -math.log(q), "-log sum_k p_k^2"),
                ("effective_number_of_classes", 1.0 / q, "1 / sum_k p_k^2"),
                ("fawzi_cap", fawzi, "Lemma B.1: E r <= U(p) for every classifier"),
                ("theorem_3_1_bound", float(theory.theorem_3_1_bound(q, max_probability=top)), note or "g(||p||^2)"),
            ]
            k_note = "g(1/K), K = classes with p_k > 0" if observed >= 5 else "n/a: needs K >= 5"
            rows.append(("theorem_3_2_bound", float(theory.theorem_3_2_bound(observed)), k_note))
        if args.num_classes is not None:
            k = args.num_classes
            note = "g(1/K)" if k >= 5 else "n/a: needs K >= 5"
            rows += [
                ("num_classes", float(k), "uniform distribution"),
                ("collision_probability", 1.0 / k, "1/K"),
                ("collision_entropy", math.log(k), "log K"),
                ("fawzi_cap", float(theory.fawzi_bound_uniform(k)), "Lemma B.1 at p = 1/K"),
                ("theorem_3_2_bound", float(theory.theorem_3_2_bound(k)), note),
            ]
        if args.class_radius is not None:
            r = args.class_radius
            limit = theory.THEOREM_3_1_RADIUS_LIMIT
            note = "" if r <= limit else f"n/a: radius > g(1/5) = {limit:.4f}, the hypothesis cannot hold"
            rows += [
                ("class_radius", r, "given"),
                ("collision_entropy_upper_bound", float(theory.collision_entropy_upper_bound(r)), note or "G^-1(r)"),
                (
                    "collision_probability_lower_bound",
                    float(theory.collision_probability_lower_bound(r)),
                    note or "exp(-G^-1(r))",
                ),
            ]
    return rows


def _run_bounds(args: argparse.Namespace) -> int:
    if args.probabilities is None and args.num_classes is None and args.class_radius is None:
        raise UsageError("bounds needs --probabilities, --num-classes or --class-radius")
    if args.json is not None:
        from genloose._io import check_destination

        try:
            check_destination(args.json, overwrite=args.overwrite, name="--json")
        except InvalidArgumentError as error:
            raise UsageError(str(error)) from None
    try:
        rows = _bounds_rows(args)
    except InvalidArgumentError as error:
        raise UsageError(str(error)) from None
    width = max(len(name) for name, _, _ in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>12.6g}  {note}".rstrip())
    if args.json is not None:
        from genloose._io import atomic_write_text

        payload = {name: (None if math.isnan(v) else ("inf" if math.isinf(v) else v)) for name, v, _ in rows}
        atomic_write_text(args.json, json.dumps(payload, indent=2) + "\n", overwrite=args.overwrite)
    return 0


# ----------------------------------------------------------------------------------------------
# reproduce
# ----------------------------------------------------------------------------------------------


def _run_reproduce(args: argparse.Namespace) -> int:
    module_name, function_name = _EXPERIMENTS[args.experiment]
    try:
        module = importlib.import_module(module_name)
        run = getattr(module, function_name)
    except (ImportError, AttributeError) as error:
        raise UsageError(f"experiment {args.experiment!r} is not available in this installation ({error})") from None
    out = Path(args.out if args.out is not None else f"genloose-{args.experiment}")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out must name a directory; got {str(out)!r}, which is an existing file")
    options: dict[str, Any] = {}
    if args.num_samples is not None:
        options["num_samples"] = args.num_samples
    if args.seed is not None:
        options["seed"] = args.seed
    created = _new_directories(out)
    try:
        result = run(
            out, retrain=args.retrain, progress=False if args.silent else None, overwrite=args.overwrite, **options
        )
    except BaseException:  # an error or Ctrl-C: leave no empty directory this run created behind
        _remove_if_empty(created)
        raise
    if args.silent:
        return 0
    print(f"genloose reproduce {args.experiment}: results in {out}")
    if result is not None and hasattr(result, "iterrows"):
        for line in experiment_summary(result):
            print(line)
    return 0


def _column(row: Any, *names: str) -> Any:
    for name in names:
        if name in row.index:
            return row[name]
    return None


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def experiment_summary(frame: Any) -> list[str]:
    """One short line per model of an experiment's table: radius and entropy with intervals, the bounds.

    Each line reads the class radius and collision entropy with their intervals, and Theorem 3.1's bound and
    the collision-entropy bound it implies, each with whether its hypothesis holds and whether it is
    **vacuous**: a radius bound at or above the Fawzi cap (which always holds), an entropy bound at or
    above :math:`\\log K` (the collision entropy never exceeds it). The full table is in the output folder.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"name": ["w12d1"], "class_radius": [0.2], "class_radius_ci_low": [0.18],
    ...     "class_radius_ci_high": [0.22], "collision_entropy": [2.2], "collision_entropy_ci_low": [2.1],
    ...     "collision_entropy_ci_high": [2.3], "num_observed_classes": [10], "theorem_3_1_applies": [True],
    ...     "theorem_3_1_bound": [1.57], "fawzi_cap": [0.47]})
    >>> for line in experiment_summary(frame):
    ...     print(line)
    w12d1: class radius 0.2 [0.18, 0.22], collision entropy 2.2 [2.1, 2.3] nats (log K = 2.303)
      Theorem 3.1 bound 1.57: vacuous (above the Fawzi cap 0.47)
      entropy bound G⁻¹(radius) 1146 nats: vacuous (above log K = 2.303)
    """
    from genloose.theory import THEOREM_3_1_RADIUS_LIMIT, collision_entropy_upper_bound

    lines = []
    for _, row in frame.iterrows():
        name = str(_column(row, "name", "model"))
        if "latent_dim" in row.index:
            name += f" (d={int(row['latent_dim'])})"
        radius = _number(_column(row, "class_radius"))
        entropy = _number(_column(row, "collision_entropy"))
        k = _number(_column(row, "num_observed_classes"))
        log_k = math.log(k) if k > 0 else math.nan

        def interval(column: str, row: Any = row) -> str:
            low, high = _number(_column(row, f"{column}_ci_low")), _number(_column(row, f"{column}_ci_high"))
            return "" if math.isnan(low) or math.isnan(high) else f" [{low:.4g}, {high:.4g}]"

        lines.append(
            f"{name}: class radius {radius:.4g}{interval('class_radius')}, collision entropy {entropy:.4g}"
            f"{interval('collision_entropy')} nats (log K = {log_k:.4g})"
        )
        applies = bool(_column(row, "theorem_3_1_applies"))
        bound = _number(_column(row, "theorem_3_1_bound"))
        cap = _number(_column(row, "fawzi_cap"))
        if not applies or math.isnan(bound):
            lines.append("  Theorem 3.1: does not apply (hypothesis every p_k <= 1/5 fails); no entropy bound")
            continue
        verdict = f": vacuous (above the Fawzi cap {cap:.4g})" if bound >= cap else f" (below the Fawzi cap {cap:.4g})"
        lines.append(f"  Theorem 3.1 bound {bound:.4g}{verdict}")
        if not 0 < radius <= THEOREM_3_1_RADIUS_LIMIT:
            lines.append("  entropy bound G⁻¹(radius): does not apply (radius above g(1/5))")
            continue
        h = float(collision_entropy_upper_bound(radius))
        verdict = f"vacuous (above log K = {log_k:.4g})" if h >= log_k else f"below log K = {log_k:.4g}: informative"
        lines.append(f"  entropy bound G⁻¹(radius) {h:.4g} nats: {verdict}")
    return lines


def _new_directories(path: Path) -> list[Path]:
    """``path`` and those of its parents that do not exist yet (deepest first)."""
    missing = []
    for candidate in (path, *path.parents):
        if candidate.exists() or str(candidate) in ("", "."):
            break
        missing.append(candidate)
    return missing


def _remove_if_empty(directories: list[Path]) -> None:
    """Remove, deepest first, the directories of a run that wrote nothing (and their empty subdirectories)."""
    for directory in directories:
        if not directory.is_dir():
            continue
        for sub in sorted(directory.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if sub.is_dir():
                with contextlib.suppress(OSError):
                    sub.rmdir()  # only succeeds when empty
        with contextlib.suppress(OSError):
            directory.rmdir()


# ----------------------------------------------------------------------------------------------
# parser
# ----------------------------------------------------------------------------------------------


def _int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer; got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}; got {value}")
        return value

    return parse


_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)


def _num_samples(text: str) -> int:
    """An argparse type: the sample sizes :func:`genloose.evaluate` accepts (the same minimum, imported late so
    that ``--help`` loads no numpy)."""
    from genloose._validation import MIN_SAMPLES_EVALUATE

    return _int_at_least(MIN_SAMPLES_EVALUATE)(text)


def _confidence(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number; got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be strictly between 0 and 1; got {value}")
    return value


def _shape(text: str) -> tuple[int, ...]:
    """An argparse type: comma-separated positive integers, e.g. 100,1,1."""
    try:
        shape = tuple(int(part) for part in text.replace(" ", "").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated integers such as 100,1,1; got {text!r}") from None
    if not shape or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"must be positive integers such as 100,1,1; got {text!r}")
    return shape


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number; got {text!r}") from None
    if not value >= 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0; got {text!r}")
    return value


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show defaults in --help, except the uninformative None and False (flags, optional files)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``genloose`` command.

    Examples
    --------
    >>> build_parser().prog
    'genloose'
    >>> build_parser().parse_args(["bounds", "--num-classes", "10"]).num_classes
    10
    """
    formatter = _DefaultsFormatter
    parser = argparse.ArgumentParser(
        prog="genloose",
        description="Measure how loose a generative model's latent space is: class radius, "
        "collision entropy, and the bounds of 'Looser is Worse' (Manoj, 2018).",
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"genloose {__version__}")
    parser.add_argument(
        "--traceback", action="store_true", help="on an error, raise it with its full traceback (for debugging)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    evaluate = commands.add_parser(
        "evaluate",
        help="evaluate a generator and a classifier given by import path",
        description="Evaluate a third-party generator and classifier (this imports and runs their code). "
        "MODULE:ATTR names a module on the Python path (the current directory is searched first) or a .py "
        "file, and an attribute in it: a model, or a class or zero-argument callable that returns one.",
        formatter_class=formatter,
    )
    evaluate.add_argument(
        "--generator", required=True, metavar="MODULE:ATTR", help="the generator g: latents -> samples"
    )
    evaluate.add_argument(
        "--classifier", required=True, metavar="MODULE:ATTR", help="the classifier c: samples -> labels or scores"
    )
    evaluate.add_argument(
        "--latent-dim",
        type=_positive_int,
        default=None,
        metavar="D",
        help="latent dimension d (required unless the generator is a genloose.Generator)",
    )
    evaluate.add_argument(
        "--num-samples",
        type=_num_samples,
        required=True,
        metavar="N",
        help="latent points (at least 2: the collision probability counts pairs)",
    )
    evaluate.add_argument(
        "--latent-shape",
        type=_shape,
        default=None,
        metavar="D,1,1",
        help="the shape of one latent as the generator takes it, e.g. 100,1,1 for the PyTorch DCGAN recipe "
        "(its product is the latent dimension; --latent-dim may then be left out)",
    )
    evaluate.add_argument("--seed", type=_non_negative_int, default=0, help="seed of the latent sample")
    evaluate.add_argument(
        "--access",
        choices=("auto", "white-box", "black-box"),
        default="auto",
        help="gradient-based search (white-box) or label queries only (black-box)",
    )
    evaluate.add_argument(
        "--num-classes",
        type=_positive_int,
        default=None,
        metavar="K",
        help="number of classes (needed for a classifier that returns labels)",
    )
    evaluate.add_argument(
        "--device",
        default=None,
        help="torch device for the models, e.g. cpu or cuda:0 (default: where the generator's parameters are)",
    )
    evaluate.add_argument("--batch-size", type=_positive_int, default=256, help="points searched together")
    evaluate.add_argument(
        "--config",
        default=None,
        metavar="FILE.json",
        help="the search configuration: a JSON object of genloose.SearchConfig fields (SearchConfig.to_dict())",
    )
    evaluate.add_argument(
        "--pool-size",
        type=_non_negative_int,
        default=None,
        help="labelled seeding pool (default: --config's, or 2048); overrides --config's pool_size",
    )
    evaluate.add_argument("--confidence", type=_confidence, default=0.95, help="level of the intervals")
    evaluate.add_argument("--json", default=None, metavar="FILE", help="write the report as JSON")
    evaluate.add_argument("--csv", default=None, metavar="FILE", help="write the report's table as CSV")
    evaluate.add_argument(
        "--plot", default=None, metavar="FILE", help="draw the report (Report.plot) to a .png, .pdf or .svg file"
    )
    evaluate.add_argument("--overwrite", action="store_true", help="replace existing output files")
    evaluate.add_argument("--silent", action="store_true", help="no progress bar and no summary on stdout")
    evaluate.set_defaults(handler=_run_evaluate)

    compare = commands.add_parser(
        "compare",
        help="compare two reports saved by 'genloose evaluate --json' (which model is more diverse)",
        description="Read two reports written by 'genloose evaluate --json' (or Report.save_json) and compare "
        "them with genloose.compare: paired tests when they share their seed and num_samples (the same "
        "latents), unpaired tests otherwise; the printout says which applies.",
        formatter_class=formatter,
    )
    compare.add_argument("report_a", metavar="A.json", help="the first saved report")
    compare.add_argument("report_b", metavar="B.json", help="the second saved report")
    compare.add_argument(
        "--names", nargs=2, default=None, metavar=("A", "B"), help="the models' names (default: the file names)"
    )
    compare.add_argument("--alpha", type=_confidence, default=0.05, help="significance level of the verdicts")
    compare.add_argument("--json", default=None, metavar="FILE", help="write the comparison as JSON")
    compare.add_argument(
        "--plot", default=None, metavar="FILE", help="draw the comparison (Comparison.plot) to a .png, .pdf or .svg"
    )
    compare.add_argument("--overwrite", action="store_true", help="replace existing output files")
    compare.set_defaults(handler=_run_compare)

    bounds = commands.add_parser(
        "bounds",
        help="evaluate the paper's bounds for a class distribution, a number of classes or a radius",
        formatter_class=formatter,
    )
    bounds.add_argument(
        "--probabilities",
        default=None,
        metavar="P1,P2,...",
        help="a class distribution (comma-separated, summing to 1)",
    )
    bounds.add_argument("--num-classes", type=_positive_int, default=None, metavar="K", help="K equally likely classes")
    bounds.add_argument(
        "--class-radius",
        type=_non_negative_float,
        default=None,
        metavar="R",
        help="a class radius: the collision entropy Theorem 3.1 allows",
    )
    bounds.add_argument("--json", default=None, metavar="FILE", help="write the values as JSON")
    bounds.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    bounds.set_defaults(handler=_run_bounds)

    reproduce = commands.add_parser("reproduce", help="rerun one of the paper's experiments", formatter_class=formatter)
    reproduce.add_argument("experiment", choices=sorted(_EXPERIMENTS), help="which experiment")
    reproduce.add_argument("--out", default=None, metavar="DIR", help="output directory (default: genloose-EXPERIMENT)")
    reproduce.add_argument("--retrain", action="store_true", help="train the models instead of loading bundled weights")
    reproduce.add_argument(
        "--num-samples",
        type=_positive_int,
        default=None,
        metavar="N",
        help="latent points per model (default: the experiment's)",
    )
    reproduce.add_argument("--seed", type=_non_negative_int, default=None, help="seed (default: the experiment's, 0)")
    reproduce.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    reproduce.add_argument("--silent", action="store_true", help="no progress bar and no summary on stdout")
    reproduce.set_defaults(handler=_run_reproduce)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``genloose`` command; returns the process exit status.

    Examples
    --------
    >>> main(["bounds", "--num-classes", "10"])  # doctest: +NORMALIZE_WHITESPACE
    num_classes                      10  uniform distribution
    collision_probability           0.1  1/K
    collision_entropy           2.30259  log K
    fawzi_cap                  0.473432  Lemma B.1 at p = 1/K
    theorem_3_2_bound           1.56808  g(1/K)
    0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version, or a usage error already printed by argparse
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 2)
    if args.command is None:
        parser.print_help()
        return 0
    if args.traceback:
        return int(args.handler(args))
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        print(f"genloose {args.command}: interrupted", file=sys.stderr)
        return 130
    except UsageError as error:
        print(f"genloose {args.command}: error: {error}", file=sys.stderr)
        return 2
    except InvalidArgumentError as error:
        print(f"genloose {args.command}: error: {error}", file=sys.stderr)
        return 2
    except ModelOutputError as error:
        print(f"genloose {args.command}: error: a model returned unusable output: {error}", file=sys.stderr)
        return 1
    except GenlooseError as error:
        print(f"genloose {args.command}: error: {error}", file=sys.stderr)
        return 1
    except MemoryError as error:
        print(f"genloose {args.command}: error: out of memory ({error}); use smaller sizes", file=sys.stderr)
        return 1
    except OSError as error:  # a disk that filled up, a directory that became unwritable during the run
        print(f"genloose {args.command}: error: {_os_error_line(error)}", file=sys.stderr)
        return 1


def _os_error_line(error: OSError) -> str:
    where = f" ({error.filename})" if getattr(error, "filename", None) else ""
    return f"cannot read or write a file: {error.strerror or error}{where}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

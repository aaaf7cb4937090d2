"""The documentation: the site builds in mkdocs strict mode, and the quickstart's code runs as printed.

* ``test_site_builds_in_strict_mode`` runs ``mkdocs build --strict`` into a temporary directory. Strict mode
  turns every warning into a failure: a broken link or anchor, a page missing from the nav or a nav entry
  without its page, an API reference (``::: genloose.x``) that does not resolve, a docstring that does not
  parse. It is skipped, with the reason, when the ``docs`` extra is not installed.
* ``test_quickstart_runs_and_prints_what_it_shows`` executes the ``python`` code blocks of
  docs/quickstart.md in order, in one namespace, like a reader pasting them into a session. Where a code
  block is followed by a ``text`` block, that block is the output the page claims: the code's stdout must
  match it, word for word, with numbers equal to a relative 1e-3 (so that a change in the estimator that
  moves a printed number shows up here and the page gets updated).

After a deliberate change, ``python tests/test_docs.py --update-quickstart`` reruns the page's code and
rewrites its ``text`` output blocks with what the code prints now (review the diff).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import math
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

_BLOCK = re.compile(r"^```(?P<lang>[a-z]*)[^\n]*\n(?P<body>.*?)^```[ \t]*$", flags=re.S | re.M)
_NUMBER = re.compile(r"([-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|nan|inf)")


def _code_blocks(page: Path) -> list[tuple[str, str | None]]:
    """The ``python`` blocks of a page, each with the ``text`` block that directly follows it (or None)."""
    text = page.read_text(encoding="utf-8")
    blocks = list(_BLOCK.finditer(text))
    out: list[tuple[str, str | None]] = []
    for i, block in enumerate(blocks):
        if block["lang"] != "python":
            continue
        expected = None
        if i + 1 < len(blocks) and blocks[i + 1]["lang"] == "text":
            between = text[block.end() : blocks[i + 1].start()]
            if not between.strip():
                expected = blocks[i + 1]["body"]
        out.append((block["body"], expected))
    return out


def _outputs_agree(expected: str, actual: str, *, rel: float = 1e-3) -> bool:
    """Same words (whitespace runs compared as one space), and numbers equal to ``rel`` relative."""
    parts_e, parts_a = _NUMBER.split(expected.strip()), _NUMBER.split(actual.strip())
    if len(parts_e) != len(parts_a):
        return False
    for k, (e, a) in enumerate(zip(parts_e, parts_a, strict=True)):
        if k % 2 == 0:  # text between numbers
            if " ".join(e.split()) != " ".join(a.split()):
                return False
            continue
        if not _numbers_agree(e, a, rel):
            return False
    return True


def _numbers_agree(expected: str, actual: str, rel: float) -> bool:
    """Integers exactly (counts); decimals to ``rel`` relative or one unit of the last printed digit."""
    x, y = float(expected), float(actual)
    if math.isnan(x) or math.isnan(y) or math.isinf(x) or math.isinf(y):
        return expected == actual
    mantissa = re.split(r"[eE]", expected)[0]
    if "." not in mantissa and "." not in re.split(r"[eE]", actual)[0]:
        return x == y
    exponent = int(re.split(r"[eE]", expected)[1]) if re.search(r"[eE]", expected) else 0
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    return math.isclose(x, y, rel_tol=rel, abs_tol=10.0 ** (exponent - decimals) * 1.000001)


def test_outputs_agree_compares_words_exactly_and_numbers_closely() -> None:
    assert _outputs_agree("radius 0.3916 ± 0.0105\n", "radius   0.39161 ± 0.0105")
    assert _outputs_agree("value nan", "value nan")
    assert not _outputs_agree("radius 0.3916", "radius 0.4016")
    assert not _outputs_agree("radius 0.3916", "radii 0.3916")
    assert not _outputs_agree("a 1 b", "a 1 b 2")
    assert not _outputs_agree("value nan", "value 0.5")
    assert not _outputs_agree("0 censored", "1 censored")  # integers exactly
    assert _outputs_agree("se 1.2e-05", "se 1.3e-05")  # one unit of the last digit
    assert not _outputs_agree("se 1.2e-05", "se 1.4e-05")


def test_quickstart_runs_and_prints_what_it_shows() -> None:
    page = DOCS / "quickstart.md"
    blocks = _code_blocks(page)
    assert len(blocks) >= 4
    assert sum(expected is not None for _, expected in blocks) >= 3
    _run_page(page, blocks)


def test_usability_page_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/figures-and-files.md runs as printed, in a scratch directory (it writes files)."""
    page = DOCS / "figures-and-files.md"
    blocks = _code_blocks(page)
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)
    _run_page(page, blocks)


def _run_page(page: Path, blocks: list[tuple[str, str | None]]) -> None:
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    numpy_state = np.random.get_state()  # the page may seed the global RNGs, as users do
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        warnings.simplefilter("error")  # a page must run without any warning it does not catch
        try:
            for number, (code, expected) in enumerate(blocks, start=1):
                stdout = io.StringIO()
                with contextlib.redirect_stdout(stdout):
                    exec(compile(code, f"{page}:block{number}", "exec"), namespace)
                if expected is not None:
                    assert _outputs_agree(expected, stdout.getvalue()), (
                        f"block {number} of {page.name} printed\n{stdout.getvalue()}\nbut the page shows\n{expected}"
                    )
        finally:
            np.random.set_state(numpy_state)


def test_site_builds_in_strict_mode(tmp_path: Path) -> None:
    missing = [
        name
        for name in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python")
        if importlib.util.find_spec(name.split(".")[0]) is None
        or (name == "mkdocstrings_handlers.python" and importlib.util.find_spec(name) is None)
    ]
    if missing:
        pytest.skip(f"the docs extra is not installed (missing {', '.join(missing)}): pip install -e '.[docs]'")
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(ROOT / "mkdocs.yml"),
            "--site-dir",
            str(tmp_path / "site"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=False,
    )
    log = process.stdout + process.stderr
    problems = [line for line in log.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert process.returncode == 0, f"mkdocs build --strict failed:\n{log}"
    assert not problems, f"mkdocs build logged warnings:\n{log}"
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "api" / "radius" / "index.html").is_file()


def _update_page(page: Path) -> None:
    """Rerun a page's python blocks and replace each following ``text`` block with the new output."""
    text = page.read_text(encoding="utf-8")
    namespace: dict[str, object] = {"__name__": "docs_update"}
    outputs: list[str] = []
    for number, (code, _) in enumerate(_code_blocks(page), start=1):
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
            exec(compile(code, f"{page}:block{number}", "exec"), namespace)
        outputs.append(stdout.getvalue())
    pieces, position, index = [], 0, -1
    blocks = list(_BLOCK.finditer(text))
    for i, block in enumerate(blocks):
        if block["lang"] == "python":
            index += 1
            continue
        previous = blocks[i - 1] if i else None
        if (
            block["lang"] == "text"
            and previous is not None
            and previous["lang"] == "python"
            and not text[previous.end() : block.start()].strip()
        ):
            body_start = block.start("body")
            pieces.append(text[position:body_start])
            pieces.append(outputs[index] if outputs[index].endswith("\n") else outputs[index] + "\n")
            position = block.end("body")
    pieces.append(text[position:])
    page.write_text("".join(pieces), encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] != ["--update-quickstart"]:
        sys.exit("usage: python tests/test_docs.py --update-quickstart")
    _update_page(DOCS / "quickstart.md")

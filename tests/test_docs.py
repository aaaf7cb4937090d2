"""The documentation: the site builds in mkdocs strict mode, and every code example runs as printed.

* ``test_site_builds_in_strict_mode`` runs ``mkdocs build --strict`` into a temporary directory. Strict mode
  turns every warning into a failure: a broken link or anchor, a page missing from the nav or a nav entry
  without its page, an API reference (``::: genloose.x``) that does not resolve, a docstring that does not
  parse. It is skipped, with the reason, when the ``docs`` extra is not installed.
* ``test_every_python_block_of_the_page_runs`` executes, for README.md and every page under docs/, the
  ``python`` code blocks in order, in one namespace, like a reader pasting them into a session, in a
  scratch directory, with progress bars off. Any error, or any warning the code does not catch, fails.
  Where a code block is followed by a ``text`` block, that block is the output the page claims: the code's
  stdout must match it, word for word, with numbers equal to a relative 1e-3 (so that a change in the
  estimator that moves a printed number shows up here and the page gets updated). A block whose fence
  carries a title starting with "Sketch" (```` ```python title="Sketch: needs your own models" ````) cannot
  run by nature and is skipped; nothing else is (docs/testing.md documents the convention). Pages that take
  minutes are marked slow with the reason (``_SLOW_PAGES``); the fast run still executes their imports.

After a deliberate change, ``python tests/test_docs.py --update [PAGE.md ...]`` reruns a page's code (by
default docs/quickstart.md) in a scratch directory and rewrites its ``text`` output blocks with what the
code prints now (review the diff).
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import importlib.util
import io
import math
import os
import re
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from genloose import SearchFailureWarning

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

# a fenced block: three or more backticks, closed by the same number (a longer fence may show a shorter one)
_BLOCK = re.compile(
    r"^(?P<fence>`{3,})(?P<lang>[a-z]*)(?P<info>[^\n]*)\n(?P<body>.*?)^(?P=fence)[ \t]*$", flags=re.S | re.M
)
_NUMBER = re.compile(r"([-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|nan|inf)")
# A ```python block that cannot run by nature (the reader's own models, a GPU, a multi-process launcher) is
# marked with a title that starts with "Sketch", e.g. ```python title="Sketch: needs your own models".
# mkdocs-material shows the title above the block; the tests skip exactly those blocks (docs/testing.md).
_SKETCH = re.compile(r'\btitle="Sketch\b')
PAGES = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


@dataclasses.dataclass(frozen=True)
class DocBlock:
    """One ```python block of a page: its code, the ``text`` block that directly follows it, where it starts."""

    code: str
    expected: str | None
    line: int
    sketch: bool


def _doc_blocks(page: Path) -> list[DocBlock]:
    """Every ``python`` block of a page, in order, sketches included."""
    text = page.read_text(encoding="utf-8")
    blocks = list(_BLOCK.finditer(text))
    out: list[DocBlock] = []
    for i, block in enumerate(blocks):
        if block["lang"] != "python":
            continue
        expected = None
        if i + 1 < len(blocks) and blocks[i + 1]["lang"] == "text":
            between = text[block.end() : blocks[i + 1].start()]
            if not between.strip():
                expected = blocks[i + 1]["body"]
        line = text.count("\n", 0, block.start()) + 1
        out.append(DocBlock(block["body"], expected, line, bool(_SKETCH.search(block["info"]))))
    return out


def _code_blocks(page: Path) -> list[tuple[str, str | None]]:
    """The runnable ``python`` blocks of a page (sketches left out), each with the ``text`` block after it."""
    return [(block.code, block.expected) for block in _doc_blocks(page) if not block.sketch]


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


def test_code_blocks_are_found_with_their_outputs_and_sketch_marks(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# t\n\n```python\nprint(1)\n```\n\n```text\n1\n```\n\n"
        '```python title="Sketch: needs your own models"\nmodel(x)\n```\n\n```bash\nls\n```\n'
        '```python title="bubble.py"\nx = 2\n```\n'
        '````markdown\n```python title="Sketch"\nshown(x)\n```\n````\n',
        encoding="utf-8",
    )
    blocks = _doc_blocks(page)
    assert [(b.code, b.expected, b.line, b.sketch) for b in blocks] == [
        ("print(1)\n", "1\n", 3, False),
        ("model(x)\n", None, 11, True),
        ("x = 2\n", None, 18, False),
    ]
    assert _code_blocks(page) == [("print(1)\n", "1\n"), ("x = 2\n", None)]


def test_the_quickstart_shows_its_outputs() -> None:
    blocks = _doc_blocks(DOCS / "quickstart.md")
    assert len(blocks) >= 4
    assert not any(block.sketch for block in blocks)
    assert sum(block.expected is not None for block in blocks) >= 3


def _page_id(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


# Pages whose code takes long by nature, with the reason; they run with GENLOOSE_SLOW=1 or -m slow. In the fast
# run, test_slow_pages_import_what_exists still runs their import statements.
_SLOW_PAGES: dict[str, str] = {
    "docs/experiments/grid.md": "the Section 3.1 reproduction at its defaults: 10 GANs x 2000 points, ~1 min",
    "docs/experiments/image-models.md": "a white-box search through a d=64 DCGAN and a CNN: ~2 min for 20 points",
    "docs/experiments/vae.md": "the Section 4 reproduction (~6 min) and the seed/penalty study (~10 min)",
}
# Warnings a page's code emits by design, with the reason (any other warning fails the page).
_PAGE_WARNINGS: dict[str, tuple[type[Warning], str]] = {
    # the reproduction runs the default search budget, under which several GANs leave points still improving
    "docs/experiments/grid.md": (SearchFailureWarning, "still improving"),
}


@pytest.mark.parametrize(
    "page",
    [
        pytest.param(page, id=_page_id(page), marks=[pytest.mark.slow] if _page_id(page) in _SLOW_PAGES else [])
        for page in PAGES
        if _doc_blocks(page)
    ],
)
def test_every_python_block_of_the_page_runs(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's ```python blocks run in order in one namespace, as a reader pasting them, in a scratch directory.

    Blocks titled "Sketch..." are skipped (and only those); a block followed by a ``text`` block must print it.
    """
    blocks = _doc_blocks(page)
    runnable = [block for block in blocks if not block.sketch]
    if not runnable:
        pytest.skip(f"every python block of {_page_id(page)} is marked as a sketch")
    monkeypatch.chdir(tmp_path)  # pages write files (report.json, results/...)
    monkeypatch.setenv("TQDM_DISABLE", "1")  # no progress bars where a page leaves progress on, as readers do
    allowed = _PAGE_WARNINGS.get(_page_id(page))
    _run_blocks(page, runnable, allowed_warning=allowed)


@pytest.mark.parametrize("name", sorted(_SLOW_PAGES))
def test_slow_pages_import_what_exists(name: str) -> None:
    """The import statements of a slow page's blocks run (modules and names move; the fast run catches it)."""
    page = ROOT / name
    imports = 0
    for block in _doc_blocks(page):
        if block.sketch:
            continue
        tree = ast.parse("\n" * block.line + block.code, filename=str(page))
        statements = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
        exec(compile(ast.Module(body=statements, type_ignores=[]), str(page), "exec"), {})
        imports += len(statements)
    assert imports >= 1, f"{name} has no import statement to check"


def _run_page(page: Path, blocks: list[tuple[str, str | None]]) -> None:
    """Run ``(code, expected output)`` pairs of ``page`` in order in one namespace (see ``_run_blocks``)."""
    _run_blocks(page, [DocBlock(code, expected, 0, sketch=False) for code, expected in blocks])


def _run_blocks(
    page: Path, blocks: list[DocBlock], *, allowed_warning: tuple[type[Warning], str] | None = None
) -> None:
    """Run the blocks in order in one namespace; a block's stdout must agree with the output the page shows.

    Any warning the code does not catch fails, but ``allowed_warning``: (category, text in its message).
    """
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    numpy_state = np.random.get_state()  # the page may seed the global RNGs, as users do
    threads = torch.get_num_threads()
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        warnings.simplefilter("error")  # a page must run without any warning it does not catch
        if allowed_warning is not None:
            warnings.filterwarnings("ignore", message=f".*{re.escape(allowed_warning[1])}", category=allowed_warning[0])
        try:
            for number, block in enumerate(blocks, start=1):
                stdout = io.StringIO()
                # padded so that a traceback names the page's own line numbers
                source = "\n" * block.line + block.code if block.line else block.code
                with contextlib.redirect_stdout(stdout):
                    exec(compile(source, str(page), "exec"), namespace)
                if block.expected is not None:
                    assert _outputs_agree(block.expected, stdout.getvalue()), (
                        f"block {number} (line {block.line}) of {page.name} printed\n{stdout.getvalue()}\n"
                        f"but the page shows\n{block.expected}"
                    )
        finally:
            np.random.set_state(numpy_state)
            torch.set_num_threads(threads)  # a page may set it, as the VAE recipe does


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
    """Rerun a page's runnable python blocks and replace each following ``text`` block with the new output."""
    text = page.read_text(encoding="utf-8")
    namespace: dict[str, object] = {"__name__": "docs_update"}
    outputs: list[str | None] = []
    for block in _doc_blocks(page):
        if block.sketch:
            outputs.append(None)
            continue
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
            exec(compile("\n" * block.line + block.code, str(page), "exec"), namespace)
        outputs.append(stdout.getvalue())
    pieces, position, index = [], 0, -1
    blocks = list(_BLOCK.finditer(text))
    for i, block in enumerate(blocks):
        if block["lang"] == "python":
            index += 1
            continue
        previous = blocks[i - 1] if i else None
        output = outputs[index] if index >= 0 else None
        if (
            block["lang"] == "text"
            and previous is not None
            and previous["lang"] == "python"
            and output is not None
            and not text[previous.end() : block.start()].strip()
        ):
            body_start = block.start("body")
            pieces.append(text[position:body_start])
            pieces.append(output if output.endswith("\n") else output + "\n")
            position = block.end("body")
    pieces.append(text[position:])
    page.write_text("".join(pieces), encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] != "--update":
        sys.exit("usage: python tests/test_docs.py --update [PAGE.md ...]  (default: docs/quickstart.md)")
    os.environ["TQDM_DISABLE"] = "1"
    pages = [Path(name).resolve() for name in sys.argv[2:]] or [DOCS / "quickstart.md"]
    with tempfile.TemporaryDirectory() as scratch:
        os.chdir(scratch)  # pages write files
        for page in pages:
            _update_page(page)

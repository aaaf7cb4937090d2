"""The README's promises: its commands match .ci/run, and its Python example runs and says what it claims."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_ci_runs_exactly_the_readme_test_command() -> None:
    commands = re.findall(r"```bash\n(.*?)\n```", README, flags=re.S)
    assert len(commands) >= 2
    test_command = commands[1]
    ci = (ROOT / ".ci" / "run").read_text()
    for part in test_command.split(" && "):
        assert part.replace("pip install", "python -m pip install --quiet").replace("pytest", "python -m pytest") in ci


def test_python_example_runs_and_matches_its_comments(capsys) -> None:
    (example,) = re.findall(r"```python\n(.*?)\n```", README, flags=re.S)
    namespace: dict = {}
    exec(compile(example.replace("seed=0)", "seed=0, progress=False)"), "README.md", "exec"), namespace)
    printed = capsys.readouterr().out.splitlines()
    assert abs(float(printed[1]) - 0.38096) < 5e-6
    assert float(printed[1]) < float(printed[2])  # the exact class radius is below the universal cap
    assert namespace["result"].estimate.contains(float(printed[1]))

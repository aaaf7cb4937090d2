"""The README's promises: its commands match .ci/run, and its Python example runs and says what it claims."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_ci_runs_exactly_the_readme_test_command_in_a_fresh_environment() -> None:
    commands = re.findall(r"```bash\n(.*?)\n```", README, flags=re.S)
    assert len(commands) >= 2
    install, test_command = commands[0], commands[1]
    assert install.startswith("pip install torch==2.13.0 && pip install -e . && ")
    assert test_command.startswith("pip install torch==2.13.0 && ")
    assert test_command.endswith(" && pytest")
    ci = (ROOT / ".ci" / "run").read_text()
    # .ci/run reads the command from the README (the second bash block) rather than keeping a copy of it
    assert "README.md" in ci
    assert 'bash -euo pipefail -c "$command"' in ci
    assert "python3 -m venv" in ci
    assert "system-site-packages" not in ci.replace("no --system-site-packages", "")


def test_python_example_runs_and_matches_its_comments(capsys) -> None:
    (example,) = re.findall(r"```python\n(.*?)\n```", README, flags=re.S)
    namespace: dict = {}
    exec(compile(example.replace("seed=0)", "seed=0, progress=False)"), "README.md", "exec"), namespace)
    printed = capsys.readouterr().out.splitlines()
    assert abs(float(printed[1]) - 0.38096) < 5e-6
    assert float(printed[1]) < float(printed[2])  # the exact class radius is below the universal cap
    assert namespace["result"].estimate.contains(float(printed[1]))

"""Every command in README.md's shell blocks works as written, in README order.

The blocks are read from README.md itself, so a changed README is what is tested. They run
in a scratch copy of the repository's top level (its own `warehouse/`, the real `.venv`
linked in), so the test never touches the developer's warehouse. `make demo` builds the
small extract every later command reads; its output must stay under 80 lines.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from kequn import PROJECT_DIR

README = PROJECT_DIR / "README.md"
# Commands the test cannot run inside itself, each with the reason.
NOT_RUN = {"make test": "it is this test suite (it would run itself)"}
DEMO_MAX_LINES = 80


def readme_commands(text: str) -> list[str]:
    """The commands of every ```bash / ```sh / ```shell block, comments stripped and lines
    continued with a backslash joined."""
    commands = []
    for block in re.findall(r"^```(?:bash|sh|shell)\n(.*?)^```", text, re.M | re.S):
        pending = ""
        for line in block.splitlines():
            command = re.sub(r"\s+#\s.*$", "", line).strip()
            if not command or command.startswith("#"):
                continue
            if command.endswith("\\"):
                pending += command[:-1].strip() + " "
                continue
            commands.append(pending + command)
            pending = ""
    return commands


def test_readme_has_the_commands_a_newcomer_runs():
    commands = readme_commands(README.read_text(encoding="utf-8"))
    assert "make demo" in commands
    assert any(c.startswith(".venv/bin/duckdb -readonly warehouse/kequn.duckdb") for c in commands)
    # a continued line is one command
    assert not any(c.endswith("\\") for c in commands)
    assert any(c.startswith(".venv/bin/mf query --metrics") and "--group-by" in c
               for c in commands)


@pytest.fixture
def scratch_repo(tmp_path: Path) -> Path:
    """A copy of the repository's tracked files (mtimes kept, so setup stays done), with the
    real .venv and node_modules linked in: the README's commands run in a clone of their own."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=PROJECT_DIR, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        src, dst = PROJECT_DIR / name, tmp_path / name
        if src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    for linked in (".venv", "node_modules"):
        (tmp_path / linked).symlink_to(PROJECT_DIR / linked)
    return tmp_path


@pytest.mark.slow
def test_every_readme_command_runs_as_written(scratch_repo: Path):
    # A newcomer's shell: not inside another make (`make test` runs this test), which would
    # make the inner make print "Entering directory" lines.
    env = {k: v for k, v in os.environ.items()
           if k not in {"MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEFILES", "MAKEOVERRIDES"}}
    env.update({"DO_NOT_TRACK": "1", "NO_COLOR": "1"})
    env.setdefault("KEQUN_MEMORY_LIMIT", "3GB")
    ran = []
    for command in readme_commands(README.read_text(encoding="utf-8")):
        if command in NOT_RUN:
            continue
        if command.startswith("export "):   # the newcomer's shell keeps it for what follows
            name, _, value = command.removeprefix("export ").partition("=")
            env[name.strip()] = value.strip()
            ran.append(command)
            continue
        proc = subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=scratch_repo,
                              env=env, capture_output=True, text=True, timeout=1500)
        assert proc.returncode == 0, (f"README command failed ({proc.returncode}): {command}\n"
                                      f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
        ran.append(command)
        if command == "make demo":
            lines = (proc.stdout + proc.stderr).splitlines()
            assert len(lines) < DEMO_MAX_LINES, f"make demo printed {len(lines)} lines"
            # the summary ends with the warehouse and build report; the docs step after it
            # with the segment report and the docs site, each a file that exists
            tail = "\n".join(lines[-5:])
            assert lines[-4].startswith("仓库: ") and lines[-3].startswith("构建报告: "), tail
            assert lines[-3].endswith("report.html"), tail
            assert lines[-2].startswith("segment report: "), tail
            assert lines[-1].startswith("docs site: "), tail
            for line in (lines[-3], lines[-2], lines[-1]):
                path = Path(line.split(": ", 1)[1])
                assert (path if path.is_absolute() else scratch_repo / path).is_file(), line
        if command.startswith(".venv/bin/duckdb"):
            assert "primary_group" in proc.stdout and "mass" in proc.stdout, proc.stdout
    assert "make demo" in ran and len(ran) >= 4

"""What `kequn build` prints: a dbt progress bar on a terminal only, dbt's log in the build
folder, one line with `--quiet`. Real dbt runs (a two-seed `dbt seed`, a real build)."""

from __future__ import annotations

import os
import re
import select
from pathlib import Path

import pytest
from conftest import FIXTURES, isolated_env, kequn

from kequn.console import NORMAL, Console
from kequn.dbt import dbt_env, run_dbt


def _seed_two(tmp: Path, console: Console):
    progress = console.dbt_progress()
    with dbt_env(tmp / "x.duckdb", tmp / "landing"):
        run_dbt(["seed", "--select", "rule_groups", "rule_age_bands"],
                target_path=tmp / "target", log_path=tmp / "logs",
                callbacks=[progress] if progress else [], echo=False)
    progress.close()
    return progress


def test_progress_bar_on_a_terminal_and_dbt_log_in_the_folder(tmp_path, capfd):
    master, slave = os.openpty()
    with os.fdopen(slave, "w", encoding="utf-8") as tty, \
            open(tmp_path / "err.txt", "w", encoding="utf-8") as err:
        progress = _seed_two(tmp_path, Console(NORMAL, out=tty, err=err))
        tty.flush()
        chunks = []
        while select.select([master], [], [], 1.0)[0]:   # everything written, in any chunks
            chunks.append(os.read(master, 65536))
        drawn = b"".join(chunks).decode("utf-8", "replace")
    os.close(master)
    assert progress.total == 2 and progress.done == 2
    assert re.search(r"dbt build .* 2/2 nodes  \d+:\d\d", drawn), drawn
    assert "rule_groups" in drawn or "rule_age_bands" in drawn
    assert drawn.endswith("\r\033[K"), "the bar is erased when dbt is done"
    assert "START seed" not in capfd.readouterr().out, "dbt's own lines stay silent"
    log = (tmp_path / "logs" / "dbt.log").read_text(encoding="utf-8")
    assert "rule_groups" in log and "[debug]" in log


def test_no_bar_when_not_a_terminal(tmp_path):
    with open(tmp_path / "out.txt", "w", encoding="utf-8") as out, \
            open(tmp_path / "err.txt", "w", encoding="utf-8") as err:
        progress = _seed_two(tmp_path, Console(NORMAL, out=out, err=err))
    assert progress.done == 2
    assert (tmp_path / "out.txt").read_text(encoding="utf-8") == ""


@pytest.mark.slow
def test_quiet_build_prints_only_the_result(tmp_path):
    proc = kequn("build", "--raw-dir", str(FIXTURES / "handwritten_extract"),
                 "--db", str(tmp_path / "kequn.duckdb"), "--quiet", env=isolated_env(tmp_path))
    lines = proc.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("kequn build: published "), proc.stdout
    assert lines[0].endswith("report.html")
    assert proc.stderr == ""

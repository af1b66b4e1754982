"""What `kequn build` prints: one line per stage, a progress bar for dbt, problems in full.

Three levels (`--quiet`, default, `--verbose`): quiet prints only the result (for cron:
one line, or the failure on stderr); the default prints a line per stage and, on a
terminal, a progress bar while dbt runs; verbose also lets dbt print its own lines. Colour
only when the stream is a terminal (and `NO_COLOR` is unset). Warnings and failures are
printed in full at every level but quiet, where failures still go to stderr.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

QUIET, NORMAL, VERBOSE = 0, 1, 2

_COLOURS = {"ok": "32", "warn": "33", "failed": "31", "dim": "2", "bold": "1"}


def use_colour(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ


@dataclass
class Console:
    level: int = NORMAL
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)

    @classmethod
    def for_args(cls, args: Any) -> Console:
        """The console a command's `--quiet` / `--verbose` flags ask for."""
        if getattr(args, "quiet", False):
            return cls(QUIET)
        return cls(VERBOSE if getattr(args, "verbose", False) else NORMAL)

    def paint(self, text: str, style: str, stream: TextIO | None = None) -> str:
        if not use_colour(stream or self.out):
            return text
        return f"\033[{_COLOURS[style]}m{text}\033[0m"

    def stage(self, name: str, status: str, detail: str, seconds: float | None = None) -> None:
        """One line per stage: `  land        ok      detail   1.2 s`."""
        if self.level < NORMAL:
            return
        took = f"  {seconds:6.1f} s" if seconds is not None else ""
        mark = self.paint(f"{status:<6}", "ok" if status == "ok" else
                          "warn" if status == "warn" else "failed")
        print(f"  {name:<11} {mark} {detail}{self.paint(took, 'dim')}", file=self.out,
              flush=True)

    def line(self, text: str = "", *, verbose_only: bool = False) -> None:
        if self.level > QUIET and (self.level >= VERBOSE or not verbose_only):
            print(text, file=self.out, flush=True)

    def result(self, text: str) -> None:
        """The outcome: printed at every level (quiet prints nothing else on success)."""
        print(text, file=self.out, flush=True)

    def problem(self, text: str) -> None:
        """A warning or failure, in full, on stderr (quiet too)."""
        print(text, file=self.err, flush=True)

    def dbt_progress(self) -> DbtProgress | None:
        return DbtProgress(self) if self.level == NORMAL else None


class DbtProgress:
    """A dbtRunner callback: a bar of nodes done of total, the current node and elapsed time.

    The bar is redrawn in place on a terminal only; elsewhere (a log file, cron, a pipe)
    nothing is printed per node. dbt's warnings and errors are printed in full either way.
    Drawn by hand (one line, `\\r` and erase-to-end) rather than with tqdm: a first try with a
    tqdm bar driven from these callbacks drew nothing during a full build and hung a small
    run at exit; the reason was not pinned down.
    """

    WIDTH = 24

    def __init__(self, console: Console):
        self.console = console
        self.total: int | None = None
        self.done = 0
        self.running: dict[str, str] = {}
        self.problems: list[str] = []
        self._start = time.perf_counter()
        self._interactive = console.out.isatty()
        self._lock = threading.Lock()
        self._drawn = False

    def __call__(self, event: Any) -> None:
        name = event.info.name
        with self._lock:
            if name == "ConcurrencyLine":
                self.total = int(event.data.node_count)
            elif name == "NodeStart":
                info = event.data.node_info
                self.running[info.unique_id] = info.node_name or info.unique_id
            elif name == "NodeFinished":
                self.running.pop(event.data.node_info.unique_id, None)
                self.done += 1
            if event.info.level in ("warn", "error") and event.info.msg.strip():
                self._problem(event.info.msg.rstrip(),
                              "warn" if event.info.level == "warn" else "failed")
            if name in ("ConcurrencyLine", "NodeStart", "NodeFinished"):
                self._draw()

    def bar(self, width: int = 100) -> str:
        """`  dbt build   ██████░░░░  120/479 nodes  0:32  int_client_measures_joined`."""
        total = self.total or 0
        filled = self.WIDTH * self.done // total if total else 0
        elapsed = int(self.elapsed())
        current = next(reversed(self.running.values()), "")
        line = (f"  dbt build   {'█' * filled}{'░' * (self.WIDTH - filled)} "
                f"{self.done}/{total} nodes  {elapsed // 60}:{elapsed % 60:02d}  {current}")
        return line[:width]

    def _draw(self) -> None:
        if not self._interactive or self.total is None:
            return
        width = shutil.get_terminal_size((100, 24)).columns - 1
        self.console.out.write("\r" + self.bar(width) + "\033[K")
        self.console.out.flush()
        self._drawn = True

    def _clear(self) -> None:
        if self._drawn:
            self.console.out.write("\r\033[K")
            self.console.out.flush()
            self._drawn = False

    def _problem(self, text: str, style: str) -> None:
        self.problems.append(text)
        self._clear()
        self.console.problem(self.console.paint(text, style, self.console.err))

    def close(self) -> None:
        with self._lock:
            self._clear()

    def elapsed(self) -> float:
        return time.perf_counter() - self._start

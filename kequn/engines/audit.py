"""The audit step of write–audit–publish, the same on every engine: run each gate on the build."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

B = TypeVar("B")


def run_gates(build: B, gates: Sequence[Callable[[B], None]], build_id: str,
              refused: Callable[[str], Exception], unchanged: str) -> None:
    """Call each gate on the build; the first that raises refuses it with `refused(message)`,
    the message naming the gate, the build, the reason and what stays `unchanged`."""
    for gate in gates:
        try:
            gate(build)
        except Exception as exc:
            name: Any = getattr(gate, "__name__", gate)
            raise refused(f"gate {name} refused build {build_id}: {exc}; {unchanged}") from exc

"""The audit step of write–audit–publish, the same on every engine: run each gate on the build."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

B = TypeVar("B")


def refusal(gate: Callable[..., Any], build_id: str, exc: BaseException, unchanged: str) -> str:
    """The message of a gate that refused a build: the gate, the build, the reason and what
    stays `unchanged`."""
    name: Any = getattr(gate, "__name__", gate)
    return f"gate {name} refused build {build_id}: {exc}; {unchanged}"


def run_gates(build: B, gates: Sequence[Callable[[B], None]], build_id: str,
              refused: Callable[[str], Exception], unchanged: str) -> None:
    """Call each gate on the build; the first that raises refuses it with `refused(message)`
    (see `refusal`)."""
    for gate in gates:
        try:
            gate(build)
        except Exception as exc:
            raise refused(refusal(gate, build_id, exc, unchanged)) from exc

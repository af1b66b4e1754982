"""Process environment overrides for an in-process dbt run (profiles.yml reads env vars)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def overridden(overrides: dict[str, str]) -> Iterator[None]:
    """Set `overrides` in os.environ for the block, then restore what was there."""
    saved = {k: os.environ.get(k) for k in overrides}
    os.environ.update(overrides)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

"""`kequn generate --append-day`: the next weekday's delivery files."""

from __future__ import annotations


def run_append(args) -> int:
    raise NotImplementedError

"""Synthetic raw extracts (the contract's format) with a ground truth beside them."""

from kequn.generator.main import run_generate

__all__ = ["run_generate"]

"""`kequn generate`: synthetic extracts that follow the raw contract (see kequn.generator)."""

from kequn.generator.main import run_generate

__all__ = ["run_generate"]

"""kequn (客群): client segmentation for a securities brokerage, built with dbt."""

from pathlib import Path

__version__ = "0.1.0"

PROJECT_DIR = Path(__file__).resolve().parent.parent

"""kequn (客群): client segmentation for a securities brokerage, built with dbt."""

import warnings
from pathlib import Path

__version__ = "0.1.0"

PROJECT_DIR = Path(__file__).resolve().parent.parent

# DuckDB buffer pool of every DuckDB the pipeline opens (dbt's, the gates', the bench's
# limit step) unless KEQUN_MEMORY_LIMIT says otherwise; profiles.yml repeats it for dbt.
DEFAULT_MEMORY_LIMIT = "6GB"

# GX (gates, docs) imports pyspark when it is installed (it is, for the Spark target), and
# pyspark warns about pandas 3 on import; on DuckDB nothing uses it: keep it off the console
warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas",
                        category=FutureWarning)

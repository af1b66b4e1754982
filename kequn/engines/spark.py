"""The local Spark session: local[2], its warehouse and Derby metastore under a project folder.

profiles.yml's `spark` target sets the same options from the same variables; use this module
from Python (tests, write–audit–publish) so both agree. Hive support writes `metastore_db/`
and `derby.log` into the working directory unless told otherwise: here they go to
`<root>/metastore_db` and `<root>/derby.log`, the tables to `<root>/warehouse`. dbt-spark's
session method calls `SparkSession.builder.getOrCreate()`, so in one Python process dbt and
this module share one session (one JVM; options apply when the first one starts).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kequn import PROJECT_DIR

DEFAULT_DIR = PROJECT_DIR / "warehouse" / "spark"


def spark_dir() -> Path:
    return Path(os.environ.get("KEQUN_SPARK_DIR", DEFAULT_DIR)).resolve()


def session_conf(root: Path | None = None) -> dict[str, str]:
    """The Spark options of profiles.yml's `spark` target, for a session rooted at `root`."""
    root = (root or spark_dir()).resolve()
    return {
        "spark.master": os.environ.get("KEQUN_SPARK_MASTER", "local[2]"),
        "spark.driver.memory": os.environ.get("KEQUN_SPARK_DRIVER_MEMORY", "3g"),
        "spark.sql.shuffle.partitions": os.environ.get("KEQUN_SPARK_SHUFFLE_PARTITIONS", "4"),
        "spark.sql.session.timeZone": "Asia/Shanghai",
        "spark.ui.enabled": "false",
        "spark.sql.warehouse.dir": str(root / "warehouse"),
        "spark.hadoop.javax.jdo.option.ConnectionURL":
            f"jdbc:derby:;databaseName={root / 'metastore_db'};create=true",
        "spark.driver.extraJavaOptions":
            f"-Dderby.system.home={root} -Dderby.stream.error.file={root / 'derby.log'}",
    }


def environ(root: Path | None = None) -> dict[str, str]:
    """Variables that point profiles.yml's `spark` target at `root` (absolute)."""
    return {"KEQUN_SPARK_DIR": str((root or spark_dir()).resolve())}


def session(root: Path | None = None) -> Any:
    """The process's SparkSession with Hive support, created with `session_conf` if none
    runs yet (pyspark.sql.SparkSession)."""
    from pyspark.sql import SparkSession

    root = (root or spark_dir()).resolve()
    root.mkdir(parents=True, exist_ok=True)
    builder = SparkSession.builder.enableHiveSupport()
    for key, value in session_conf(root).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark

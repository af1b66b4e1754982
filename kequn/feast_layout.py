"""The training data as a Parquet layout Feast's `FileSource` reads (`kequn export --feast`).

Feast (feast[duckdb] 0.67) needs pandas < 3 and the project pins pandas 3.1, so Feast is not
a dependency (DECISIONS.md); `feature_repo/` defines the feature view over these files and
runs in a venv of its own. Two files, both keyed by the entity `client_id`:

- `client_features_monthly.parquet`: every calendar month-end row of
  marts.client_features_monthly, `event_timestamp` = the month end (00:00 UTC),
  `created_timestamp` = when this export wrote it (Feast uses it only to break ties);
  decimals as double and dates as timestamps, the types Feast maps.
- `churn_labels.parquet`: marts.client_churn_training_set's keys and label (plus the rule
  score baseline), the entity dataframe for `get_historical_features`.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import duckdb

FEATURES_FILE = "client_features_monthly.parquet"
LABELS_FILE = "churn_labels.parquet"
_NOT_FEATURES = {"client_id", "month_end", "is_month_end", "rule_version",
                 "partition_month_end", "_batch_id"}


def _feast_type(column: str, data_type: str) -> str:
    """A column cast to a type Feast's Parquet reader maps (no decimals, no dates)."""
    if data_type.startswith("DECIMAL"):
        return f"cast({column} as double) as {column}"
    if data_type == "DATE":
        return f"cast({column} as timestamptz) as {column}"
    return column


def _copy(con: duckdb.DuckDBPyConnection, sql: str, path: Path) -> int:
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    con.execute(f"copy ({sql}) to '{tmp}' (format parquet)")
    os.replace(tmp, path)
    return con.execute(f"select count(*) from read_parquet('{path}')").fetchone()[0]


def write_feast_layout(db: Path, folder: Path) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    created = datetime.now(UTC).replace(microsecond=0).isoformat()
    con = duckdb.connect(str(db), read_only=True)
    try:
        con.execute("set TimeZone = 'UTC'")
        columns = con.execute("describe marts.client_features_monthly").fetchall()
        features = ", ".join(_feast_type(name, dtype) for name, dtype, *_ in columns
                             if name not in _NOT_FEATURES)
        n_features = _copy(con, f"""
            select client_id, cast(month_end as timestamptz) as event_timestamp,
                   cast('{created}' as timestamptz) as created_timestamp, {features}
            from marts.client_features_monthly where is_month_end
            order by month_end, client_id""", folder / FEATURES_FILE)
        n_labels = _copy(con, """
            select client_id, cast(month_end as timestamptz) as event_timestamp,
                   is_churned_within_window, cast(churn_risk_score as double)
                   as churn_risk_score, lifecycle_stage
            from marts.client_churn_training_set
            order by month_end, client_id""", folder / LABELS_FILE)
    finally:
        con.close()
    return [f"feast layout: {n_features:,} feature rows in {folder / FEATURES_FILE}, "
            f"{n_labels:,} labelled rows in {folder / LABELS_FILE}"]

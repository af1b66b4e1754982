"""Feast definitions over the Parquet layout `kequn export --feast` writes.

Run in a separate venv (Feast needs pandas < 3; the project pins pandas 3.1):

    python3 -m venv .venv-feast
    .venv-feast/bin/pip install "feast[duckdb]==0.67.0" "pandas==2.3.3"
    .venv/bin/kequn export --db warehouse/kequn.duckdb --out warehouse/exports --feast
    cd feature_repo
    KEQUN_FEAST_DIR=../warehouse/exports/feast ../.venv-feast/bin/feast apply
    KEQUN_FEAST_DIR=../warehouse/exports/feast ../.venv-feast/bin/python kequn_features.py

The feature view reads `client_features_monthly.parquet` (entity `client_id`, event time =
the calendar month end, created time = when the export wrote it); the labels file is the
entity dataframe of a point-in-time join, so each label row gets the features of its own
month end and never a later one.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.types import Float64, Int64, String, UnixTimestamp

FEAST_DIR = Path(os.environ.get("KEQUN_FEAST_DIR", "../warehouse/exports/feast")).resolve()

client = Entity(name="client", join_keys=["client_id"], value_type=ValueType.STRING,
                description="A brokerage client (客户), keyed by client_id; never PII.")

client_features_source = FileSource(
    name="client_features_monthly",
    path=str(FEAST_DIR / "client_features_monthly.parquet"),
    timestamp_field="event_timestamp",
    created_timestamp_column="created_timestamp",
    description="marts.client_features_monthly, calendar month-end rows (point-in-time).",
)

client_features_monthly = FeatureView(
    name="client_features_monthly",
    entities=[client],
    # a month-end row answers for the month after it, never for an earlier date
    ttl=timedelta(days=31),
    schema=[
        Field(name="snapshot_date", dtype=UnixTimestamp),
        Field(name="age", dtype=Int64),
        Field(name="gender", dtype=String),
        Field(name="days_since_open", dtype=Int64),
        Field(name="total_assets", dtype=Float64),
        Field(name="holdings_value", dtype=Float64),
        Field(name="cash_balance", dtype=Float64),
        Field(name="margin_debt", dtype=Float64),
        Field(name="net_assets", dtype=Float64),
        Field(name="liability_ratio", dtype=Float64),
        Field(name="high_risk_share", dtype=Float64),
        Field(name="fixed_income_share", dtype=Float64),
        Field(name="tech_share", dtype=Float64),
        Field(name="restricted_value", dtype=Float64),
        Field(name="trades_30d", dtype=Int64),
        Field(name="trades_90d", dtype=Int64),
        Field(name="trades_365d", dtype=Int64),
        Field(name="trade_amount_90d", dtype=Float64),
        Field(name="days_since_last_trade", dtype=Int64),
        Field(name="first_trade_date", dtype=UnixTimestamp),
        Field(name="online_trade_share", dtype=Float64),
        Field(name="net_inflow_30d", dtype=Float64),
        Field(name="net_inflow_90d", dtype=Float64),
        Field(name="logins_30d", dtype=Int64),
        Field(name="logins_90d", dtype=Int64),
        Field(name="content_views_90d", dtype=Int64),
        Field(name="learning_events_90d", dtype=Int64),
        Field(name="assets_change_90d", dtype=Float64),
    ],
    source=client_features_source,
    online=True,
    tags={"owner": "data-science", "mart": "client_features_monthly"},
)


def training_frame():  # pragma: no cover - runs in the Feast venv only
    """The churn training set through Feast's point-in-time join."""
    import pandas as pd
    from feast import FeatureStore

    labels = pd.read_parquet(FEAST_DIR / "churn_labels.parquet")
    store = FeatureStore(repo_path=str(Path(__file__).parent))
    features = [f"client_features_monthly:{f.name}" for f in client_features_monthly.schema]
    return store.get_historical_features(entity_df=labels, features=features).to_df()


if __name__ == "__main__":  # pragma: no cover
    frame = training_frame()
    print(frame.shape, frame["is_churned_within_window"].mean())

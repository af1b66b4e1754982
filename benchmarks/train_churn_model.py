"""Train a gradient-boosted churn model on marts.client_churn_training_set and compare it
with the rule-based churn score (客户流失预警) on the same rows.

    .venv/bin/python benchmarks/train_churn_model.py --db warehouse/kequn.duckdb

The test month is the latest labelled month end M (or --test-month). The model trains on the
months whose label window (M', M' + 90 days] ends on or before M, so no training label looks
into the test period; it sees only the point-in-time features at M' (the rule score and the
label columns are not features). Both AUCs are computed on every row of the test month.
Prints a summary and writes it as JSON (--out, default benchmarks/results/churn_model.json).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

NOT_FEATURES = {"client_id", "month_end", "label_window_end", "is_churned_within_window",
                "label_observed_date", "label_observed_stage", "churn_risk_score",
                "churn_risk_level", "rule_version", "snapshot_date", "first_trade_date"}
CATEGORICAL = ("gender", "lifecycle_stage")


def load(db: Path) -> pd.DataFrame:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.sql("select * from marts.client_churn_training_set "
                       "order by month_end, client_id").df()
    finally:
        con.close()


def features(frame: pd.DataFrame) -> pd.DataFrame:
    x = frame[[c for c in frame.columns if c not in NOT_FEATURES]].copy()
    x["days_since_first_trade"] = (pd.to_datetime(frame["month_end"])
                                   - pd.to_datetime(frame["first_trade_date"])).dt.days
    for column in x.columns:
        if column in CATEGORICAL:
            x[column] = x[column].astype("category")
        else:
            x[column] = pd.to_numeric(x[column], errors="raise").astype("float64")
    return x


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run(db: Path, test_month: date | None, seed: int) -> dict[str, object]:
    frame = load(db)
    if frame.empty:
        raise SystemExit(f"{db}: marts.client_churn_training_set is empty")
    months = sorted(frame["month_end"].unique())
    test = pd.Timestamp(test_month) if test_month else pd.Timestamp(months[-1])
    month_end = pd.to_datetime(frame["month_end"])
    window_end = pd.to_datetime(frame["label_window_end"])
    train_rows = frame[window_end <= test]
    test_rows = frame[month_end == test]
    y_train = train_rows["is_churned_within_window"].astype(int)
    y_test = test_rows["is_churned_within_window"].astype(int)
    if y_test.nunique() < 2 or y_train.nunique() < 2:
        raise SystemExit(f"need both labels in the training and test rows (test month {test:%F}:"
                         f" {int(y_test.sum())} of {len(y_test)} positive)")
    model = HistGradientBoostingClassifier(max_iter=300, learning_rate=0.05,
                                           categorical_features="from_dtype",
                                           random_state=seed)
    model.fit(features(train_rows), y_train)
    predicted = model.predict_proba(features(test_rows))[:, 1]
    rule_score = test_rows["churn_risk_score"].astype("float64").fillna(0.0).to_numpy()
    return {
        "db": str(db),
        "test_month": f"{test:%F}",
        "train_months": f"{pd.Timestamp(train_rows['month_end'].min()):%F}.."
                        f"{pd.Timestamp(train_rows['month_end'].max()):%F}",
        "train_rows": len(train_rows), "train_positives": int(y_train.sum()),
        "test_rows": len(test_rows), "test_positives": int(y_test.sum()),
        "model": f"sklearn HistGradientBoostingClassifier (scikit-learn {sklearn.__version__})",
        "model_auc": round(float(roc_auc_score(y_test, predicted)), 4),
        "rule_score_auc": round(float(roc_auc_score(y_test, rule_score)), 4),
        "model_iterations": int(model.n_iter_),
        "commit": _commit(), "python": platform.python_version(),
        "numpy": np.__version__, "pandas": pd.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", type=Path, default=Path("warehouse/kequn.duckdb"),
                   help="published warehouse (default warehouse/kequn.duckdb)")
    p.add_argument("--test-month", type=date.fromisoformat, default=None,
                   help="month end to evaluate on (default: the latest labelled one)")
    p.add_argument("--seed", type=int, default=0, help="model random state (default 0)")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/churn_model.json"),
                   help="JSON result file (default benchmarks/results/churn_model.json)")
    args = p.parse_args(argv)
    result = run(args.db, args.test_month, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for key, value in result.items():
        print(f"{key:>16}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where a warehouse keeps its state, found from its DB path alone and never shared.

`warehouse/kequn.duckdb` keeps everything it owns (what was delivered and read, build
folders, gate history, reports, frozen campaign cohorts) in `warehouse/kequn.state/`, so two
warehouses in one folder never see each other's files.
"""

from __future__ import annotations

from pathlib import Path


def state_dir(db: Path | str) -> Path:
    """The state folder of the warehouse at `db`: `<db dir>/<db stem>.state/`."""
    db = Path(db).resolve()
    return db.with_name(db.stem + ".state")

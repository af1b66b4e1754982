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


def working_db(db: Path | str) -> Path:
    """The working database of the warehouse at `db`: `<state>/work/<db name>`.

    It holds everything a build computes (base, staging, intermediate and the marts) and
    nightly builds update it in place; the published file at `db` holds only what readers
    read, written fresh from it by each published build (see kequn/publish.py). Same file
    name as `db`, so both open under the same catalog name.
    """
    db = Path(db).resolve()
    return state_dir(db) / "work" / db.name

"""The truth's persona table: the spec's groups and lifecycle per client, from the values
the extract carries (shared by a fresh extract and an appended day)."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pyarrow as pa

from kequn.generator import tables as tb
from kequn.generator.common import EDUCATION, INDUSTRIES, NO_BIRTH, OCCUPATIONS
from kequn.generator.population import ARCHETYPES, KIND_NAMES, Pop
from kequn.generator.truth import (
    age_years,
    boundary_sensitive,
    group_flags,
    group_strings,
    lifecycle,
)


def written_cny(local: np.ndarray, cny: np.ndarray) -> np.ndarray:
    """CNY values as the extract states them: the local amount rounded to the 2 decimals
    written, at the rate it was converted with (cny / local)."""
    local = np.asarray(local, float)
    rate = np.divide(cny, local, out=np.ones_like(local), where=local != 0)
    return np.round(local, 2) * rate


def count_by(c: np.ndarray, n: int, weights=None) -> np.ndarray:
    return np.bincount(c, weights, minlength=n)


def max_by(c: np.ndarray, v: np.ndarray, n: int, empty: int = -1) -> np.ndarray:
    out = np.full(n, empty, np.int64)
    np.maximum.at(out, c, v)
    return out


def pop_table(pop: Pop) -> pa.Table:
    return pa.table({f.name: getattr(pop, f.name) for f in fields(Pop)})


def truth_rows(pop: Pop, as_of: int, *, total_assets, ever_funded, has_trade, last_trade,
               last_login, trades_90d, closed, restricted_star, dirt_text) -> pa.Table:
    ind = pop.ctype == 0
    flags = group_flags(birth=pop.birth, male=pop.male, occ=pop.occ, industry=pop.industry,
                        board=pop.board, title=pop.title, edu=pop.edu, children=pop.children,
                        child_year=pop.child_year, restricted_star=restricted_star,
                        individual=ind, as_of=as_of)
    codes, primary = group_strings(flags)
    life = lifecycle(closed=closed, ever_funded=ever_funded, total_assets=total_assets,
                     has_trade=has_trade, last_trade=last_trade, last_login=last_login,
                     open_day=pop.open_day, as_of=as_of)
    bsens = boundary_sensitive(has_trade=has_trade, last_trade=last_trade,
                               last_login=last_login, as_of=as_of)
    def opt(values, mask):
        return pa.array(np.where(mask, values, None).tolist(), pa.string())

    return pa.table({
        "client_id": tb.client_ids(pop.g),
        "client_type": pa.array(np.array(["individual", "institution", "test"])[pop.ctype]),
        "birth_date": pa.array(np.where(ind, pop.birth, 0).astype("datetime64[D]"),
                               mask=~ind).cast(pa.date32()),
        "gender": opt(np.where(pop.male, "M", "F"), ind),
        "occupation": opt(np.array(OCCUPATIONS + ("",), object)[pop.occ], ind & (pop.occ >= 0)),
        "age": pa.array(age_years(np.where(ind, pop.birth, NO_BIRTH), as_of), mask=~ind),
        "planted_groups": opt(codes, ind),
        "planted_primary_group": opt(primary, ind),
        "planted_lifecycle": opt(life, ind),
        "is_churner": pa.array(np.isin(pop.kind, [2, 3])),
        "churn_phase": opt(np.array(KIND_NAMES, object)[pop.kind], np.isin(pop.kind, [2, 3])),
        "planned_story": pa.array(np.array(KIND_NAMES, object)[pop.kind].tolist()),
        "archetype": pa.array(np.array(ARCHETYPES, object)[pop.arche].tolist()),
        "dirt_affecting_segmentation": pa.array(dirt_text.tolist(), pa.string()),
        "boundary_sensitive": pa.array(bsens),
        "total_assets": pa.array(np.round(total_assets, 2)),
        "trades_90d": pa.array(trades_90d.astype(np.int64)),
        "last_trade_date": pa.array(np.where(has_trade, last_trade, 0).astype("datetime64[D]"),
                                    mask=~has_trade).cast(pa.date32()),
        "last_login_date": pa.array(np.maximum(last_login, 0).astype("datetime64[D]"),
                                    mask=last_login < 0).cast(pa.date32()),
        "ever_funded": pa.array(ever_funded),
        "open_date": pa.array(pop.open_day.astype("datetime64[D]")).cast(pa.date32()),
        "open_channel": opt(np.array(
            ("app", "branch", "partner_bank", "campus_event", "community_event",
             "senior_university", "mom_community", "social_media", "chamber_of_commerce",
             "tech_park", "referral", ""), object)[pop.open_channel], pop.open_channel >= 0),
        "employer_industry": opt(np.array(INDUSTRIES + ("",), object)[pop.industry],
                                 pop.industry >= 0),
        "employer_listed_board": opt(np.array(("main", "star", "chinext", "bse", "hk", ""),
                                              object)[pop.board], pop.board >= 0),
        "exec_job_title": pa.array(pop.title >= 0),
        "education": opt(np.array(EDUCATION + ("",), object)[pop.edu], pop.edu >= 0),
        "children_count": pa.array(pop.children, mask=pop.children < 0),
        "youngest_child_birth_year": pa.array(pop.child_year, mask=pop.child_year <= 0),
        "holds_restricted_star": pa.array(restricted_star),
        "risk_level": opt(np.array(["", "C1", "C2", "C3", "C4", "C5"], object)[pop.risk],
                          pop.risk > 0),
        "risk_assessed_date": pa.array(np.maximum(pop.risk_date, 0).astype("datetime64[D]"),
                                       mask=pop.risk <= 0).cast(pa.date32()),
    })

"""Plant a known treatment effect on a frozen campaign cohort (`kequn generate --append-day
--treat-campaign PATH --treatment-effect P`).

Of the cohort's n treatment-arm clients that were zombies at the freeze, round(P * n) chosen
uniformly at random (each with probability P) convert: on the first appended day after the
cohort's as-of date on which it has still never traded, each makes its first filled trades.
Control-arm clients and everyone else are simulated exactly as without the option (the
extra trades come from their own random stream), so the measured uplift of
`zombie_conversion` should recover P. Which clients convert is fixed by (seed, campaign
name, client id), whatever day is appended.
"""

from __future__ import annotations

import dataclasses
import zlib
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from kequn.generator import activity as act
from kequn.generator.common import day, rng_for
from kequn.generator.population import ACTIVE, NEVER, Pop

TRADES_PER_CONVERSION_DAY = 6     # expected first-day trades: P(no trade at all) = e^-6


def converting_clients(cohort: Path, effect: float, seed: int) -> tuple[np.ndarray, int]:
    """Global client numbers of the treated zombies that convert, and the cohort's as-of day."""
    if not 0 <= effect <= 1:
        raise ValueError(f"--treatment-effect {effect}: must be between 0 and 1")
    t = pq.read_table(cohort, columns=["campaign_name", "client_id", "arm",
                                       "baseline_lifecycle_stage", "as_of_date"])
    ids = np.asarray(t["client_id"].to_pylist(), object)
    treated = ((np.asarray(t["arm"].to_pylist(), object) == "treatment")
               & (np.asarray(t["baseline_lifecycle_stage"].to_pylist(), object) == "zombie"))
    names = set(t["campaign_name"].to_pylist())
    if len(names) != 1:
        raise ValueError(f"{cohort}: expected one campaign per frozen file, found {sorted(names)}")
    salt = zlib.crc32(names.pop().encode())
    g = np.sort(np.array([int(x[1:]) - 1 for x in ids[treated]], np.int64))
    # exactly round(P * n) of them, a uniform random subset: each converts with probability
    # P, and the planted effect on this cohort is P itself, not a binomial draw around it
    order = np.random.default_rng([seed, salt]).permutation(len(g))
    as_of = day(min(t["as_of_date"].to_pylist()))
    return np.sort(g[order[:round(effect * len(g))]]), as_of


def treated_trades(cohort: Path, effect: float, seed: int, d: int, pop: Pop,
                   has_traded: np.ndarray, acc, pos, prod, prices, fx, cal) -> act.Trades | None:
    """First trades, on day d, of the converting clients that have never traded yet."""
    convert, as_of = converting_clients(cohort, effect, seed)
    if d <= as_of or not len(convert):
        return None
    traded = np.zeros(pop.n, bool)
    traded[:len(has_traded)] = has_traded
    idx = np.flatnonzero(np.isin(pop.g, convert) & ~traded & (pop.close_day > d))
    if not len(idx):
        return None
    # only these clients trade, and only on day d
    fund_day = np.full(pop.n, NEVER, pop.fund_day.dtype)
    fund_day[idx] = d
    kind, act_end, rate = pop.kind.copy(), pop.act_end.copy(), pop.trade_rate.copy()
    kind[idx], act_end[idx] = ACTIVE, d
    rate[idx] = TRADES_PER_CONVERSION_DAY * 261.0
    drain = np.full(pop.n, NEVER, pop.drain_start.dtype)
    sub = dataclasses.replace(pop, kind=kind, fund_day=fund_day, act_end=act_end,
                              trade_rate=rate, drain_start=drain, drain_end=drain)
    return act.make_trades(sub, acc, pos, prod, prices, fx, cal, rng_for(seed, 61, d),
                           first_trade_boost=False)


def with_treatment(tr: act.Trades, args, seed: int, d: int, pop: Pop, has_traded: np.ndarray,
                   acc, pos, prod, prices, fx, cal) -> act.Trades:
    """The day's trades plus the planted conversions (unchanged without --treat-campaign)."""
    cohort = getattr(args, "treat_campaign", None)
    if cohort is None:
        return tr
    extra = treated_trades(Path(cohort), float(args.treatment_effect), seed, d, pop,
                           has_traded, acc, pos, prod, prices, fx, cal)
    if extra is None:
        return tr
    both = act.Trades(*(np.concatenate([getattr(tr, f), getattr(extra, f)])
                        for f in act.Trades.__dataclass_fields__))
    order = np.lexsort((both.c, both.secs))
    return act.Trades(*(getattr(both, f)[order] for f in act.Trades.__dataclass_fields__))

"""`kequn generate --append-day`: the next weekday's delivery files for an existing extract.

The truth folder's `state/` holds what the day needs (clients' stories and activity summary,
positions, accounts, last prices); the day is simulated from it with a random stream keyed
by (seed, day), written as new `<table>/<day>.csv` files (existing files are never touched),
and the truth (personas, meta, dirt) is brought forward to the new reference date.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import fields
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from kequn.generator import activity as act
from kequn.generator import tables as tb
from kequn.generator.common import OCC, OCC_LABELS, dates, day, num, rng_for, timestamps, to_date
from kequn.generator.output import Sink
from kequn.generator.personas import count_by, max_by, pop_table, truth_rows, written_cny
from kequn.generator.population import NEVER, Pop, make_population
from kequn.generator.treatment import with_treatment
from kequn.generator.world import Calendar, build_products


class DayCalendar(Calendar):
    """A calendar of one delivery day: every row goes to that day's file."""

    def file_index(self, days):
        return np.zeros(len(np.asarray(days)), np.int64)


def day_calendar(prev_ref: int, d: int) -> DayCalendar:
    return DayCalendar(
        ref=d, window_start=prev_ref + 1, month_ends=np.array([], np.int64),
        daily=np.array([d]), snapshots=np.array([d]), history_months=[], ref_month_start=d,
        bdays=np.array([d]), resend_day=-1, event_files=[str(to_date(d))],
    )


def _concat_pop(a: Pop, b: Pop) -> Pop:
    return Pop(**{f.name: np.concatenate([getattr(a, f.name), getattr(b, f.name)])
                  for f in fields(Pop)})


def _drop_as_of_labels(text: np.ndarray) -> np.ndarray:
    out = []
    for t in text:
        keep = [x for x in (t or "").split(";") if x and not x.endswith("_on_as_of")]
        out.append(";".join(keep))
    return np.array(out, object)


def _merge_text(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = []
    for x, y in zip(a, b, strict=True):
        labels = [v for v in (x or "").split(";") if v]
        labels += [v for v in (y or "").split(";") if v and v not in labels]
        out.append(";".join(labels))
    return np.array(out, object)


def run_append(args) -> int:
    out = Path(args.out).resolve()
    staging = out.parent / f".{out.name}.appending"
    try:
        return _append(args)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def _append(args) -> int:
    out = Path(args.out).resolve()
    truth = Path(args.truth).resolve() if args.truth else out.parent / (out.name + ".truth")
    meta_path = truth / "meta.json"
    if not meta_path.is_file() or not (truth / "state").is_dir():
        print(f"error: --append-day needs an extract written by kequn generate; {meta_path} "
              "or its state/ folder is missing", file=sys.stderr)
        return 2
    meta = json.loads(meta_path.read_text())
    seed = int(meta["seed"])
    if args.seed != seed:
        print(f"note: using the extract's seed {seed} (not --seed {args.seed})", file=sys.stderr)
    prev = date.fromisoformat(meta["ref_date"])
    new = prev + timedelta(days=1)
    while new.weekday() >= 5:
        new += timedelta(days=1)
    name = f"{new}.csv"
    tables = ("clients", "accounts", "fx_rates", "holdings", "balances", "trades",
              "cash_transfers", "app_events")
    clash = [f"{t}/{name}" for t in tables if (out / t / name).exists()]
    if clash:
        print(f"error: {', '.join(clash)} already delivered; files are never rewritten",
              file=sys.stderr)
        return 2
    d, pd_ = day(new), day(prev)
    cal = day_calendar(pd_, d)
    state = truth / "state"
    rng = rng_for(seed, 50, d)
    prod = build_products(seed)
    dirt = tb.Dirt()
    staging = out.parent / f".{out.name}.appending"
    if staging.exists():
        shutil.rmtree(staging)
    sink = Sink(staging, {})
    names = [name]

    # ----- prices and FX move one day
    last = pq.read_table(state / "prices.parquet")["price"].to_numpy()
    prices = np.round(last * np.exp(rng.normal(0.0002, 1.0, prod.n) * prod.vol), 3)
    fx = {k: np.array([round(v * float(np.exp(rng.normal(0, 0.0014))), 6)])
          for k, v in sorted(meta["fx_last"].items())}
    fx_t = pa.table({"rate_date": dates(np.array([d, d])), "currency": pa.array(list(fx)),
                     "cny_per_unit": num(np.array([fx[k][0] for k in fx]), 6)})
    sink.write("fx_rates", names, np.zeros(2, int), fx_t)

    # ----- everyone known so far, plus today's new clients
    st = pq.read_table(state / "clients.parquet")
    pop = Pop(**{f.name: st[f.name].to_numpy().copy() for f in fields(Pop)})
    n_old = pop.n
    pop.act_end = np.where(pop.act_end == pd_, d, pop.act_end)
    n_new = int(rng.poisson(max(meta["clients"], 1) * 0.0004))
    g_new = np.arange(meta["clients"], meta["clients"] + n_new, dtype=np.int64)
    newpop = make_population(g_new, cal, rng_for(seed, 51, d), open_on=d)
    acc_t = pq.read_table(state / "accounts.parquet")
    acc = act.Accounts(*(acc_t[c].to_numpy().copy()
                         for c in ("client", "suffix", "open_day", "close_day")))
    new_acc = act.make_accounts(newpop, cal, rng)
    flags_new = tb.Flags(n_new)
    if n_new:
        cr = tb.clients_rows(newpop, cal, rng_for(seed, 52, d), dirt, flags_new)
        sink.write("clients", names, cr.file_idx, cr.table)
        f, t = tb.accounts_rows(newpop, new_acc, cal, rng_for(seed, 53, d), dirt)
        sink.write("accounts", names, f, t)
    # existing clients: new CDC versions (risk re-assessed, a few occupation changes) and
    # a few newly opened fund accounts
    cur = pq.read_table(state / "clients_current.parquet")
    cur_ids = cur["client_id"].to_numpy(zero_copy_only=False)
    ind = np.flatnonzero(pop.ctype == 0)
    reassess = ind[rng.random(len(ind)) < 0.002]
    if not len(reassess) and len(ind):  # every day brings at least one new version
        reassess = ind[rng.integers(0, len(ind), 1)]
    change = ind[(rng.random(len(ind)) < 0.0005) & (pop.occ[ind] == 2)]  # employee -> owner
    touched = np.union1d(reassess, change)
    if len(touched):
        ids = np.asarray(tb.client_ids(pop.g[touched]).to_pylist(), object)
        rows_idx = np.searchsorted(cur_ids, ids)
        ver = cur.take(pa.array(rows_idx))
        is_re = np.isin(touched, reassess)
        lvl = rng.integers(1, 6, len(touched))
        risk_txt = pc.if_else(pa.array(is_re), tb.pick(tb.vocab(["C1", "C2", "C3", "C4", "C5"]),
                                                       lvl - 1), ver["risk_level"])
        rdate = pc.if_else(pa.array(is_re), dates(np.full(len(touched), d)),
                           ver["risk_assessed_date"])
        is_ch = np.isin(touched, change)
        occ_txt = pc.if_else(pa.array(is_ch), tb.pick(tb.vocab(OCC_LABELS["business_owner"]),
                                                      rng.integers(0, 3, len(touched))),
                             ver["occupation"])
        secs = d * 86400 + 8 * 3600 + rng.integers(0, 10 * 3600, len(touched))
        for col, val in (("risk_level", risk_txt), ("risk_assessed_date", rdate),
                         ("occupation", occ_txt), ("updated_at", timestamps(secs))):
            ver = ver.set_column(ver.column_names.index(col), col, val)
        sink.write("clients", names, np.zeros(len(touched), int), ver)
        dirt.add("clients", "cdc_extra_versions", len(touched))
        pop.risk[reassess] = lvl[is_re]
        pop.risk_date[reassess] = d
        pop.occ[change] = OCC["business_owner"]
        keep = np.ones(cur.num_rows, bool)
        keep[rows_idx] = False
        cur = pa.concat_tables([cur.filter(pa.array(keep)), ver])
        cur = cur.take(pc.sort_indices(cur, [("client_id", "ascending")]))
    has_fund = np.zeros(n_old, bool)
    has_fund[acc.c[acc.suffix == act.FUND]] = True
    can_open = ind[~has_fund[ind] & (pop.close_day[ind] == NEVER)]
    open_fund = can_open[rng.random(len(can_open)) < 0.0015]
    if not len(open_fund) and len(can_open):
        open_fund = can_open[rng.integers(0, len(can_open), 1)]
    if len(open_fund):
        fa = act.Accounts(open_fund, np.full(len(open_fund), act.FUND),
                          np.full(len(open_fund), d), np.full(len(open_fund), NEVER))
        t = pa.table({
            "account_id": tb.account_ids(pop.g[open_fund], fa.suffix),
            "client_id": tb.client_ids(pop.g[open_fund]),
            "account_type": tb.const("fund", len(open_fund)),
            "open_date": dates(fa.open_day), "status": tb.const("normal", len(open_fund)),
            "close_date": tb.const(None, len(open_fund)),
            "updated_at": timestamps(d * 86400 + 9 * 3600 + rng.integers(0, 28_000,
                                                                         len(open_fund))),
        })
        sink.write("accounts", names, np.zeros(len(open_fund), int), t)
        acc = act.Accounts(*(np.concatenate([getattr(acc, f), getattr(fa, f)])
                             for f in ("c", "suffix", "open_day", "close_day")))
    # one population and account list for today's activity
    allpop = _concat_pop(pop, newpop) if n_new else pop
    if n_new:
        acc = act.Accounts(*(np.concatenate([getattr(acc, f), getattr(new_acc, f) + (
            n_old if f == "c" else 0)]) for f in ("c", "suffix", "open_day", "close_day")))
    order = np.lexsort((acc.suffix, acc.c))
    acc = act.Accounts(acc.c[order], acc.suffix[order], acc.open_day[order], acc.close_day[order])
    acc_ids = np.asarray(tb.account_ids(allpop.g[acc.c], acc.suffix).to_pylist())

    pos_t = pq.read_table(state / "positions.parquet")
    pos_ids = np.asarray(pos_t["account_id"].to_pylist())
    pos = act.Positions(
        c=pos_t["client"].to_numpy(), acct=np.searchsorted(acc_ids, pos_ids),
        **{f.name: pos_t[f.name].to_numpy() for f in fields(act.Positions)
           if f.name not in ("c", "acct")})
    N = allpop.n
    flags = tb.Flags(N)
    prices2 = prices[:, None]
    fx2 = {k: v for k, v in fx.items()}
    snap = act.holdings_rows(allpop, acc, pos, prod, prices2, fx2, cal)
    bal = act.balance_rows(allpop, acc, pos, snap, cal, rng)
    tr = act.make_trades(allpop, acc, pos, prod, prices2, fx2, cal, rng, first_trade_boost=False)
    # planted campaign effect, --treat-campaign (kequn/generator/treatment.py)
    tr = with_treatment(tr, args, seed, d, allpop, st["has_trade"].to_numpy(), acc, pos, prod,
                        prices2, fx2, cal)
    tf = act.make_transfers(allpop, acc, cal, rng)
    ev = act.make_events(allpop, cal, rng)
    sink.write_parts("holdings", names,
                     tb.holdings_rows(allpop, acc, pos, snap, prod, cal, rng, dirt, flags))
    sink.write_parts("balances", names,
                     tb.balances_rows(allpop, acc, bal, cal, rng, dirt, flags))
    p, canc, next_tid = tb.trades_rows(allpop, acc, tr, prod, cal, rng, dirt, flags,
                                       _day_seq(d))
    sink.write_parts("trades", names, p)
    cancels = _cancel_earlier(out / "trades" / f"{prev}.csv", pd_, d, rng)
    dirt.add("trades", "cancelled_by_later_row", cancels.num_rows)
    sink.write("trades", names, np.zeros(cancels.num_rows, int), cancels)
    p, next_fid = tb.transfers_rows(allpop, acc, tf, cal, rng, dirt,
                                    _day_seq(d))
    sink.write_parts("cash_transfers", names, p)
    sink.write_parts("app_events", names, tb.events_rows(allpop, ev, cal, rng, dirt))
    sink.close()
    # all of the day's files are complete: move them into the extract in one go
    for path in sorted(staging.rglob("*.csv")):
        target = out / path.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
    shutil.rmtree(staging)

    # ----- truth brought forward to the new reference date
    pad = np.zeros(n_new, bool)
    has_trade = np.concatenate([st["has_trade"].to_numpy(), pad])
    last_trade = np.concatenate([st["last_trade"].to_numpy(), np.full(n_new, -1)])
    last_login = np.concatenate([st["last_login"].to_numpy(), np.full(n_new, -1)])
    ever = np.concatenate([st["ever_funded"].to_numpy(), pad])
    old_text = np.concatenate([_drop_as_of_labels(st["dirt_text"].to_numpy(
        zero_copy_only=False)), np.full(n_new, "", object)])
    filled = ~canc
    tday = tr.secs // 86400
    has_trade |= count_by(tr.c[filled], N) > 0
    last_trade = np.maximum(last_trade, max_by(tr.c[filled], tday[filled], N))
    logins = ev.etype == 0
    last_login = np.maximum(last_login, max_by(ev.c[logins], ev.day[logins], N))
    mv_now = count_by(pos.c[snap.pos], N, written_cny(snap.mv, snap.mv_cny))
    cash_now = count_by(acc.c[bal.acct], N, np.round(bal.cash, 2))
    total = mv_now + cash_now
    ever |= (total > 0) | (count_by(tf.c[tf.inbound], N) > 0)
    # trades_90d: earlier counts are not kept per day; recount from the delivered files
    t90 = _trades_90d(out, d, allpop.g)
    open_accts = count_by(acc.c[acc.close_day > d], N)
    closed = (allpop.close_day <= d) | (open_accts == 0)
    star = (prod.board[pos.prod[snap.pos]] == 2) & pos.restricted[snap.pos]
    rstar = count_by(pos.c[snap.pos[star]], N) > 0
    text = _merge_text(old_text, flags.text())
    persona = truth_rows(allpop, d, total_assets=total, ever_funded=ever, has_trade=has_trade,
                         last_trade=last_trade, last_login=last_login, trades_90d=t90,
                         closed=closed, restricted_star=rstar, dirt_text=text)
    pq.write_table(persona, truth / "personas.parquet", compression="zstd")
    stt = pop_table(allpop)
    for col, val in (("has_trade", has_trade), ("last_trade", last_trade),
                     ("last_login", last_login), ("ever_funded", ever)):
        stt = stt.append_column(col, pa.array(val))
    stt = stt.append_column("dirt_text", pa.array(text.tolist(), pa.string()))
    pq.write_table(stt, state / "clients.parquet")
    if n_new:
        cur = pa.concat_tables([cur, cr.current])
    pq.write_table(cur, state / "clients_current.parquet")
    pq.write_table(pa.table({"client": allpop.g[acc.c], "suffix": acc.suffix,
                             "open_day": acc.open_day, "close_day": acc.close_day}),
                   state / "accounts.parquet")
    pq.write_table(pa.table({"price": prices}), state / "prices.parquet")

    written = sorted(f"{t}/{name}" for t in tables if (out / t / name).exists())
    meta["ref_date"] = str(new)
    meta["appended_days"].append(str(new))
    meta["clients"] += n_new
    meta["fx_last"] = {k: float(v[0]) for k, v in fx.items()}
    for tname, rows in sink.rows.items():
        meta["row_counts"][tname] = meta["row_counts"].get(tname, 0) + rows
    meta["file_row_counts"].update(sink.file_rows)
    meta["files"] = sorted(set(meta["files"]) | set(written))
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    dj = json.loads((truth / "dirt.json").read_text())
    for tname, kinds in dirt.as_dict().items():
        for kname, v in kinds.items():
            dj.setdefault(tname, {})[kname] = dj.get(tname, {}).get(kname, 0) + v
    (truth / "dirt.json").write_text(json.dumps(dj, indent=1, ensure_ascii=False) + "\n")
    print(f"appended {new}: {len(written)} new files, {sum(sink.rows.values()):,} rows, "
          f"{n_new} new clients; truth as of {new}")
    return 0


def _day_seq(d: int) -> int:
    """First id number of an appended day: 9, the day number, then a 6-digit sequence."""
    return (900_000 + d) * 10 ** 6 + 1


def _cancel_earlier(path: Path, prev_day: int, d: int, rng) -> pa.Table:
    """Cancel a few of the previous day's trades (only where the client traded again that
    day, so no client's last trade date moves)."""
    from kequn.contract import raw_tables

    cols = list(raw_tables()["trades"])
    if not path.exists():
        return pa.table({c: pa.array([], pa.string()) for c in cols})
    con = duckdb.connect()
    rows = con.sql(f"""
        with t as (
          select {', '.join(cols)},
                 replace(substr(replace(trade_time, '-', ''), 1, 8), 'T', '') as tday
          from read_csv('{path}', all_varchar = true)
        ), ok as (
          select * from t
          where trim(lower(status)) = 'filled' and tday = '{to_date(prev_day):%Y%m%d}'
            and regexp_matches(account_id, '^A[0-9]{{8}}[1-4]$')
          qualify count(*) over (partition by trade_id) = 1
        )
        select * exclude (tday) from ok
        qualify count(*) over (partition by substr(account_id, 1, 9)) >= 2
            and row_number() over (partition by substr(account_id, 1, 9) order by trade_id) = 1
        order by trade_id""").to_arrow_table()
    con.close()
    if rows.num_rows == 0:
        return rows.select(cols)
    pick = np.flatnonzero(rng.random(rows.num_rows) < 0.05)
    t = rows.take(pa.array(pick)).select(cols)
    k = t.num_rows
    t = t.set_column(cols.index("status"), "status", tb.const("cancelled", k))
    t = t.set_column(cols.index("updated_at"), "updated_at",
                     timestamps(d * 86400 + 8 * 3600 + rng.integers(0, 3600, k)))
    return t


def _trades_90d(out: Path, d: int, g: np.ndarray) -> np.ndarray:
    """Filled, not cancelled trades per client in the 90 days up to d, read from the files."""
    con = duckdb.connect()
    lo = to_date(d - 89)
    rows = con.execute(f"""
        with t as (
          select trade_id, account_id, trim(lower(status)) as status,
                 strptime(replace(substr(replace(trade_time, '-', ''), 1, 8), 'T', ''),
                          '%Y%m%d')::date as tday
          from (select * from read_csv('{out}/trades/*.csv', all_varchar = true,
                                       union_by_name = true)
                union all by name
                select * from read_parquet('{out}/trades/*.parquet', union_by_name = true))
          where regexp_matches(account_id, '^A[0-9]{{8}}[1-4]$')
        ), c as (select distinct trade_id from t where status = 'cancelled')
        select cast(substr(account_id, 2, 8) as bigint) - 1 as g, count(distinct trade_id)
        from t where status = 'filled' and tday >= date '{lo}'
          and trade_id not in (select trade_id from c)
        group by 1""").fetchall()
    con.close()
    out_counts = np.zeros(len(g), np.int64)
    if rows:
        gg = np.array([r[0] for r in rows])
        cnt = np.array([r[1] for r in rows])
        idx = np.searchsorted(g, gg)
        ok = (idx < len(g)) & (g[np.minimum(idx, len(g) - 1)] == gg)
        out_counts[idx[ok]] = cnt[ok]
    return out_counts

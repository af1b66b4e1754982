"""`kequn generate`: write a synthetic extract that follows the raw contract, plus its truth."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import sys
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import fields
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from kequn.generator import activity as act
from kequn.generator import tables as tb
from kequn.generator.common import (
    CHUNK,
    DEFAULT_REF,
    dates,
    num,
    rng_for,
    to_date,
)
from kequn.generator.personas import count_by, max_by, pop_table, truth_rows, written_cny
from kequn.generator.population import make_population
from kequn.generator.world import (
    Calendar,
    build_products,
    fx_paths,
    price_paths,
    products_table,
)

TABLES = ("clients", "accounts", "products", "fx_rates", "holdings", "balances", "trades",
          "cash_transfers", "app_events")


def progress(iterable, enabled: bool, **kw):
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, file=sys.stderr, **kw)


def file_names(cal: Calendar) -> dict[str, list[str]]:
    """Delivery file names per table: history as Parquet, the latest month as daily CSV."""
    def ext(name: str) -> str:
        return name + (".csv" if len(name) == 10 and name >= str(to_date(cal.ref_month_start))
                       else ".parquet")

    ev = [ext(n) for n in cal.event_files]
    snaps = [ext(n) for n in cal.snapshot_names()]
    resend = str(to_date(cal.resend_day)) + "_resend.csv" if cal.resend_day > 0 else "resend.csv"
    return {"clients": ev, "accounts": ev, "trades": ev, "cash_transfers": ev, "app_events": ev,
            "fx_rates": ev, "holdings": snaps + [resend], "balances": snaps + [resend]}


def extra_columns(names: dict[str, list[str]], cal: Calendar) -> dict:
    """Files delivered after a source-system upgrade: one extra column each."""
    nd = len(cal.daily)
    daily = lambda t, k: names[t][1 + len(cal.history_months) + min(k, nd - 1)]  # noqa: E731
    return {
        ("trades", daily("trades", 11)): ("source_system", ["CTP", "KCBP", "HS-UF2"]),
        ("clients", daily("clients", 6)): ("kyc_flag", ["Y", "N", ""]),
        ("holdings", names["holdings"][len(cal.month_ends) - 6]): ("batch_no", ["B0417"]),
        ("app_events", names["app_events"][len(cal.history_months) - 2]): (
            "app_version", ["8.2.0", "8.3.1", "9.0.0"]),
    }


class Generator:
    def __init__(self, out: Path, truth: Path, scale: float, seed: int, cal: Calendar,
                 show: bool):
        self.out, self.truth, self.scale, self.seed, self.cal = out, truth, scale, seed, cal
        self.show = show
        self.products = build_products(seed)
        self.prices = price_paths(self.products, cal, seed)
        self.fx = fx_paths(cal, seed)
        self.names = file_names(cal)
        self.sink = None
        self.dirt = tb.Dirt()

    def run(self) -> dict:
        from kequn.generator.output import Sink

        cal = self.cal
        self.sink = Sink(self.out, extra_columns(self.names, cal))
        n_clients = max(20, int(round(100_000 * self.scale)))
        self._static_tables()
        state_dir = self.truth / "state"
        state_dir.mkdir(parents=True, exist_ok=True)
        personas, pops, current, positions, accounts = [], [], [], [], []
        starts = list(range(0, n_clients, CHUNK))
        jobs = [(ci, start, min(start + CHUNK, n_clients)) for ci, start in enumerate(starts)]
        results = _run_chunks(self, jobs)
        for res in progress(results, self.show, total=len(jobs), desc="clients", unit="chunk"):
            for table, parts in res["writes"]:
                self.sink.write_parts(table, self.names[table], parts)
            for table, kinds in res["dirt"].items():
                for kind, count in kinds.items():
                    self.dirt.add(table, kind, count)
            personas.append(res["persona"])
            pops.append(res["pop"])
            current.append(res["current"])
            positions.append(res["positions"])
            accounts.append(res["accounts"])
        self.sink.close()
        truth_table = pa.concat_tables(personas)
        pq.write_table(truth_table, self.truth / "personas.parquet", compression="zstd")
        pq.write_table(pa.concat_tables(pops), state_dir / "clients.parquet")
        pq.write_table(pa.concat_tables(current), state_dir / "clients_current.parquet")
        pq.write_table(pa.concat_tables(positions), state_dir / "positions.parquet")
        pq.write_table(pa.concat_tables(accounts), state_dir / "accounts.parquet")
        last_col = len(cal.bdays) - 1
        pq.write_table(pa.table({"price": self.prices[:, last_col]}), state_dir / "prices.parquet")
        files = sorted(p.relative_to(self.out).as_posix() for p in self.out.rglob("*")
                       if p.is_file())
        meta = {
            "scale": self.scale, "seed": self.seed, "ref_date": str(to_date(cal.ref)),
            "base_ref_date": str(to_date(cal.ref)), "appended_days": [],
            "clients": n_clients,
            "fx_last": {k: float(v[-1]) for k, v in self.fx.items()},
            "row_counts": dict(sorted(self.sink.rows.items())),
            "file_row_counts": dict(sorted(self.sink.file_rows.items())),
            "files": files,
            "extra_column_files": sorted(f"{t}/{n}" for t, n in self.sink.extras),
        }
        for (t, _n), _v in self.sink.extras.items():
            self.dirt.add(t, "file_with_extra_column", 1)
        (self.truth / "dirt.json").write_text(json.dumps(self.dirt.as_dict(), indent=1,
                                                         ensure_ascii=False) + "\n")
        (self.truth / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
        return meta

    # ------------------------------------------------------------------ static tables
    def _static_tables(self) -> None:
        cal, prod = self.cal, self.products
        init = self.names["clients"][0]
        base = products_table(prod, late=False)
        late = products_table(prod, late=True)
        rng = rng_for(self.seed, 5)
        again = base.take(pa.array(rng.choice(base.num_rows, 3, replace=False)))
        mid = self.names["clients"][1 + len(cal.history_months) + len(cal.daily) // 2]
        self.sink.write("products", [init], np.zeros(base.num_rows, int), base)
        self.sink.write("products", [mid], np.zeros(late.num_rows + 3, int),
                        pa.concat_tables([late, again]))
        self.dirt.add("products", "risk_rating_blank", int(prod.risk_blank.sum()))
        self.dirt.add("products", "duplicate_redelivery", 3)
        # fx: every weekday, HKD and USD
        d = np.concatenate([cal.bdays, cal.bdays])
        cur = pa.array(["HKD"] * len(cal.bdays) + ["USD"] * len(cal.bdays))
        rate = np.concatenate([self.fx["HKD"], self.fx["USD"]])
        t = pa.table({"rate_date": dates(d), "currency": cur, "cny_per_unit": num(rate, 6)})
        fidx = cal.file_index(d)
        order = np.lexsort((np.arange(len(d)) >= len(cal.bdays), d))
        t, fidx = t.take(pa.array(order)), fidx[order]
        dup = rng.choice(len(d) - 10, 2, replace=False)
        later, dfile = tb.later_file(fidx[dup], np.ones(2, np.int64), len(self.names["fx_rates"]))
        t = pa.concat_tables([t, t.take(pa.array(dup[later]))])
        fidx = np.concatenate([fidx, dfile[later]])
        self.dirt.add("fx_rates", "duplicate_redelivery", int(later.sum()))
        self.sink.write("fx_rates", self.names["fx_rates"], fidx, t)

    # ------------------------------------------------------------------ one chunk
    def _chunk(self, ci: int, g: np.ndarray) -> dict:
        cal, prod, seed = self.cal, self.products, self.seed
        writes: list = []
        dirt = tb.Dirt()
        trade_id = transfer_id = ci * 10 ** 9 + 1  # ids never depend on other chunks
        pop = make_population(g, cal, rng_for(seed, 10, ci))
        n = pop.n
        ra = rng_for(seed, 11, ci)
        acc = act.make_accounts(pop, cal, ra)
        pos = act.make_positions(pop, acc, prod, self.prices, self.fx, cal, ra)
        snap = act.holdings_rows(pop, acc, pos, prod, self.prices, self.fx, cal)
        bal = act.balance_rows(pop, acc, pos, snap, cal, ra)
        tr = act.make_trades(pop, acc, pos, prod, self.prices, self.fx, cal, ra)
        tf = act.make_transfers(pop, acc, cal, ra)
        ev = act.make_events(pop, cal, ra)
        rt = rng_for(seed, 12, ci)
        flags = tb.Flags(n)
        cr = tb.clients_rows(pop, cal, rt, dirt, flags)
        writes.append(("clients", [(cr.file_idx, cr.table)]))
        writes.append(("accounts", [tb.accounts_rows(pop, acc, cal, rt, dirt)]))
        writes.append(("holdings", tb.holdings_rows(pop, acc, pos, snap, prod, cal, rt, dirt,
                                                    flags)))
        writes.append(("balances", tb.balances_rows(pop, acc, bal, cal, rt, dirt, flags)))
        p, canc, _ = tb.trades_rows(pop, acc, tr, prod, cal, rt, dirt, flags, trade_id)
        writes.append(("trades", p))
        p, _ = tb.transfers_rows(pop, acc, tf, cal, rt, dirt, transfer_id)
        writes.append(("cash_transfers", p))
        writes.append(("app_events", tb.events_rows(pop, ev, cal, rt, dirt)))

        # ----- truth from exactly what was generated (clean values)
        last = len(cal.snapshots) - 1
        on_last = snap.s == last
        mv_cny, cash = written_cny(snap.mv, snap.mv_cny), np.round(bal.cash, 2)
        mv_now = count_by(pos.c[snap.pos[on_last]], n, mv_cny[on_last])
        b_last = bal.s == last
        cash_now = count_by(acc.c[bal.acct[b_last]], n, cash[b_last])
        total = mv_now + cash_now
        ever = (count_by(pos.c[snap.pos], n, mv_cny) > 0) | (
            count_by(acc.c[bal.acct], n, cash) > 0) | (
            count_by(tf.c[tf.inbound], n) > 0)
        filled = ~canc
        tday = tr.secs // 86400
        has_trade = count_by(tr.c[filled], n) > 0
        last_trade = max_by(tr.c[filled], tday[filled], n)
        t90 = count_by(tr.c[filled & (tday > cal.ref - 90)], n)
        logins = ev.etype == 0
        last_login = max_by(ev.c[logins], ev.day[logins], n)
        open_accts = count_by(acc.c[acc.close_day > cal.ref], n)
        closed = (pop.close_day <= cal.ref) | (open_accts == 0)
        star = (prod.board[pos.prod[snap.pos]] == 2) & pos.restricted[snap.pos] & on_last
        rstar = count_by(pos.c[snap.pos[star]], n) > 0
        persona = truth_rows(pop, cal.ref, total_assets=total, ever_funded=ever,
                             has_trade=has_trade, last_trade=last_trade, last_login=last_login,
                             trades_90d=t90, closed=closed, restricted_star=rstar,
                             dirt_text=flags.text())
        ptab = pa.table({
            "client": pop.g[pos.c], "account_id": tb.account_ids(pop.g[acc.c[pos.acct]],
                                                                 acc.suffix[pos.acct]),
            "acct_row": pos.acct, **{f.name: getattr(pos, f.name) for f in fields(act.Positions)
                                     if f.name not in ("c", "acct")}})
        atab = pa.table({"client": pop.g[acc.c], "suffix": acc.suffix, "open_day": acc.open_day,
                         "close_day": acc.close_day})
        state = pop_table(pop).append_column("has_trade", pa.array(has_trade))
        state = state.append_column("last_trade", pa.array(last_trade))
        state = state.append_column("last_login", pa.array(last_login))
        state = state.append_column("ever_funded", pa.array(ever))
        state = state.append_column("dirt_text", pa.array(flags.text().tolist(), pa.string()))
        return {"writes": writes, "dirt": dirt.as_dict(), "persona": persona,
                "pop": state, "current": cr.current, "positions": ptab, "accounts": atab}


_GEN: Generator | None = None


def _init_worker(out: Path, truth: Path, scale: float, seed: int, ref: int) -> None:
    global _GEN
    _GEN = Generator(out, truth, scale, seed, Calendar.build(to_date(ref)), show=False)


def _job(job: tuple[int, int, int]) -> dict:
    ci, lo, hi = job
    return _GEN._chunk(ci, np.arange(lo, hi, dtype=np.int64))


def _run_chunks(gen: Generator, jobs: list):
    """Chunks in order; with several cores, computed ahead by worker processes (at most a
    few results wait in memory). Output bytes never depend on the number of workers."""
    # Serial by default: on a shared 2-core machine the extra process costs more CPU
    # (pickling) than it saves; KEQUN_GEN_WORKERS=2 helps on an otherwise idle machine.
    workers = int(os.environ.get("KEQUN_GEN_WORKERS", "1"))
    if workers <= 1 or len(jobs) <= 2:
        for job in jobs:
            yield gen._chunk(job[0], np.arange(job[1], job[2], dtype=np.int64))
        return
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(gen.out, gen.truth, gen.scale, gen.seed,
                                       gen.cal.ref)) as pool:
        pending: deque = deque()
        it = iter(jobs)
        for job in it:
            pending.append(pool.submit(_job, job))
            if len(pending) >= workers + 1:
                break
        while pending:
            res = pending.popleft().result()
            nxt = next(it, None)
            if nxt is not None:
                pending.append(pool.submit(_job, nxt))
            yield res


def run_generate(args) -> int:
    if getattr(args, "append_day", False):
        from kequn.generator.append import run_append

        return run_append(args)
    out = Path(args.out).resolve()
    truth = Path(args.truth).resolve() if args.truth else out.parent / (out.name + ".truth")
    if truth == out or out in truth.parents:
        print(f"error: the truth folder {truth} must lie beside, not inside, the extract",
              file=sys.stderr)
        return 2
    for folder in (out, truth):
        if folder.exists() and any(folder.iterdir()):
            print(f"error: {folder} is not empty; write a new extract into a new folder "
                  "(or use --append-day to add a day)", file=sys.stderr)
            return 2
    if not 0 < args.scale <= 100:
        print("error: --scale must be in (0, 100]", file=sys.stderr)
        return 2
    cal = Calendar.build(args.ref_date or DEFAULT_REF)
    out.mkdir(parents=True, exist_ok=True)
    truth.mkdir(parents=True, exist_ok=True)
    gen = Generator(out, truth, args.scale, args.seed, cal, show=not args.no_progress)
    meta = gen.run()
    print(f"wrote {len(meta['files'])} files to {out} ({meta['clients']:,} clients, as of "
          f"{meta['ref_date']}); truth in {truth}")
    for t in TABLES:
        print(f"  {t:<15}{meta['row_counts'].get(t, 0):>12,} rows")
    return 0


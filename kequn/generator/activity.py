"""What the clients do: accounts, positions, snapshots, trades, transfers and app events.

Everything is computed for one chunk of clients with numpy; rows carry `c` (the client's
index within the chunk) so the truth can be aggregated from exactly what was written.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kequn.generator.population import (
    CHURNED,
    CHURNING,
    CLOSED,
    NEVER,
    STUDENT,
    ZOMBIE,
    Pop,
)
from kequn.generator.world import PT, Calendar, Products, fx_factor, price_on

CASH, FUND, MARGIN, OPTION = 1, 2, 3, 4


@dataclass
class Accounts:
    c: np.ndarray        # client index in chunk
    suffix: np.ndarray   # 1 cash, 2 fund, 3 margin, 4 option
    open_day: np.ndarray
    close_day: np.ndarray


@dataclass
class Positions:
    c: np.ndarray
    acct: np.ndarray     # index into Accounts
    prod: np.ndarray
    base_qty: np.ndarray
    unit: np.ndarray     # rounding unit of quantity
    start: np.ndarray
    end: np.ndarray
    restricted: np.ndarray
    cost_price: np.ndarray


def make_accounts(pop: Pop, cal: Calendar, rng: np.random.Generator) -> Accounts:
    n = pop.n
    cs, sfx, op, cl = [np.arange(n)], [np.full(n, CASH)], [pop.open_day], [pop.close_day.copy()]
    for suffix, has, delay in ((FUND, pop.has_fund_acct, (0, 700)),
                               (MARGIN, pop.has_margin, (180, 900)),
                               (OPTION, pop.has_option, (200, 900))):
        idx = np.flatnonzero(has)
        o = pop.open_day[idx] + rng.integers(*delay, len(idx))
        if suffix != FUND:
            o = np.maximum(o, pop.fund_day[idx].clip(max=cal.ref))
        keep = o <= cal.ref - 1
        idx, o = idx[keep], o[keep]
        c = pop.close_day[idx].copy()
        # a few clients close a secondary account and carry on
        extra = (c == NEVER) & (rng.random(len(idx)) < 0.03) & (o < cal.ref - 60)
        c[extra] = o[extra] + (rng.random(extra.sum()) * (cal.ref - o[extra])).astype(int)
        cs.append(idx)
        sfx.append(np.full(len(idx), suffix))
        op.append(o)
        cl.append(c)
    cash_close = cl[0]
    allc = pop.status_normal_all_closed
    cash_close[allc] = pop.close_day[allc]
    a = Accounts(np.concatenate(cs), np.concatenate(sfx), np.concatenate(op), np.concatenate(cl))
    order = np.lexsort((a.suffix, a.c))
    return Accounts(a.c[order], a.suffix[order], a.open_day[order], a.close_day[order])


def _acct_lookup(acc: Accounts, n: int) -> np.ndarray:
    """[n, 5] index of each client's account by suffix (-1 when absent)."""
    out = np.full((n, 5), -1)
    out[acc.c, acc.suffix] = np.arange(len(acc.c))
    return out


def make_positions(pop: Pop, acc: Accounts, prod: Products, prices: np.ndarray,
                   fx: dict, cal: Calendar, rng: np.random.Generator) -> Positions:
    n = pop.n
    funded = pop.fund_day < NEVER
    w = pop.wealth
    k = np.clip(1 + rng.poisson(np.maximum(0.0, 0.5 * np.log10(np.maximum(w, 1) / 3000))), 1, 9)
    k = np.where(w < 2500, (rng.random(n) < 0.3).astype(int), k)
    k = np.where(funded & (pop.kind != ZOMBIE), k, 0)
    c = np.repeat(np.arange(n), k)
    p = np.empty(len(c), np.int64)
    prof = pop.profile[c]
    for j in range(3):
        sel = prof == j
        p[sel] = rng.choice(prod.n, sel.sum(), p=prod.weights[j])
    key = c * 10_000 + p
    _, first = np.unique(key, return_index=True)
    first.sort()
    c, p = c[first], p[first]
    weight = rng.gamma(1.0, 1.0, len(c))
    tot = np.bincount(c, weight, n)
    share = weight / tot[c]
    value = w[c] * (1 - pop.cash_share[c]) * share
    restricted = np.zeros(len(c), bool)
    rc = np.flatnonzero(pop.restricted_star & funded)
    stars = np.flatnonzero((prod.board == 2) & ~prod.listed_late)
    rp = stars[rng.integers(0, len(stars), len(rc))]
    rv = np.maximum(w[rc], 200_000) * rng.uniform(0.2, 0.8, len(rc))
    c = np.concatenate([c, rc])
    p = np.concatenate([p, rp])
    value = np.concatenate([value, rv])
    restricted = np.concatenate([restricted, np.ones(len(rc), bool)])
    # a restricted line and a free line of the same stock are separate rows: drop clashes
    key = c * 10_000 + p
    _, last = np.unique(key[::-1], return_index=True)
    keep = np.sort(len(key) - 1 - last)
    c, p, value, restricted = c[keep], p[keep], value[keep], restricted[keep]

    ref_col = len(cal.bdays) - 1
    px = prices[p, ref_col] * fx_factor(prod.currency[p], fx, ref_col)
    fund_like = prod.is_fund()[p]
    unit = np.where(fund_like, 0.01, prod.lot[p].astype(float))
    qty = np.round(value / px / unit) * unit
    tiny = qty <= 0
    qty = np.where(tiny & (unit * px < 2.5 * value), unit, qty)
    ok = qty > 0
    # accounts
    look = _acct_lookup(acc, n)
    ptype = prod.ptype[p]
    a = look[c, CASH]
    fa = look[c, FUND]
    a = np.where(fund_like & (fa >= 0), fa, a)
    ma = look[c, MARGIN]
    stocklike = np.isin(ptype, [PT["stock"], PT["etf"], PT["bond"]])
    a = np.where(stocklike & (ma >= 0) & (rng.random(len(c)) < 0.6) & ~restricted, ma, a)
    oa = look[c, OPTION]
    is_opt = ptype == PT["option"]
    a = np.where(is_opt, oa, a)
    ok &= a >= 0
    c, p, qty, unit, a, restricted = c[ok], p[ok], qty[ok], unit[ok], a[ok], restricted[ok]
    start = np.maximum(pop.fund_day[c], acc.open_day[a])
    order = np.argsort(c, kind="stable")
    c, p, qty, unit, a, restricted, start = (x[order] for x in (c, p, qty, unit, a, restricted,
                                                                 start))
    nth = np.arange(len(c)) - np.searchsorted(c, c)
    later = (nth > 0) & ~restricted
    start = np.where(later, start + rng.integers(0, 500, len(c)), start)
    end = np.full(len(c), NEVER)
    sold = later & (rng.random(len(c)) < 0.3)
    end[sold] = start[sold] + rng.integers(60, 900, sold.sum())
    end = np.minimum(end, acc.close_day[a])
    start_col = price_on(prices, cal, np.clip(start, cal.bdays[0], cal.ref))
    cost = prices[p, start_col] * rng.normal(1.0, 0.04, len(c))
    cost = np.where(restricted, prices[p, start_col] * rng.uniform(0.1, 0.5, len(c)), cost)
    return Positions(c, a, p, qty, unit, start, end, restricted, np.round(cost, 3))


def level_at(pop: Pop, t: np.ndarray | int, cal: Calendar) -> np.ndarray:
    """Investment level of each client at day(s) t (clients on axis 0)."""
    t = np.asarray(t)
    if t.ndim == 0:
        t = t[None]
    f = pop.fund_day[:, None]
    ramp = np.clip(0.45 + 0.55 * (t[None, :] - f) / 400.0, 0.45, 1.0)
    ds, de = pop.drain_start[:, None], pop.drain_end[:, None]
    drain = np.where(t[None, :] >= ds,
                     np.clip((de - t[None, :]) / np.maximum(de - ds, 1), 0.0, 1.0), 1.0)
    lvl = np.where((t[None, :] >= f) & (t[None, :] < pop.close_day[:, None]), ramp * drain, 0.0)
    return np.round(lvl * 20) / 20


def residual_cash(pop: Pop) -> np.ndarray:
    """Cash left behind by clients who drained away (always under 100 CNY)."""
    h = (pop.g * 2654435761) % 9000
    return np.where(pop.kind == CHURNED, h / 100.0, 0.0)


# --------------------------------------------------------------------------- snapshots
@dataclass
class Snapshot:
    s: np.ndarray          # snapshot index
    pos: np.ndarray        # position index
    qty: np.ndarray
    mv: np.ndarray         # product currency
    mv_cny: np.ndarray
    cost: np.ndarray


def holdings_rows(pop: Pop, acc: Accounts, pos: Positions, prod: Products, prices, fx,
                  cal: Calendar) -> Snapshot:
    snaps = cal.snapshots
    lvl = level_at(pop, snaps, cal)
    out = []
    for s, t in enumerate(snaps):
        alive = (pos.start <= t) & (t < pos.end)
        q = np.round(pos.base_qty * lvl[pos.c, s] / pos.unit) * pos.unit
        q = np.where(pos.restricted, pos.base_qty * (lvl[pos.c, s] > 0), q)
        idx = np.flatnonzero(alive & (q > 0))
        col = price_on(prices, cal, np.array([t]))[0]
        mv = q[idx] * prices[pos.prod[idx], col]
        rate = fx_factor(prod.currency[pos.prod[idx]], fx, int(col))
        out.append((np.full(len(idx), s), idx, q[idx], mv, mv * rate,
                    q[idx] * pos.cost_price[idx]))
    return Snapshot(*(np.concatenate([o[i] for o in out]) for i in range(6)))


@dataclass
class Balances:
    s: np.ndarray
    acct: np.ndarray
    cash: np.ndarray
    debt: np.ndarray


def balance_rows(pop: Pop, acc: Accounts, pos: Positions, hold: Snapshot, cal: Calendar,
                 rng: np.random.Generator) -> Balances:
    snaps = cal.snapshots
    S = len(snaps)
    lvl = level_at(pop, snaps, cal)
    resid = residual_cash(pop)
    noise = 1 + 0.08 * np.sin(pop.g[:, None] * 0.37 + np.arange(S)[None, :] * 1.3)
    cash = pop.wealth[:, None] * pop.cash_share[:, None] * lvl * noise
    after = snaps[None, :] >= pop.drain_end[:, None]
    cash = np.where((pop.kind[:, None] == CHURNED) & after
                    & (snaps[None, :] < pop.close_day[:, None]), resid[:, None], cash)
    zombie_cash = (pop.kind == ZOMBIE) & (pop.fund_day < NEVER)
    cash = np.where(zombie_cash[:, None] & (snaps[None, :] >= pop.fund_day[:, None]),
                    pop.wealth[:, None], cash)
    cash = np.round(cash, 2)
    # which accounts have a row on each snapshot
    na = len(acc.c)
    mv_by = np.zeros((na, S))
    np.add.at(mv_by, (pos.acct[hold.pos], hold.s), hold.mv_cny)
    open_ = (acc.open_day[:, None] <= snaps[None, :]) & (snaps[None, :] < acc.close_day[:, None])
    main = acc.suffix == CASH
    client_cash = cash[acc.c]
    has_cash = main[:, None] & (client_cash > 0)
    margin = (acc.suffix == MARGIN)[:, None] & (lvl[acc.c] > 0)
    row = open_ & (has_cash | margin)
    a_idx, s_idx = np.nonzero(row)
    c_cash = np.where(main[a_idx], client_cash[a_idx, s_idx], 0.0)
    is_m = acc.suffix[a_idx] == MARGIN
    c_cash = np.where(is_m, np.round(mv_by[a_idx, s_idx] * 0.02, 2), c_cash)
    debt = np.where(is_m, np.round(mv_by[a_idx, s_idx] * pop.margin_ratio[acc.c[a_idx]], 2), 0.0)
    order = np.lexsort((a_idx, s_idx))
    return Balances(s_idx[order], a_idx[order], c_cash[order], debt[order])


# --------------------------------------------------------------------------- trades
@dataclass
class Trades:
    c: np.ndarray
    acct: np.ndarray
    prod: np.ndarray
    secs: np.ndarray       # trade time, seconds since epoch (local)
    buy: np.ndarray
    qty: np.ndarray
    price: np.ndarray
    amount: np.ndarray
    fee: np.ndarray
    channel: np.ndarray


def _sample_days(lo: np.ndarray, hi: np.ndarray, grid: np.ndarray, u: np.ndarray):
    a = np.searchsorted(grid, lo, side="left")
    b = np.searchsorted(grid, hi, side="right")
    ok = b > a
    idx = a + np.floor(u * np.maximum(b - a, 1)).astype(np.int64)
    return grid[np.clip(idx, 0, len(grid) - 1)], ok


def _bdays_between(cal: Calendar, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Weekdays in [lo, hi] (trades and transfers happen on weekdays only)."""
    n = np.searchsorted(cal.bdays, hi, side="right") - np.searchsorted(cal.bdays, lo, "left")
    return np.clip(n, 0, None)


def _falloff(pop: Pop, c: np.ndarray, d: np.ndarray, rng) -> np.ndarray:
    """Accept events less and less often once a client starts draining away."""
    ds, de = pop.drain_start[c], pop.drain_end[c]
    frac = np.where(d >= ds, (d - ds) / np.maximum(de - ds, 1), 0.0)
    return rng.random(len(c)) < np.clip(1.0 - 0.95 * frac, 0.03, 1.0)


def make_trades(pop: Pop, acc: Accounts, pos: Positions, prod: Products, prices, fx,
                cal: Calendar, rng: np.random.Generator, first_trade_boost: bool = True) -> Trades:
    n = pop.n
    lo = np.maximum(pop.fund_day, cal.window_start)
    hi = np.minimum(pop.act_end, cal.ref)
    hi = np.minimum(hi, pop.close_day - 1)
    lam = pop.trade_rate * _bdays_between(cal, lo, hi) / 261.0
    lam = np.where((pop.fund_day < NEVER) & (pop.kind != ZOMBIE), lam, 0)
    # newly funded clients almost always make a first trade
    if first_trade_boost:
        lam = np.where((pop.open_day > cal.ref - 120) & (lam > 0), np.maximum(lam, 1.2), lam)
    k = rng.poisson(lam)
    c = np.repeat(np.arange(n), k)
    d, ok = _sample_days(lo[c], hi[c], cal.bdays, rng.random(len(c)))
    ok &= _falloff(pop, c, d, rng)
    c, d = c[ok], d[ok]
    m = len(c)
    # product: mostly something the client holds
    first = np.searchsorted(pos.c, np.arange(n))
    cnt = np.bincount(pos.c, minlength=n)
    has = cnt[c] > 0
    j = first[c] + np.floor(rng.random(m) * np.maximum(cnt[c], 1)).astype(np.int64)
    j = np.clip(j, 0, max(len(pos.c) - 1, 0))
    own = has & (rng.random(m) < 0.85) & ~(pos.restricted[j] if len(pos.c) else False)
    p = np.empty(m, np.int64)
    a = np.empty(m, np.int64)
    if len(pos.c):
        p[own] = pos.prod[j[own]]
        a[own] = pos.acct[j[own]]
    prof = pop.profile[c]
    look = _acct_lookup(acc, n)
    for q in range(3):
        sel = ~own & (prof == q)
        p[sel] = rng.choice(prod.n, sel.sum(), p=prod.weights[q])
    fund_like = prod.is_fund()[p]
    rand_acct = np.where(fund_like & (look[c, FUND] >= 0), look[c, FUND], look[c, CASH])
    rand_acct = np.where(prod.ptype[p] == PT["option"], look[c, OPTION], rand_acct)
    a[~own] = rand_acct[~own]
    keep = a >= 0
    keep &= (acc.open_day[np.maximum(a, 0)] <= d) & (d < acc.close_day[np.maximum(a, 0)])
    c, d, p, a, fund_like = c[keep], d[keep], p[keep], a[keep], fund_like[keep]
    m = len(c)
    col = price_on(prices, cal, d)
    price = np.round(prices[p, col] * rng.normal(1.0, 0.004, m), 3)
    price = np.where(fund_like, np.round(prices[p, col], 4), price)
    rate = fx_factor(prod.currency[p], fx, col)
    target = pop.wealth[c] * rng.uniform(0.03, 0.35, m) / np.where(pop.arche[c] == STUDENT, 2, 1)
    unit = np.where(fund_like, 0.01, prod.lot[p].astype(float))
    qty = np.maximum(np.round(target / (price * rate) / unit), 1) * unit
    amount = np.round(qty * price, 2)
    buy = rng.random(m) < 0.55
    # draining clients mostly sell
    draining = (pop.kind[c] == CHURNED) | (pop.kind[c] == CHURNING) | (pop.kind[c] == CLOSED)
    buy = np.where(draining & (d >= pop.drain_start[c]), rng.random(m) < 0.15, buy)
    ptype = prod.ptype[p]
    fee = np.where(fund_like, amount * 0.0012, np.maximum(5.0, amount * 0.00025))
    fee = np.where(ptype == PT["money_market_fund"], 0.0, fee)
    fee = np.where((ptype == PT["stock"]) & ~buy, fee + amount * 0.0005, fee)
    fee = np.where(ptype == PT["option"], qty * 1.7, fee)
    fee = np.round(fee, 2)
    u = rng.random(m)
    tod = np.where(u < 0.5, 9 * 3600 + 1800 + u * 2 * 7200, 13 * 3600 + (u - 0.5) * 2 * 7200)
    tod = np.where(fund_like, 9 * 3600 + rng.random(m) * 6 * 3600, tod).astype(np.int64)
    secs = d * 86400 + tod
    ch = np.where(rng.random(m) < 0.8, pop.channel_pref[c], rng.integers(0, 6, m))
    order = np.lexsort((c, secs))
    t = Trades(c, a, p, secs, buy, qty, price, amount, fee, ch)
    return Trades(*(getattr(t, f)[order] for f in Trades.__dataclass_fields__))


# --------------------------------------------------------------------------- transfers
@dataclass
class Transfers:
    c: np.ndarray
    acct: np.ndarray
    secs: np.ndarray
    inbound: np.ndarray
    amount: np.ndarray


def make_transfers(pop: Pop, acc: Accounts, cal: Calendar, rng) -> Transfers:
    n = pop.n
    look = _acct_lookup(acc, n)
    funded = pop.fund_day < NEVER
    parts = []
    # initial deposit inside the window
    init = funded & (pop.fund_day >= cal.window_start) & (pop.fund_day <= cal.ref)
    idx = np.flatnonzero(init)
    amt = pop.wealth[idx] * np.where(pop.kind[idx] == ZOMBIE, 1.0, rng.uniform(0.5, 0.9, len(idx)))
    parts.append((idx, pop.fund_day[idx], np.ones(len(idx), bool), amt))
    # routine transfers while active
    lo = np.maximum(pop.fund_day, cal.window_start)
    hi = np.minimum(np.minimum(pop.act_end, cal.ref), pop.close_day - 1)
    lam = np.where(funded & (pop.kind != ZOMBIE), 2.6 * _bdays_between(cal, lo, hi) / 261.0, 0)
    k = rng.poisson(lam)
    c = np.repeat(np.arange(n), k)
    d, ok = _sample_days(lo[c], hi[c], cal.bdays, rng.random(len(c)))
    ok &= _falloff(pop, c, d, rng)
    c, d = c[ok], d[ok]
    inbound = rng.random(len(c)) < 0.58
    parts.append((c, d, inbound, pop.wealth[c] * rng.uniform(0.03, 0.25, len(c))))
    # drains: outflows that carry the assets away
    dr = np.flatnonzero(np.isin(pop.kind, [CHURNED, CHURNING, CLOSED])
                        & (pop.drain_start >= cal.window_start) & funded)
    kk = rng.integers(2, 5, len(dr))
    c = np.repeat(dr, kk)
    lo_d = pop.drain_start[c]
    hi_d = np.minimum(pop.drain_end[c], cal.ref)
    d, ok = _sample_days(lo_d, hi_d, cal.bdays, rng.random(len(c)))
    c, d, kk_c = c[ok], d[ok], kk[np.searchsorted(dr, c[ok])]
    parts.append((c, d, np.zeros(len(c), bool), pop.wealth[c] / kk_c * rng.uniform(0.7, 1.0,
                                                                                      len(c))))
    c = np.concatenate([x[0] for x in parts])
    d = np.concatenate([x[1] for x in parts])
    inbound = np.concatenate([x[2] for x in parts])
    amt = np.round(np.concatenate([x[3] for x in parts]), 2)
    d = cal.bdays[np.clip(np.searchsorted(cal.bdays, d), 0, len(cal.bdays) - 1)]
    keep = (d <= cal.ref) & (amt >= 1)
    c, d, inbound, amt = c[keep], d[keep], inbound[keep], amt[keep]
    secs = d * 86400 + (9 * 3600 + rng.random(len(c)) * 7 * 3600).astype(np.int64)
    order = np.lexsort((c, secs))
    return Transfers(c[order], look[c, CASH][order], secs[order], inbound[order], amt[order])


# --------------------------------------------------------------------------- app events
@dataclass
class Events:
    c: np.ndarray
    day: np.ndarray
    etype: np.ndarray
    count: np.ndarray
    device: np.ndarray


def make_events(pop: Pop, cal: Calendar, rng, until: int | None = None) -> Events:
    n = pop.n
    until = cal.ref if until is None else until
    lo = np.maximum(pop.open_day, cal.window_start)
    hi = np.minimum(pop.act_end, until)
    hi = np.where(pop.kind == CHURNED, np.minimum(pop.drain_end + 20, until), hi)
    hi = np.minimum(hi, pop.close_day - 1)
    lam = pop.login_rate * np.clip(hi - lo + 1, 0, None) / 365.25
    zomb = pop.kind == ZOMBIE
    lam = np.where(zomb, np.where(pop.login_rate > 0, 2.5, 0.0), lam)
    k = rng.poisson(lam)
    c = np.repeat(np.arange(n), k)
    d = lo[c] + np.floor(rng.random(len(c)) * (np.maximum(hi[c] - lo[c], 0) + 1)).astype(np.int64)
    ok = _falloff(pop, c, d, rng) & (hi[c] >= lo[c])
    c, d = c[ok], d[ok]
    base = cal.window_start - 10_000
    key = np.sort(c * 100_000 + (d - base))
    key = key[np.append(True, np.diff(key) != 0)] if len(key) else key
    c = key // 100_000
    d = key % 100_000 + base
    m = len(c)
    # probabilities of the other event types that day, by who the client is
    age = (cal.ref - pop.birth[c]) / 365.25
    young = age < 31
    p = np.zeros((m, 8))
    p[:, 0] = 1.0
    p[:, 1] = np.where(young, 0.2, 0.08)
    p[:, 2] = np.where(young, 0.35, 0.1)
    p[:, 3] = 0.3
    p[:, 4] = np.where(pop.arche[c] == STUDENT, 0.3, 0.04)
    p[:, 5] = np.where(pop.arche[c] == STUDENT, 0.35, 0.03)
    p[:, 6] = np.where(pop.wealth[c] > 500_000, 0.12, 0.01)
    p[:, 7] = 0.03
    hit = rng.random((m, 8)) < p
    rows, types = np.nonzero(hit)
    cnt = np.where(types == 0, 1 + rng.poisson(1.2, len(rows)), 1 + rng.poisson(2.0, len(rows)))
    dev = np.where(rng.random(len(rows)) < 0.88, pop.device_pref[c[rows]],
                   rng.integers(0, 4, len(rows)))
    cr, dr = c[rows], d[rows]
    order = np.lexsort((types, cr, dr))
    return Events(cr[order], dr[order], types[order], cnt[order], dev[order])

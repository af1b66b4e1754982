"""The world every client lives in: calendar, file plan, products, prices and FX rates."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pyarrow as pa

from kequn.generator.common import (
    TECH_INDUSTRIES,
    add_months,
    day,
    month_end,
    rng_for,
    to_date,
    weekday_of,
    weekdays_between,
)

HISTORY_MONTHS = 24
PRODUCT_TYPES = ("stock", "etf", "equity_fund", "bond_fund", "money_market_fund", "bond",
                 "wealth_product", "pension_fund", "education_savings", "option")
PT = {t: i for i, t in enumerate(PRODUCT_TYPES)}
BOARD_CODES = ("", "main", "star", "chinext", "bse", "hk")
FUND_LIKE = {PT[t] for t in ("equity_fund", "bond_fund", "money_market_fund", "wealth_product",
                             "pension_fund", "education_savings")}


@dataclass
class Calendar:
    ref: int                     # reference date (latest snapshot day)
    window_start: int            # first day of trading/app history
    month_ends: np.ndarray       # history month-end snapshot days
    daily: np.ndarray            # weekdays of the latest calendar month up to ref
    snapshots: np.ndarray        # month_ends + daily
    history_months: list[date]   # first day of each history month
    ref_month_start: int
    bdays: np.ndarray            # weekdays window_start-40 .. ref (price/FX grid)
    resend_day: int              # one daily snapshot re-sent whole
    event_files: list[str] = field(default_factory=list)

    @classmethod
    def build(cls, ref_date: date) -> Calendar:
        while ref_date.weekday() >= 5:
            ref_date -= timedelta(days=1)
        first = ref_date.replace(day=1)
        months = [add_months(first, -k) for k in range(HISTORY_MONTHS, 0, -1)]
        month_ends = np.array([day(month_end(m)) for m in months], np.int64)
        daily = weekdays_between(day(first), day(ref_date))
        cal = cls(
            ref=day(ref_date), window_start=day(months[0]), month_ends=month_ends, daily=daily,
            snapshots=np.concatenate([month_ends, daily]), history_months=months,
            ref_month_start=day(first),
            bdays=weekdays_between(day(months[0]) - 40, day(ref_date)),
            resend_day=int(daily[len(daily) // 2]) if len(daily) > 1 else -1,
        )
        # Files for event-like tables: initial load, one per history month, one per
        # delivery day of the latest month. Names sort in delivery order.
        init = add_months(months[0], -1).strftime("%Y-%m") + "_initial"
        cal.event_files = ([init] + [m.strftime("%Y-%m") for m in months]
                           + [str(to_date(d)) for d in daily])
        return cal

    def file_index(self, days: np.ndarray) -> np.ndarray:
        """Delivery file of an event on each day (index into event_files).

        Before the window: the initial load; history months: that month's file; the
        latest month: the next delivery weekday on or after the day (weekend events
        arrive with Monday's file)."""
        days = np.asarray(days, np.int64)
        d64 = days.astype("datetime64[D]")
        ym = d64.astype("datetime64[M]").astype(np.int64)
        first = np.datetime64(to_date(self.window_start), "M").astype(np.int64)
        out = 1 + (ym - first)
        out = np.where(days < self.window_start, 0, out)
        late = days >= self.ref_month_start
        pos = np.searchsorted(self.daily, days, side="left")
        out = np.where(late, 1 + HISTORY_MONTHS + np.minimum(pos, len(self.daily) - 1), out)
        return out.astype(np.int64)

    def snapshot_names(self) -> list[str]:
        return [str(to_date(d)) for d in self.snapshots]


@dataclass
class Products:
    code: np.ndarray          # object array of str
    name: np.ndarray
    ptype: np.ndarray         # int index into PRODUCT_TYPES
    board: np.ndarray         # int index into BOARD_CODES
    risk: np.ndarray          # 1..5
    risk_blank: np.ndarray    # bool: rating delivered blank
    industry: np.ndarray      # object array
    currency: np.ndarray      # object array
    lot: np.ndarray           # trading unit
    base_price: np.ndarray
    vol: np.ndarray
    listed_late: np.ndarray   # bool: delivered in a later products file, never held
    weights: np.ndarray       # [3 profiles, n] holding popularity

    @property
    def n(self) -> int:
        return len(self.code)

    def is_fund(self) -> np.ndarray:
        return np.isin(self.ptype, list(FUND_LIKE))


def _names(rng, n, prefixes, suffixes):
    a = rng.integers(0, len(prefixes), n)
    b = rng.integers(0, len(suffixes), n)
    return [prefixes[i] + suffixes[j] for i, j in zip(a, b, strict=True)]


def build_products(seed: int) -> Products:
    """A few hundred products over every type and board (fixed, whatever the scale)."""
    rng = rng_for(seed, 1)
    rows = []  # (code, name, type, board, risk, industry, currency, lot, price, vol)

    def stock_codes(prefixes, count, suffix, width=6):
        out, seen = [], set()
        while len(out) < count:
            p = prefixes[rng.integers(0, len(prefixes))]
            c = p + str(rng.integers(0, 10 ** (width - len(p)))).zfill(width - len(p))
            if c not in seen:
                seen.add(c)
                out.append(c + suffix)
        return out

    pre = ["中", "华", "东方", "长江", "国", "金", "海", "新", "天", "科", "鼎", "瑞", "恒", "宏"]
    suf_stock = ["科技", "电子", "医药", "银行", "能源", "材料", "制造", "信息", "证券", "地产",
                 "汽车", "食品", "半导体", "生物", "软件", "智能"]
    other = [i for i in ("finance", "real_estate", "retail", "healthcare", "other", "education")]
    specs = [  # board, count, code prefixes, suffix, risk choices, tech share
        ("main", 60, ["600", "601", "603"], ".SH", (3, 4), 0.3),
        ("main", 50, ["000", "002"], ".SZ", (3, 4), 0.3),
        ("star", 40, ["688"], ".SH", (4, 5), 1.0),
        ("chinext", 40, ["300", "301"], ".SZ", (4,), 0.7),
        ("bse", 12, ["83", "87", "43"], ".BJ", (5,), 0.5),
    ]
    for board, count, prefixes, suffix, risks, tech in specs:
        for c in stock_codes(prefixes, count, suffix):
            ind = (TECH_INDUSTRIES[rng.integers(0, 6)] if rng.random() < tech
                   else other[rng.integers(0, len(other))])
            price = float(np.exp(rng.normal(3.0 if board != "star" else 3.8, 0.8)))
            vol = {"star": 0.03, "chinext": 0.026, "bse": 0.032}.get(board, 0.02)
            rows.append((c, None, "stock", board, int(rng.choice(risks)), ind, "CNY", 100,
                         price, vol))
    for c in stock_codes(["0", "09", "01", "02"], 25, ".HK", width=5):
        rows.append((c, None, "stock", "hk", 4,
                     (TECH_INDUSTRIES + tuple(other))[rng.integers(0, 12)], "HKD", 100,
                     float(np.exp(rng.normal(3.2, 1.0))), 0.022))
    for c in stock_codes(["510", "512", "513", "515", "588"], 18, ".SH") + stock_codes(
            ["159"], 12, ".SZ"):
        rows.append((c, None, "etf", "", 3, "ai" if c.startswith("588") else "finance", "CNY",
                     100, float(np.exp(rng.normal(0.6, 0.5))), 0.013))
    fund_codes = iter(stock_codes(["0", "1", "2", "5", "6", "7"], 90, ".OF"))
    for ptype, count, risk, vol, price in [
        ("equity_fund", 40, (3, 4), 0.012, 1.6), ("bond_fund", 20, (2,), 0.001, 1.1),
        ("money_market_fund", 10, (1,), 0.0, 1.0), ("pension_fund", 8, (2, 3), 0.004, 1.2),
        ("education_savings", 5, (1, 2), 0.001, 1.0)]:
        for k in range(count):
            cur = "USD" if ptype == "equity_fund" and k < 3 else "CNY"
            ind = TECH_INDUSTRIES[k % 6] if ptype == "equity_fund" and k % 3 == 0 else "finance"
            rows.append((next(fund_codes), None, ptype, "", int(rng.choice(risk)), ind, cur, 1,
                         price * float(np.exp(rng.normal(0, 0.2))) if vol else 1.0, vol))
    for c in stock_codes(["019", "018"], 12, ".SH") + stock_codes(["112", "128"], 8, ".SZ"):
        rows.append((c, None, "bond", "", 2, "finance", "USD" if c.startswith("018") and
                     rng.random() < 0.3 else "CNY", 10, 100 + float(rng.normal(0, 3)), 0.0015))
    for k in range(25):
        cur = "USD" if k < 3 else ("HKD" if k < 5 else "CNY")
        rows.append((f"SN{2024 + k % 2}{k + 1:03d}", None, "wealth_product", "",
                     int(rng.choice((1, 2, 2, 3))), "finance", cur, 1, 1.0, 0.0005))
    for c in stock_codes(["1000"], 10, ".SH", width=8):
        rows.append((c, None, "option", "", 5, "finance", "CNY", 1,
                     float(rng.uniform(200, 3000)), 0.05))

    n = len(rows)
    code = np.array([r[0] for r in rows], object)
    ptype = np.array([PT[r[2]] for r in rows])
    board = np.array([BOARD_CODES.index(r[3]) for r in rows])
    risk = np.array([r[4] for r in rows])
    names = []
    name_rng = rng_for(seed, 2)
    stock_names = _names(name_rng, n, pre, suf_stock)
    fund_suf = {"etf": "ETF", "equity_fund": "混合型基金", "bond_fund": "债券基金",
                "money_market_fund": "货币基金", "pension_fund": "养老目标基金",
                "education_savings": "教育储蓄计划", "bond": "债券", "wealth_product": "收益凭证",
                "option": "期权合约"}
    theme = ["沪深300", "中证500", "科创50", "创业板", "红利", "纳斯达克", "恒生", "半导体",
             "医药", "新能源", "稳健", "安心", "鑫享", "添利"]
    for i, r in enumerate(rows):
        if r[2] == "stock":
            names.append(stock_names[i] if r[3] != "hk" else stock_names[i] + "(H)")
        else:
            names.append(theme[name_rng.integers(0, len(theme))] + fund_suf[r[2]]
                         + ("" if name_rng.random() < 0.7 else f"{name_rng.integers(1, 9)}号"))
    blank = np.zeros(n, bool)
    blank[rng.choice(n, 5, replace=False)] = True
    late = np.zeros(n, bool)
    late[rng.choice(np.flatnonzero(ptype == PT["stock"]), 4, replace=False)] = True
    # Holding popularity for conservative / balanced / aggressive clients.
    base = rng.gamma(0.7, 1.0, n) + 0.05
    by_type = {
        0: {"money_market_fund": 8, "bond_fund": 5, "wealth_product": 4, "bond": 3,
            "pension_fund": 2, "education_savings": 1.5, "equity_fund": 1, "stock": 0.3,
            "etf": 0.5},
        1: {"stock": 1, "etf": 2, "equity_fund": 2, "bond_fund": 1, "money_market_fund": 2,
            "wealth_product": 1, "pension_fund": 0.5, "bond": 0.5, "education_savings": 0.3},
        2: {"stock": 3, "etf": 1.5, "equity_fund": 1, "option": 0.3, "money_market_fund": 0.5},
    }
    weights = np.zeros((3, n))
    for p, table in by_type.items():
        for t, w in table.items():
            sel = ptype == PT[t]
            weights[p, sel] = base[sel] / base[sel].sum() * w
        weights[p, late] = 0
        weights[p] /= weights[p].sum()
    return Products(
        code=code, name=np.array(names, object), ptype=ptype, board=board, risk=risk,
        risk_blank=blank, industry=np.array([r[5] for r in rows], object),
        currency=np.array([r[6] for r in rows], object), lot=np.array([r[7] for r in rows]),
        base_price=np.array([r[8] for r in rows]), vol=np.array([r[9] for r in rows]),
        listed_late=late, weights=weights,
    )


def price_paths(products: Products, cal: Calendar, seed: int) -> np.ndarray:
    """Close price per product (rows) per business day in cal.bdays (columns)."""
    rng = rng_for(seed, 3)
    steps = rng.normal(0.0002, 1.0, (products.n, len(cal.bdays))) * products.vol[:, None]
    market = rng.normal(0.0, 0.009, len(cal.bdays))
    beta = np.where(np.isin(products.ptype, [PT["stock"], PT["etf"], PT["equity_fund"]]), 1.0, 0)
    # The autumn-2024 rally: a sharp run-up over a few days in late September.
    rally = (cal.bdays >= day(date(2024, 9, 24))) & (cal.bdays <= day(date(2024, 10, 8)))
    market = market + rally * 0.035
    log = np.cumsum(steps + beta[:, None] * market[None, :], axis=1)
    log -= log[:, -1:]  # anchor: base_price is today's price
    prices = products.base_price[:, None] * np.exp(log)
    return np.round(prices, 3)


def price_on(prices: np.ndarray, cal: Calendar, days: np.ndarray) -> np.ndarray:
    """Column index of the latest business day on or before each day."""
    return np.clip(np.searchsorted(cal.bdays, days, side="right") - 1, 0, len(cal.bdays) - 1)


def fx_paths(cal: Calendar, seed: int) -> dict[str, np.ndarray]:
    rng = rng_for(seed, 4)
    out = {}
    for cur, level, vol in (("HKD", 0.915, 0.0013), ("USD", 7.12, 0.0015)):
        log = np.cumsum(rng.normal(0, vol, len(cal.bdays)))
        log -= log[-1]
        out[cur] = np.round(level * np.exp(log), 6)
    return out


def fx_factor(currency: np.ndarray, fx: dict[str, np.ndarray], col: int | np.ndarray):
    """CNY per unit for each row's currency at price-grid column(s) col."""
    out = np.ones(len(currency))
    for cur, path in fx.items():
        sel = currency == cur
        if sel.any():
            out[sel] = path[col] if np.isscalar(col) else path[np.asarray(col)[sel]]
    return out


def products_table(products: Products, late: bool) -> pa.Table:
    sel = products.listed_late if late else ~products.listed_late
    risk = np.array([f"R{r}" for r in products.risk], object)
    risk[products.risk_blank] = ""
    return pa.table({
        "product_code": pa.array(products.code[sel].tolist(), pa.string()),
        "product_name": pa.array(products.name[sel].tolist(), pa.string()),
        "product_type": pa.array([PRODUCT_TYPES[t] for t in products.ptype[sel]], pa.string()),
        "board": pa.array([BOARD_CODES[b] for b in products.board[sel]], pa.string()),
        "risk_rating": pa.array(risk[sel].tolist(), pa.string()),
        "issuer_industry": pa.array(products.industry[sel].tolist(), pa.string()),
        "currency": pa.array(products.currency[sel].tolist(), pa.string()),
    })


def is_weekday(d: int) -> bool:
    return bool(weekday_of(np.array([d]))[0] < 5)

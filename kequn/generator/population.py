"""Who the clients are: true attributes, accounts and planned life stories, per chunk."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from kequn.generator.common import (
    EXEC_TITLES,
    NO_BIRTH,
    OCC,
    PLAIN_TITLES,
    TECH_INDUSTRIES,
    day,
)
from kequn.generator.world import Calendar

# Planned kinds (the story; the truth's lifecycle is recomputed from the data written).
ACTIVE, ZOMBIE, CHURNED, CHURNING, DORMANT, CLOSED = range(6)
KIND_NAMES = ("active", "zombie", "churned", "churning", "dormant", "closed")
# Archetypes: who the person is.
GENERAL, TECH_EXEC, SME, STUDENT, MOM, RETIREE, NEAR_MISS = range(7)
ARCHETYPES = ("general", "tech_exec", "sme", "student", "mom", "retiree", "near_miss")
INDIVIDUAL, INSTITUTION, TEST = range(3)
NEVER = np.iinfo(np.int64).max // 4


@dataclass
class Pop:
    g: np.ndarray               # global client number (0-based)
    ctype: np.ndarray           # INDIVIDUAL / INSTITUTION / TEST
    arche: np.ndarray
    birth: np.ndarray           # day; -1 for non-individuals
    male: np.ndarray            # bool
    occ: np.ndarray             # OCC index; -1 = none
    prev_occ: np.ndarray        # occupation before a change; -1 = no change
    occ_change: np.ndarray      # day of the change or NEVER
    industry: np.ndarray        # index into INDUSTRIES; -1 blank
    board: np.ndarray           # index into BOARDS; -1 unlisted
    title: np.ndarray           # index into EXEC_TITLES (>=0) or -(1+PLAIN index); NO_TITLE
    edu: np.ndarray             # index into EDUCATION; -1 blank
    marital: np.ndarray
    children: np.ndarray        # -1 unknown
    child_year: np.ndarray      # -1 blank
    risk: np.ndarray            # 1..5, 0 = never assessed
    risk_date: np.ndarray       # day or -1
    prev_risk: np.ndarray       # level before reassessment (0 none)
    open_day: np.ndarray
    open_channel: np.ndarray    # index into CHANNELS_OPEN; -1 blank
    branch: np.ndarray
    city: np.ndarray
    kind: np.ndarray
    fund_day: np.ndarray        # NEVER if never funded
    act_end: np.ndarray         # last day of trading/app activity
    drain_start: np.ndarray
    drain_end: np.ndarray
    close_day: np.ndarray       # NEVER unless closed
    status_normal_all_closed: np.ndarray  # bool: status normal but every account closed
    crm_dormant_day: np.ndarray  # day the CRM marked the client dormant, NEVER
    frozen: np.ndarray
    wealth: np.ndarray
    cash_share: np.ndarray
    profile: np.ndarray         # 0 conservative, 1 balanced, 2 aggressive
    trade_rate: np.ndarray      # trades per year while active
    login_rate: np.ndarray      # app login days per year while active (0 = no app)
    channel_pref: np.ndarray    # index into TRADE_CHANNELS
    device_pref: np.ndarray
    restricted_star: np.ndarray  # bool: holds restricted STAR shares (equity incentive)
    has_fund_acct: np.ndarray
    has_margin: np.ndarray
    margin_ratio: np.ndarray
    has_option: np.ndarray
    contact_change: np.ndarray  # day of a phone/city change, NEVER

    @property
    def n(self) -> int:
        return len(self.g)


NO_TITLE = -10_000


def _years(n) -> float:
    return n * 365.25


def make_population(g: np.ndarray, cal: Calendar, rng: np.random.Generator,
                    open_on: int | None = None) -> Pop:
    n = len(g)
    ref = cal.ref
    r = rng.random
    ctype = np.where(r(n) < 0.012, INSTITUTION, INDIVIDUAL)
    ctype = np.where(r(n) < 0.004, TEST, ctype)
    ind = ctype == INDIVIDUAL

    arche = rng.choice(7, n, p=[0.575, 0.022, 0.075, 0.06, 0.038, 0.17, 0.06])
    arche = np.where(ind, arche, GENERAL)

    # ---- age (years at ref) by archetype
    age = np.empty(n)
    age[:] = np.clip(rng.normal(40, 11, n), 19, 80)
    sel = arche == TECH_EXEC
    age[sel] = rng.uniform(29, 58, sel.sum())
    sel = arche == SME
    age[sel] = rng.uniform(27, 68, sel.sum())
    sel = arche == STUDENT
    age[sel] = 18 + rng.gamma(2.0, 1.4, sel.sum()).clip(0, 9.5)
    sel = arche == MOM
    age[sel] = rng.uniform(25, 53, sel.sum())
    sel = arche == RETIREE
    age[sel] = np.where(r(sel.sum()) < 0.62, rng.uniform(60, 70, sel.sum()),
                        rng.uniform(54, 88, sel.sum()))
    sel = arche == NEAR_MISS
    age[sel] = rng.uniform(22, 70, sel.sum())
    # gen Z share among general adults
    sel = (arche == GENERAL) & (r(n) < 0.16)
    age[sel] = rng.uniform(18, 30, sel.sum())
    sel = (arche == GENERAL) & (r(n) < 0.01)
    age[sel] = rng.uniform(88, 101, sel.sum())
    birth = (ref - age * 365.25).astype(np.int64)
    birth = np.where(ind, birth, NO_BIRTH)

    male = r(n) < 0.53
    male[arche == MOM] = False
    male[arche == TECH_EXEC] = r((arche == TECH_EXEC).sum()) < 0.8

    # ---- occupation, employer, title
    occ = np.full(n, OCC["employee"])
    u = r(n)
    gen = arche == GENERAL
    cuts = [(0.44, "employee"), (0.58, "professional"), (0.65, "civil_servant"),
            (0.68, "executive"), (0.72, "unemployed"), (0.76, "farmer"), (0.85, "other"),
            (0.88, "homemaker"), (0.92, "self_employed"), (1.0, None)]
    lo = 0.0
    for hi, name in cuts:
        m = gen & (u >= lo) & (u < hi)
        occ[m] = OCC[name] if name else -1
        lo = hi
    old = gen & (age >= 60) & (r(n) < 0.7)
    occ[old] = OCC["retired"]
    occ[arche == TECH_EXEC] = np.where(r((arche == TECH_EXEC).sum()) < 0.7, OCC["executive"],
                                       OCC["professional"])
    occ[arche == SME] = np.where(r((arche == SME).sum()) < 0.6, OCC["business_owner"],
                                 OCC["self_employed"])
    occ[arche == STUDENT] = np.where(r((arche == STUDENT).sum()) < 0.9, OCC["student"],
                                     OCC["employee"])
    occ[arche == MOM] = OCC["homemaker"]
    occ[arche == RETIREE] = np.where(age[arche == RETIREE] >= 55, OCC["retired"],
                                     OCC["employee"])
    # Near misses: look like a group but are not (rules must reject them).
    nm = arche == NEAR_MISS
    which = rng.integers(0, 5, n)
    occ[nm & (which == 0)] = OCC["executive"]           # executive, non-tech employer
    occ[nm & (which == 1)] = OCC["homemaker"]           # homemaker without children / male
    occ[nm & (which == 2)] = OCC["employee"]            # engineer at a tech firm
    occ[nm & (which == 3)] = OCC["student"]             # student aged > 26
    occ[nm & (which == 4)] = OCC["employee"]
    age_fix = nm & (which == 3)
    birth[age_fix] = (ref - rng.uniform(28, 40, age_fix.sum()) * 365.25).astype(np.int64)
    male[nm & (which == 1)] = r((nm & (which == 1)).sum()) < 0.4
    occ = np.where(ind, occ, -1)

    industry = rng.integers(6, 13, n)  # non-tech by default
    industry = np.where(r(n) < 0.22, rng.integers(0, 6, n), industry)
    industry[arche == TECH_EXEC] = rng.integers(0, 6, (arche == TECH_EXEC).sum())
    industry[nm & (which == 0)] = rng.integers(6, 13, (nm & (which == 0)).sum())
    industry[nm & (which == 2)] = rng.integers(0, 6, (nm & (which == 2)).sum())
    no_employer = np.isin(occ, [OCC["student"], OCC["homemaker"], OCC["retired"],
                                OCC["unemployed"], OCC["farmer"], -1]) | ~ind
    industry = np.where(no_employer, -1, industry)
    board = np.where(r(n) < 0.25, rng.choice(5, n, p=[0.45, 0.15, 0.15, 0.05, 0.2]), -1)
    te = arche == TECH_EXEC
    board[te] = np.where(r(te.sum()) < 0.45, 1, rng.choice([-1, 0, 2], te.sum()))
    # a few tech executives work in non-tech industries at STAR-listed firms
    odd = te & (r(n) < 0.12)
    industry[odd] = rng.integers(6, 13, odd.sum())
    board[odd] = 1
    board = np.where(no_employer, -1, board)
    board[nm & (which == 0)] = np.where(r((nm & (which == 0)).sum()) < 0.5, 0, -1)

    title = np.full(n, NO_TITLE)
    has_title = (industry >= 0) & (r(n) < 0.85)
    title[has_title] = -1 - rng.integers(0, len(PLAIN_TITLES), has_title.sum())
    exec_like = (occ == OCC["executive"]) | (arche == TECH_EXEC) | (
        (occ == OCC["business_owner"]) & (r(n) < 0.5))
    title[exec_like] = rng.integers(0, len(EXEC_TITLES), exec_like.sum())
    # some executives leave the title blank; some tech execs carry only a title
    title[(occ == OCC["executive"]) & (r(n) < 0.15)] = NO_TITLE

    edu = rng.choice(5, n, p=[0.25, 0.2, 0.38, 0.13, 0.04])
    st = occ == OCC["student"]
    edu[st] = np.where(r(st.sum()) < 0.8, 5, 3)
    young = ind & (age < 24) & ~st & (r(n) < 0.25)
    edu[young] = 5  # in college but works part-time
    edu = np.where(r(n) < 0.06, -1, edu)
    edu = np.where(ind, edu, -1)

    marital = np.where(age < 27, 0, rng.choice(4, n, p=[0.15, 0.72, 0.09, 0.04]))
    marital = np.where(age > 75, np.where(r(n) < 0.4, 3, 1), marital)
    marital = np.where(r(n) < 0.05, -1, marital)
    children = np.where(marital == 0, 0, rng.choice(4, n, p=[0.2, 0.5, 0.25, 0.05]))
    mom = arche == MOM
    children[mom] = rng.choice([1, 2, 3], mom.sum(), p=[0.55, 0.38, 0.07])
    marital[mom] = 1
    children[nm & (which == 1)] = 0
    ref_year = 1970 + int(np.datetime64(ref, "D").astype("datetime64[Y]").astype(int))
    by = birth.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    child_year = np.where(children > 0,
                          np.minimum(ref_year, by + rng.integers(24, 38, n)), -1)
    child_year = np.where(children > 0, np.maximum(child_year, ref_year - 30), -1)
    unknown = r(n) < 0.12
    children = np.where(unknown & (children > 0) & (r(n) < 0.5), -1, children)  # year only
    child_year = np.where(unknown & (children >= 0) & (r(n) < 0.5), -1, child_year)
    children = np.where(ind, children, -1)
    child_year = np.where(ind, child_year, -1)

    # ---- opening, acquisition channel
    ws = cal.window_start
    months = np.array([day(m) for m in cal.history_months] + [cal.ref_month_start])
    mw = np.ones(len(months))
    boom = day(date(2024, 10, 1))
    mw[months == boom] = 5.0
    mw[months == day(date(2024, 11, 1))] = 2.0
    mw[-4:] *= 1.6
    mw /= mw.sum()
    pre = r(n) < 0.52
    mi = rng.choice(len(months), n, p=mw)
    m_start = months[mi]
    m_end = np.append(months[1:], cal.ref + 1)[mi]
    open_day = (m_start + r(n) * (m_end - m_start)).astype(np.int64)
    early = ws - (rng.gamma(1.6, 900, n)).astype(np.int64) - 1
    open_day = np.where(pre, np.maximum(early, day(date(2003, 1, 1))), open_day)
    adult = birth + int(18 * 365.25) + 10
    open_day = np.where(ind & (open_day < adult), np.minimum(adult + rng.integers(0, 400, n),
                                                             cal.ref), open_day)
    if open_on is not None:
        open_day[:] = open_on
    open_day = np.minimum(open_day, cal.ref)
    boomer = (open_day >= boom) & (open_day < day(date(2024, 11, 1)))

    chan = rng.choice(11, n, p=[0.30, 0.18, 0.10, 0.02, 0.03, 0.02, 0.02, 0.12, 0.03, 0.03,
                                0.15])
    chan[st & (r(n) < 0.5)] = 3
    chan[mom & (r(n) < 0.45)] = 6
    m = (arche == RETIREE) & (r(n) < 0.3)
    chan[m] = rng.choice([4, 5], m.sum())
    chan[te & (r(n) < 0.4)] = 9
    chan[(arche == SME) & (r(n) < 0.3)] = 8
    m = boomer & (r(n) < 0.5)
    chan[m] = np.where(r(m.sum()) < 0.7, 0, 7)
    chan = np.where(r(n) < 0.03, -1, chan)

    # ---- wealth pyramid
    mult = np.ones(n)
    mult[te] = 9
    mult[arche == SME] = 3
    mult[arche == RETIREE] = 1.8
    mult[st] = 0.12
    mult[ctype == INSTITUTION] = 40
    mult[ctype == TEST] = 0.02
    wealth = np.exp(rng.normal(np.log(22_000), 1.9, n)) * mult
    wealth = np.minimum(wealth, 3e8)

    # ---- kinds (life stories)
    days_open = cal.ref - open_day
    u = r(n)
    kind = np.full(n, ACTIVE)
    z_p = np.where(boomer, 0.55, 0.06)
    long_ = days_open > 230
    c1, c2, c3, c4 = 0.035, 0.105, 0.145, 0.30
    kind[long_ & (u < c1)] = CLOSED
    kind[long_ & (u >= c1) & (u < c2)] = CHURNED
    kind[long_ & (u >= c2) & (u < c3)] = CHURNING
    kind[long_ & (u >= c3) & (u < c4)] = DORMANT
    uz = r(n)
    kind[(days_open > 20) & (kind == ACTIVE) & (uz < z_p)] = ZOMBIE
    kind[ctype == TEST] = np.where(r((ctype == TEST).sum()) < 0.5, ACTIVE, DORMANT)
    kind[(ctype == TEST) & ~long_] = ACTIVE

    fund_day = open_day + rng.integers(0, 20, n)
    never = (kind == ZOMBIE) & (r(n) < 0.55)
    fund_day = np.where(never, NEVER, fund_day)
    fresh = (days_open <= 30) & (kind == ACTIVE) & (r(n) < 0.35)
    fund_day = np.where(fresh, NEVER, fund_day)  # opened, not yet funded
    act_end = np.full(n, cal.ref)
    drain_start = np.full(n, NEVER)
    drain_end = np.full(n, NEVER)
    close_day = np.full(n, NEVER)

    sel = kind == CHURNED
    d_end = cal.ref - rng.integers(100, 480, n)
    d_len = rng.integers(60, 160, n)
    d_end = np.maximum(d_end, np.maximum(fund_day, ws) + d_len + 40)
    ok = d_end <= cal.ref - 100
    kind[sel & ~ok] = ACTIVE
    sel = kind == CHURNED
    drain_end[sel] = d_end[sel]
    drain_start[sel] = d_end[sel] - d_len[sel]
    act_end[sel] = d_end[sel] - rng.integers(0, 20, sel.sum())

    sel = kind == CHURNING
    drain_start[sel] = cal.ref - rng.integers(35, 120, sel.sum())
    drain_end[sel] = cal.ref + rng.integers(15, 100, sel.sum())

    sel = kind == DORMANT
    ae = cal.ref - rng.integers(190, 700, n)
    ae = np.maximum(ae, fund_day + 30)
    ok = ae <= cal.ref - 190
    kind[sel & ~ok] = ACTIVE
    sel = kind == DORMANT
    act_end[sel] = ae[sel]

    sel = kind == CLOSED
    cd = cal.ref - rng.integers(5, 600, n)
    cd = np.maximum(cd, np.maximum(open_day + 90, ws + 20))
    ok = cd <= cal.ref - 3
    kind[sel & ~ok] = ACTIVE
    sel = kind == CLOSED
    close_day[sel] = cd[sel]
    act_end[sel] = cd[sel] - rng.integers(5, 40, sel.sum())
    drain_start[sel] = cd[sel] - 30
    drain_end[sel] = cd[sel] - 1
    all_closed = sel & (r(n) < 0.12)

    sel = kind == ZOMBIE
    act_end[sel] = np.minimum(open_day[sel] + rng.integers(3, 40, sel.sum()), cal.ref)
    wealth[sel] = rng.uniform(50, 950, sel.sum())

    dormant_crm = np.where((kind == DORMANT) & (r(n) < 0.5), act_end + 200, NEVER)
    dormant_crm = np.where(dormant_crm <= cal.ref, dormant_crm, NEVER)
    frozen = (kind == ACTIVE) & (r(n) < 0.004)

    # ---- behaviour
    profile = rng.choice(3, n, p=[0.35, 0.4, 0.25])
    profile[arche == RETIREE] = np.where(r((arche == RETIREE).sum()) < 0.7, 0, 1)
    profile[te] = np.where(r(te.sum()) < 0.5, 2, 1)
    trade_rate = np.exp(rng.normal(np.log(7.0), 1.1, n))
    trade_rate[st] *= 0.6
    trade_rate[arche == RETIREE] *= 0.7
    hyper = r(n) < 0.005
    trade_rate[hyper] = rng.uniform(450, 900, hyper.sum())
    app = r(n) < np.where(age < 35, 0.93, np.where(age < 60, 0.8, 0.55))
    login_rate = np.where(app, np.exp(rng.normal(np.log(11.0), 1.0, n)), 0.0)
    login_rate[st | mom] *= 1.8
    channel_pref = rng.choice(6, n, p=[0.62, 0.12, 0.08, 0.06, 0.02, 0.10])
    m = (age > 62) & (r(n) < 0.5)
    channel_pref[m] = rng.choice([2, 3], m.sum())
    device_pref = rng.choice(4, n, p=[0.42, 0.45, 0.05, 0.08])

    risk = rng.choice([1, 2, 3, 4, 5], n, p=[0.06, 0.2, 0.4, 0.24, 0.1])
    risk = np.where(profile == 0, np.minimum(risk, 3), risk)
    risk = np.where(profile == 2, np.maximum(risk, 3), risk)
    risk = np.where(r(n) < 0.04, 0, risk)
    # assessed at opening (mandatory); many re-assessed later (a new CDC version)
    reassess = (risk > 0) & (cal.ref - open_day > 120) & (r(n) < 0.7)
    lag = rng.uniform(0, 1, n) ** 0.5
    risk_date = np.where(reassess, open_day + 60 + lag * (cal.ref - open_day - 60), open_day)
    risk_date = np.where(risk > 0, risk_date, -1).astype(np.int64)
    prev_risk = np.where(reassess, rng.integers(1, 6, n), 0)
    prev_risk = np.where(prev_risk == risk, np.where(risk > 1, risk - 1, 2), prev_risk)

    # occupation changes (older version holds prev_occ)
    prev_occ = np.full(n, -1)
    occ_change = np.full(n, NEVER)
    ch = ind & (open_day < cal.ref - 120) & (r(n) < 0.04)
    prev_occ[ch] = np.where(occ[ch] == OCC["student"], OCC["employee"],
                            np.where(occ[ch] == OCC["employee"], OCC["student"],
                                     OCC["employee"]))
    occ_change[ch] = open_day[ch] + (r(ch.sum()) * (cal.ref - open_day[ch] - 1)).astype(int) + 1
    contact = np.where(r(n) < 0.03, open_day + (r(n) * (cal.ref - open_day)).astype(int),
                       NEVER)

    restricted = te & (r(n) < 0.35) & (kind != ZOMBIE) & (kind != CLOSED)
    eq = nm & (which == 2) & (r(n) < 0.15) & (kind == ACTIVE)  # engineers with ESOP shares
    restricted |= eq
    has_fund = r(n) < np.where(profile == 0, 0.6, 0.3)
    has_margin = (wealth > 50_000) & (profile > 0) & (r(n) < 0.18)
    margin_ratio = np.where(has_margin & (r(n) < 0.6), rng.uniform(0.05, 0.55, n), 0.0)
    has_option = (wealth > 500_000) & (profile == 2) & (r(n) < 0.3)
    cash_share = rng.uniform(0.03, 0.45, n)
    cash_share = np.where(r(n) < 0.3, 0.0, cash_share)  # fully invested: no cash row
    cash_share = np.where(wealth < 3000, 1.0, cash_share)

    return Pop(
        g=g, ctype=ctype, arche=arche, birth=birth, male=male, occ=occ, prev_occ=prev_occ,
        occ_change=occ_change, industry=industry, board=board, title=title, edu=edu,
        marital=marital, children=children, child_year=child_year, risk=risk,
        risk_date=risk_date, prev_risk=prev_risk, open_day=open_day, open_channel=chan,
        branch=rng.integers(1, 61, n), city=rng.integers(0, 20, n), kind=kind,
        fund_day=fund_day, act_end=act_end, drain_start=drain_start, drain_end=drain_end,
        close_day=close_day, status_normal_all_closed=all_closed, crm_dormant_day=dormant_crm,
        frozen=frozen, wealth=wealth, cash_share=cash_share, profile=profile,
        trade_rate=trade_rate, login_rate=login_rate, channel_pref=channel_pref,
        device_pref=device_pref, restricted_star=restricted, has_fund_acct=has_fund,
        has_margin=has_margin, margin_ratio=margin_ratio, has_option=has_option,
        contact_change=contact,
    )


def is_exec_title(title: np.ndarray) -> np.ndarray:
    return title >= 0


def tech_employer(pop: Pop) -> np.ndarray:
    return ((pop.industry >= 0) & (pop.industry < len(TECH_INDUSTRIES))) | (pop.board == 1)

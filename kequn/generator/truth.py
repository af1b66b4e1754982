"""Ground truth: the spec's groups and lifecycle, computed from clean generated values."""

from __future__ import annotations

import numpy as np

from kequn.generator.common import GROUPS, NO_BIRTH, OCC, TECH_INDUSTRIES


def ymd(days: np.ndarray):
    d64 = np.asarray(days, np.int64).astype("datetime64[D]")
    y = d64.astype("datetime64[Y]").astype(np.int64) + 1970
    m = d64.astype("datetime64[M]").astype(np.int64) % 12 + 1
    d = (d64 - d64.astype("datetime64[M]")).astype(np.int64) + 1
    return y, m, d


def age_years(birth: np.ndarray, as_of: int) -> np.ndarray:
    """Whole years at as_of (NO_BIRTH means unknown -> -1)."""
    known = birth > NO_BIRTH
    y, m, d = ymd(np.where(known, birth, 0))
    ry, rm, rd = ymd(np.array([as_of]))
    age = ry[0] - y - ((m > rm[0]) | ((m == rm[0]) & (d > rd[0])))
    return np.where(known, age, -1)


def group_flags(*, birth, male, occ, industry, board, title, edu, children, child_year,
                restricted_star, individual, as_of) -> np.ndarray:
    """[n, 7] membership per spec group (priority order)."""
    age = age_years(birth, as_of)
    by, _, _ = ymd(np.where(birth > NO_BIRTH, birth, 0))
    female = ~male
    exec_role = (occ == OCC["executive"]) | (title >= 0)
    tech = ((industry >= 0) & (industry < len(TECH_INDUSTRIES))) | (board == 1)
    f = np.zeros((len(occ), 7), bool)
    f[:, 0] = (exec_role & tech) | restricted_star
    f[:, 1] = np.isin(occ, [OCC["business_owner"], OCC["self_employed"]])
    f[:, 2] = (age >= 60) & (age <= 69)
    f[:, 3] = (female & (occ == OCC["homemaker"]) & ((children >= 1) | (child_year > 0))
               & (age >= 0) & (age < 55))
    f[:, 4] = ((occ == OCC["student"]) | (edu == 5)) & (age >= 17) & (age <= 26)
    f[:, 5] = female & (age >= 25) & (age <= 59) & np.isin(
        occ, [OCC[o] for o in ("employee", "professional", "civil_servant", "executive",
                               "business_owner", "self_employed")])
    f[:, 6] = (birth > NO_BIRTH) & (by >= 1995) & (by <= 2009)
    f &= individual[:, None]
    return f


def group_strings(flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(flags)
    codes = np.full(n, "", object)
    primary = np.full(n, "mass", object)
    for j in range(6, -1, -1):
        primary = np.where(flags[:, j], GROUPS[j], primary)
    for j in range(7):
        sep = np.where(codes == "", "", ",")
        codes = np.where(flags[:, j], codes + sep + GROUPS[j], codes)
    return codes, primary


def lifecycle(*, closed, ever_funded, total_assets, has_trade, last_trade, last_login,
              open_day, as_of) -> np.ndarray:
    """First match of the spec's stages. 'No trade for N days' means no filled trade dated
    after as_of - N (so days since the last trade >= N)."""
    since_trade = np.where(has_trade, as_of - last_trade, 10 ** 6)
    since_login = np.where(last_login >= 0, as_of - last_login, 10 ** 6)
    opened = as_of - open_day
    out = np.full(len(closed), "active", object)
    out = np.where((since_trade >= 180) & (since_login >= 180), "dormant", out)
    out = np.where(opened <= 90, "new", out)
    out = np.where((opened > 30) & ~has_trade & (total_assets < 1000), "zombie", out)
    out = np.where(ever_funded & (total_assets < 100) & (since_trade >= 90), "churned", out)
    out = np.where(closed, "closed", out)
    return out


def boundary_sensitive(*, has_trade, last_trade, last_login, as_of) -> np.ndarray:
    """Clients whose stage flips if 'for N days' is read as '> N' instead of '>= N'."""
    st = np.where(has_trade, as_of - last_trade, -1)
    sl = np.where(last_login >= 0, as_of - last_login, -1)
    return (st == 90) | (st == 180) | (sl == 180)

"""Rendering a chunk as raw contract rows, with the contract's known dirt planted."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kequn.generator import common as k
from kequn.generator.activity import (
    MARGIN,
    Accounts,
    Balances,
    Events,
    Positions,
    Snapshot,
    Trades,
    Transfers,
)
from kequn.generator.common import (
    blanks,
    const,
    dates,
    grouped,
    ints,
    join,
    messy_code,
    num,
    pick,
    replace_where,
    timestamps,
    vocab,
)
from kequn.generator.population import INSTITUTION, NEVER, NO_TITLE, TEST, Pop
from kequn.generator.world import PT, Calendar, Products

OCC_VOCAB = [lab for o in k.OCCUPATIONS for lab in k.OCC_LABELS[o]]
OCC_FIRST = np.cumsum([0] + [len(k.OCC_LABELS[o]) for o in k.OCCUPATIONS])[:-1]
OCC_COUNT = np.array([len(k.OCC_LABELS[o]) for o in k.OCCUPATIONS])
TITLES = vocab(list(k.EXEC_TITLES) + list(k.PLAIN_TITLES))
WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
CHECK = "10X98765432"


@dataclass
class Dirt:
    counts: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))

    def add(self, table: str, kind: str, n: int) -> None:
        if n:
            self.counts[table][kind] += int(n)

    def as_dict(self) -> dict:
        return {t: dict(sorted(v.items())) for t, v in sorted(self.counts.items())}


class Flags:
    """Per-client notes on dirt that may legitimately change what a pipeline detects."""

    def __init__(self, n: int):
        self.n = n
        self.masks: dict[str, np.ndarray] = {}

    def add(self, mask: np.ndarray, label: str) -> None:
        if np.any(mask):
            cur = self.masks.setdefault(label, np.zeros(self.n, bool))
            cur |= mask

    def add_clients(self, c: np.ndarray, label: str) -> None:
        m = np.zeros(self.n, bool)
        m[c] = True
        self.add(m, label)

    def text(self) -> np.ndarray:
        out = np.full(self.n, "", object)
        for label, mask in self.masks.items():
            sep = np.where(out == "", "", ";")
            out = np.where(mask, out + sep + label, out)
        return out


def client_ids(g: np.ndarray) -> pa.Array:
    return ints(np.asarray(g) + 1, 8, "C")


def account_ids(g: np.ndarray, suffix: np.ndarray) -> pa.Array:
    return ints((np.asarray(g) + 1) * 10 + np.asarray(suffix), 9, "A")


def id_check(body17: np.ndarray) -> np.ndarray:
    """ISO 7064 MOD 11-2 check index for [n, 17] digit arrays."""
    return (body17 * WEIGHTS).sum(axis=1) % 11


def _digits(x: np.ndarray, width: int) -> np.ndarray:
    p = 10 ** np.arange(width - 1, -1, -1)
    return (np.asarray(x, np.int64)[:, None] // p) % 10


def _lookup(voc: list[str], idx: np.ndarray) -> pa.Array:
    return pick(vocab(voc), idx)


def id_numbers(region: np.ndarray, birth: np.ndarray, seq: np.ndarray, check_shift: np.ndarray,
               legacy: np.ndarray) -> pa.Array:
    y, m, d = _ymd(birth)
    ymd = y * 10000 + m * 100 + d
    body = np.concatenate([_digits(region, 6), _digits(ymd, 8), _digits(seq, 3)], axis=1)
    chk = (id_check(body) + check_shift) % 11
    full = join(ints(region, 6), ints(ymd, 8), ints(seq, 3), pick(vocab(list(CHECK)), chk))
    old = join(ints(region, 6), ints(ymd % 1_000_000, 6), ints(seq, 3))
    return replace_where(full, legacy, old)


def _ymd(days):
    from kequn.generator.truth import ymd

    return ymd(days)


# --------------------------------------------------------------------------- clients
@dataclass
class ClientRows:
    file_idx: np.ndarray
    table: pa.Table
    current: pa.Table      # the current version of each client (for --append-day)


def clients_rows(pop: Pop, cal: Calendar, rng, dirt: Dirt, flags: Flags) -> ClientRows:
    n = pop.n
    r = rng.random
    ind = pop.ctype == 0
    # ----- versions
    frozen_day = np.where(pop.frozen, pop.open_day + (r(n) * (cal.ref - pop.open_day)).astype(int),
                          NEVER)
    risk_change = np.where(pop.prev_risk > 0, pop.risk_date, NEVER)
    events = [pop.open_day, risk_change, pop.occ_change, pop.contact_change, pop.close_day,
              pop.crm_dormant_day, frozen_day]
    cs = np.concatenate([np.arange(n)] * len(events))
    vd = np.concatenate(events)
    ok = (vd < NEVER) & (vd <= cal.ref) & (vd >= pop.open_day[cs])
    key = np.unique(cs[ok] * 1_000_000 + (vd[ok] - cal.ref + 900_000))
    c = key // 1_000_000
    vday = key % 1_000_000 + cal.ref - 900_000
    m = len(c)
    rank = np.arange(m) - np.searchsorted(c, c)
    is_cur = np.append(c[1:] != c[:-1], True)
    dirt.add("clients", "cdc_extra_versions", m - n)

    # ----- per-client renderings (same in every version unless a field changes)
    gstyle = rng.choice(4, n, p=[0.5, 0.15, 0.22, 0.13])
    gvals = ["M", "F", "male", "female", "男", "女", "1", "2"]
    gidx = np.where(pop.male, 0, 1) + 2 * gstyle
    gmiss = ind & (r(n) < 0.015)
    gidx = np.where(gmiss | ~ind, -1, gidx)
    dirt.add("clients", "gender_non_mf_code", (ind & ~gmiss & (gstyle > 0)).sum())
    dirt.add("clients", "gender_missing", gmiss.sum())
    flags.add(gmiss, "gender_missing")

    # birth date and id number
    bd_kind = np.zeros(n, int)  # 0 ok, 1 future, 2 over_120, 3 unparseable, 4 missing, 5 disagree
    u = r(n)
    bd_kind[u < 0.003] = 1
    bd_kind[(u >= 0.003) & (u < 0.005)] = 2
    bd_kind[(u >= 0.005) & (u < 0.006)] = 3
    bd_kind[(u >= 0.006) & (u < 0.016)] = 4
    bd_kind[(u >= 0.016) & (u < 0.024)] = 5
    bd_kind[~ind] = 4
    id_kind = np.zeros(n, int)  # 0 valid, 1 missing, 2 legacy_15, 3 bad checksum
    u = r(n)
    id_kind[u < 0.008] = 1
    id_kind[(u >= 0.008) & (u < 0.013)] = 2
    id_kind[(u >= 0.013) & (u < 0.019)] = 3
    both = ind & np.isin(bd_kind, [1, 2, 3, 4]) & (r(n) < 0.4)
    id_kind[both] = rng.integers(1, 4, both.sum())
    id_kind[bd_kind == 5] = 0  # the id is valid and wins over the typed date
    id_kind[~ind] = 1
    typed = pop.birth.copy()
    typed = np.where(bd_kind == 1, cal.ref + rng.integers(30, 4000, n), typed)
    typed = np.where(bd_kind == 2, pop.birth - int(121 * 365.25) - rng.integers(0, 3000, n),
                     typed)
    typed = np.where(bd_kind == 5, pop.birth + rng.choice([-1, 1], n) * rng.integers(40, 2000, n),
                     typed)
    styles = rng.choice(3, n, p=[0.72, 0.16, 0.12])
    bd_text = dates(np.where(ind, typed, 0), styles)
    bad_text = pick(vocab(["1985-02-30", "19791345", "不详", "0000-00-00", "1990/13/1"]),
                    rng.integers(0, 5, n))
    bd_text = replace_where(bd_text, bd_kind == 3, bad_text)
    bd_text = replace_where(bd_text, bd_kind == 4, pa.nulls(n, pa.string()))
    names = {1: "future", 2: "over_120", 3: "unparseable", 4: "missing", 5: "disagrees_with_id"}
    for kk, nm in names.items():
        dirt.add("clients", f"birth_date_{nm}", (ind & (bd_kind == kk)).sum())
    dirt.add("clients", "birth_date_non_iso_format", (ind & (bd_kind == 0) & (styles > 0)).sum())
    id_names = {1: "missing", 2: "legacy_15", 3: "bad_checksum"}
    for kk, nm in id_names.items():
        dirt.add("clients", f"id_number_{nm}", (ind & (id_kind == kk)).sum())
        for bk, bn in list(names.items())[:4]:
            flags.add(ind & (bd_kind == bk) & (id_kind == kk), f"birth_date_{bn}_and_id_{nm}")
    region = np.array([int(x) for x in k.REGION_CODES])[rng.integers(0, len(k.REGION_CODES), n)]
    seq = rng.integers(0, 100, n) * 10 + np.where(pop.male, rng.choice([1, 3, 5, 7, 9], n),
                                                   rng.choice([0, 2, 4, 6, 8], n))
    shift = np.where(id_kind == 3, rng.integers(1, 11, n), 0)
    idn = id_numbers(region, np.where(ind, pop.birth, 0), seq, shift, id_kind == 2)
    idn = replace_where(idn, id_kind == 1, pa.nulls(n, pa.string()))

    # names and phones (synthetic)
    sur = pick(vocab(k.SURNAMES), rng.integers(0, len(k.SURNAMES), n))
    g1 = pick(vocab(k.GIVEN), rng.integers(0, len(k.GIVEN), n))
    g2 = pick(vocab(k.GIVEN), rng.integers(0, len(k.GIVEN), n))
    name = pc.if_else(pa.array(r(n) < 0.35), join(sur, g1), join(sur, g1, g2))
    inst = join(pick(vocab(k.CITIES), pop.city), pick(vocab(["鼎盛", "华创", "新元", "博远",
                                                             "启明", "长青"]),
                                                      rng.integers(0, 6, n)),
                pick(vocab(["投资管理有限公司", "科技有限公司", "资产管理有限公司",
                            "私募基金管理有限公司"]), rng.integers(0, 4, n)))
    name = replace_where(name, pop.ctype == INSTITUTION, inst)
    name = replace_where(name, pop.ctype == TEST, join("测试账户", ints(pop.g % 10000, 4)))
    phone_pre = pick(vocab(["13", "15", "18", "17", "19"]), rng.integers(0, 5, n))
    phone = join(phone_pre, ints(rng.integers(0, 10 ** 9, n), 9))
    phone_old = join(phone_pre, ints(rng.integers(0, 10 ** 9, n), 9))
    phone = replace_where(phone, r(n) < 0.01, pa.nulls(n, pa.string()))

    # occupation labels: English or Chinese, any case, stray spaces
    def occ_text(occ):
        lab = np.where(occ >= 0, OCC_FIRST[np.maximum(occ, 0)] + (r(n) * OCC_COUNT[
            np.maximum(occ, 0)]).astype(int) % OCC_COUNT[np.maximum(occ, 0)], -1)
        return pick(vocab(OCC_VOCAB), lab)

    occ_now = occ_text(pop.occ)
    occ_miss = ind & (pop.occ >= 0) & (r(n) < 0.008)
    occ_now = replace_where(occ_now, occ_miss, pa.nulls(n, pa.string()))
    flags.add(occ_miss, "occupation_missing")
    dirt.add("clients", "occupation_missing_in_current_version", occ_miss.sum())
    occ_now, cnt = messy_code(occ_now, rng, 0.04)
    dirt.add("clients", "occupation_mixed_case_or_spaces", cnt)
    occ_prev = occ_text(pop.prev_occ)

    ctype = pick(vocab(["individual", "institution", "test"]), pop.ctype)
    ctype = replace_where(ctype, ind & (r(n) < 0.1), pa.nulls(n, pa.string()))
    ctype, cnt = messy_code(ctype, rng, 0.01)
    dirt.add("clients", "client_type_mixed_case_or_spaces", cnt)
    ind_ = pick(vocab(k.INDUSTRIES), pop.industry)
    board = pick(vocab(k.BOARDS), pop.board)
    title_idx = np.where(pop.title >= 0, pop.title,
                         np.where(pop.title == NO_TITLE, -1, len(k.EXEC_TITLES) - 1 - pop.title))
    title = TITLES.take(pa.array(title_idx, mask=title_idx < 0))
    title = replace_where(title, r(n) < 0.02, join(" ", title, " "))
    employer = join(pick(vocab(k.CITIES), rng.integers(0, 20, n)),
                    pick(vocab(["芯", "云", "智", "达", "源", "恒", "盛", "讯"]),
                         rng.integers(0, 8, n)),
                    pick(vocab(["微电子", "生物医药", "软件", "智能科技", "新能源", "精密制造",
                                "银行", "置业", "商贸", "教育", "医院", "集团"]),
                         np.where(pop.industry >= 0, np.minimum(pop.industry, 11), 0)),
                    pick(vocab(["股份有限公司", "有限公司"]), rng.integers(0, 2, n)))
    employer = replace_where(employer, pop.industry < 0, pa.nulls(n, pa.string()))
    edu = pick(vocab(k.EDUCATION), pop.edu)
    marital = pick(vocab(k.MARITAL), pop.marital)
    children = pc.if_else(pa.array(pop.children >= 0), ints(np.maximum(pop.children, 0)),
                          pa.nulls(n, pa.string()))
    cyear = pc.if_else(pa.array(pop.child_year > 0), ints(np.maximum(pop.child_year, 0)),
                       pa.nulls(n, pa.string()))
    chan = pick(vocab(k.CHANNELS_OPEN), pop.open_channel)
    branch = join("BR", ints(pop.branch, 3))
    city = pick(vocab(k.CITIES), pop.city)
    city_old = pick(vocab(k.CITIES), (pop.city + 3) % 20)
    open_txt = dates(pop.open_day, rng.choice(3, n, p=[0.8, 0.12, 0.08]))
    cols_per_client = dict(ctype=ctype, name=name, idn=idn, gender=pick(vocab(gvals), gidx),
                           birth=bd_text, employer=employer, ind=ind_, board=board, title=title,
                           edu=edu, marital=marital, children=children, cyear=cyear, chan=chan,
                           branch=branch, open=open_txt)
    for key_ in ("ind", "board", "edu", "marital", "chan"):
        cols_per_client[key_], cnt = messy_code(cols_per_client[key_], rng, 0.01)
        dirt.add("clients", "codes_mixed_case_or_spaces", cnt)

    # ----- per-version fields
    ci = pa.array(c)
    row = {key_: v.take(ci) for key_, v in cols_per_client.items()}
    new_risk = vday >= pop.risk_date[c]
    lvl = np.where((pop.prev_risk[c] > 0) & ~new_risk, pop.prev_risk[c], pop.risk[c])
    risk_txt = pick(vocab(["C1", "C2", "C3", "C4", "C5"]), np.where(lvl > 0, lvl - 1, -1))
    risk_txt, cnt = messy_code(risk_txt, rng, 0.008)
    dirt.add("clients", "risk_level_mixed_case_or_spaces", cnt)
    rdate = np.where((pop.prev_risk[c] > 0) & ~new_risk, pop.open_day[c], pop.risk_date[c])
    rdate_txt = dates(np.maximum(rdate, 0), rng.choice(3, m, p=[0.8, 0.12, 0.08]))
    rdate_txt = replace_where(rdate_txt, lvl == 0, pa.nulls(m, pa.string()))
    before_change = (pop.prev_occ[c] >= 0) & (vday < pop.occ_change[c])
    occ_v = replace_where(occ_now.take(ci), before_change, occ_prev.take(ci))
    old_contact = (pop.contact_change[c] < NEVER) & (vday < pop.contact_change[c])
    phone_v = replace_where(phone.take(ci), old_contact, phone_old.take(ci))
    city_v = replace_where(city.take(ci), old_contact, city_old.take(ci))
    status = np.zeros(m, int)
    status[vday >= frozen_day[c]] = 1
    status[vday >= pop.crm_dormant_day[c]] = 2
    status[vday >= pop.close_day[c]] = 3
    status_txt, cnt = messy_code(pick(vocab(["normal", "frozen", "dormant", "closed"]), status),
                                 rng, 0.01)
    dirt.add("clients", "status_mixed_case_or_spaces", cnt)
    close_txt = dates(np.where(status == 3, pop.close_day[c], 0),
                      rng.choice(3, m, p=[0.8, 0.12, 0.08]))
    close_txt = replace_where(close_txt, status != 3, pa.nulls(m, pa.string()))
    secs = vday * 86400 + 8 * 3600 + (rng.random(m) * 13 * 3600).astype(np.int64) + rank
    table = pa.table({
        "client_id": client_ids(pop.g[c]), "client_type": row["ctype"], "name": row["name"],
        "id_number": row["idn"], "phone": phone_v, "gender": row["gender"],
        "birth_date": row["birth"], "occupation": occ_v, "employer_name": row["employer"],
        "employer_industry": row["ind"], "employer_listed_board": row["board"],
        "job_title": row["title"], "education": row["edu"], "marital_status": row["marital"],
        "children_count": row["children"], "youngest_child_birth_year": row["cyear"],
        "risk_level": risk_txt, "risk_assessed_date": rdate_txt, "open_date": row["open"],
        "open_channel": row["chan"], "branch_id": row["branch"], "city": city_v,
        "status": status_txt, "close_date": close_txt, "updated_at": timestamps(secs),
    })
    for col in ("employer_name", "job_title", "phone", "education", "children_count",
                "youngest_child_birth_year", "close_date", "risk_level", "occupation",
                "employer_listed_board", "client_type"):
        i = table.column_names.index(col)
        table = table.set_column(i, col, blanks(table[col].combine_chunks(), rng, 0.3))
    file_idx = cal.file_index(vday)
    current = table.filter(pa.array(is_cur))

    # ----- CDC dirt: ties (same updated_at, the later row wins) and stale re-sends
    # A tie is an older version sent again stamped with its successor's updated_at, in the
    # file that first held the successor; the successor itself then comes in the next file
    # (the contract breaks ties by the later file). Within one file a key (client_id,
    # updated_at) never repeats: two versions with one stamp in one file contradict.
    nf = len(cal.event_files)
    multi = np.flatnonzero(~is_cur)  # versions that have a successor
    tie = multi[rng.random(len(multi)) < 0.03]
    tie = tie[file_idx[tie + 1] < nf - 1]
    tie_rows = table.take(pa.array(tie))
    nxt = tie + 1
    tie_rows = tie_rows.set_column(tie_rows.column_names.index("updated_at"), "updated_at",
                                   table["updated_at"].take(pa.array(nxt)))
    tie_file = file_idx[nxt]
    file_idx = file_idx.copy()
    file_idx[nxt] += 1
    stale = multi[rng.random(len(multi)) < 0.05]
    stale_file = np.minimum(file_idx[stale] + rng.integers(3, 30, len(stale)), nf - 1)
    stale_file = np.maximum(stale_file, cal.file_index(np.array([cal.ref]))[0] - 5)
    later = stale_file > file_idx[stale]  # a re-send comes in a later file, never the same
    stale, stale_file = stale[later], stale_file[later]
    dirt.add("clients", "cdc_tie_same_updated_at", len(tie))
    dirt.add("clients", "resent_older_version", len(stale))
    table = pa.concat_tables([tie_rows, table, table.take(pa.array(stale))])
    file_idx = np.concatenate([tie_file, file_idx, stale_file])
    return ClientRows(file_idx, table, current)


# --------------------------------------------------------------------------- accounts
def accounts_rows(pop: Pop, acc: Accounts, cal: Calendar, rng, dirt: Dirt):
    na = len(acc.c)
    closed = acc.close_day <= cal.ref
    frozen = pop.frozen[acc.c] & (acc.suffix == 1)
    v_acct = np.concatenate([np.arange(na), np.flatnonzero(closed)])
    v_day = np.concatenate([acc.open_day, acc.close_day[closed]])
    v_closed = np.concatenate([np.zeros(na, bool), np.ones(closed.sum(), bool)])
    m = len(v_acct)
    dirt.add("accounts", "cdc_extra_versions", closed.sum())
    aid = account_ids(pop.g[acc.c], acc.suffix)
    ai = pa.array(v_acct)
    atype, cnt = messy_code(pick(vocab(["", "cash", "fund", "margin", "option"]),
                                 acc.suffix[v_acct]), rng, 0.01)
    dirt.add("accounts", "codes_mixed_case_or_spaces", cnt)
    status = np.where(v_closed, 2, np.where(frozen[v_acct], 1, 0))
    st, cnt = messy_code(pick(vocab(["normal", "frozen", "closed"]), status), rng, 0.01)
    dirt.add("accounts", "codes_mixed_case_or_spaces", cnt)
    close_txt = replace_where(dates(acc.close_day[v_acct].clip(0, cal.ref), rng.choice(3, m)),
                              ~v_closed, pa.nulls(m, pa.string()))
    # the closing version comes after the opening one, even on the same day
    secs = (v_day * 86400 + 9 * 3600 + np.where(v_closed, 16_200, 0)
            + (rng.random(m) * 16_200).astype(np.int64))
    t = pa.table({
        "account_id": aid.take(ai), "client_id": client_ids(pop.g[acc.c[v_acct]]),
        "account_type": atype,
        "open_date": dates(acc.open_day[v_acct], rng.choice(3, m, p=[0.8, 0.12, 0.08])),
        "status": st, "close_date": blanks(close_txt, rng, 0.3),
        "updated_at": timestamps(secs),
    })
    fidx = cal.file_index(v_day)
    # orphans: accounts whose client is missing from clients
    # (one per client: the orphan's id is made from the client's)
    no = max(1, int(round(na * 0.003)))
    o = rng.integers(0, na, no)
    o = o[first_of_key(acc.c[o])]
    orphan = t.take(pa.array(o))
    orphan = orphan.set_column(0, "account_id", join(ints(90_000_000 + pop.g[acc.c[o]], 8, "A"),
                                                     "8"))
    orphan = orphan.set_column(1, "client_id", unknown_clients(pop.g[acc.c[o]]))
    dirt.add("accounts", "orphan_client_id", len(o))
    return np.concatenate([fidx, fidx[o]]), pa.concat_tables([t, orphan])


def parts(fs: list, ts: list) -> list[tuple[np.ndarray, pa.Table]]:
    """The main rows (already in file order) and the planted extra rows, as two writes."""
    return [(fs[0], ts[0]), (np.concatenate(fs[1:]), pa.concat_tables(ts[1:]))]


def unknown_accounts(g: np.ndarray) -> pa.Array:
    """An account nobody knows, one per client (suffix 9 is never a real account type): an
    orphan copy of a row keeps a key of its own as long as the client's rows did."""
    return join(ints(90_000_000 + np.asarray(g, np.int64), 8, "A"), "9")


def unknown_clients(g: np.ndarray) -> pa.Array:
    """A client id missing from clients, one per client."""
    return ints(90_000_000 + np.asarray(g, np.int64), 8, "C")


def unknown_products(prod: np.ndarray) -> pa.Array:
    """A product code missing from products, one per catalogue product (999xxx.SH is never
    a real code), so two lines of one account never turn into one key."""
    return join("999", ints(np.asarray(prod, np.int64), 3), ".SH")


def first_of_key(*keys: np.ndarray) -> np.ndarray:
    """Mask of the first row of each distinct key (the key's parts as int arrays)."""
    if not len(keys[0]):
        return np.zeros(0, bool)
    _, first = np.unique(np.stack(keys, axis=1), axis=0, return_index=True)
    mask = np.zeros(len(keys[0]), bool)
    mask[first] = True
    return mask


def later_file(fidx: np.ndarray, step: np.ndarray, n_files: int) -> tuple[np.ndarray, np.ndarray]:
    """A re-delivery goes to a later file (`step` files on, at most the last): the rows
    that have one (mask) and its index. A row already in the last file is never repeated:
    a repeat inside one file would break the table's grain."""
    ok = fidx < n_files - 1
    return ok, np.minimum(fidx + step, n_files - 1)


def non_numeric(values: pa.Array, x: np.ndarray, rng, rate: float
                ) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Replace a share of numbers by 'N/A', '-', '' or 'n/a' (unparseable or missing) or,
    for values of 1,000 and more, by well-formed thousands-separated text ('2,248,084.30',
    which still parses). Returns the values, the unparseable mask and the grouped mask."""
    n = len(values)
    hit = rng.random(n) < rate
    how = rng.integers(0, 4, n)
    x = np.asarray(x, float)
    group = hit & (how < 2) & (np.abs(x) >= 1000)
    bad = hit & ~group
    if not hit.any():
        return values, bad, group
    alt = pick(vocab(["N/A", "-", "", "n/a"]), how)
    alt = pc.if_else(pa.array(group), grouped(x), alt)
    return pc.replace_with_mask(values, pa.array(hit), alt.filter(pa.array(hit))), bad, group


# --------------------------------------------------------------------------- holdings
def holdings_rows(pop: Pop, acc: Accounts, pos: Positions, snap: Snapshot, prod: Products,
                  cal: Calendar, rng, dirt: Dirt, flags: Flags):
    """One row per (snapshot_date, account_id, product_code) in every file: the planted
    extra rows (closed positions, orphans) have keys of their own, and only the re-sent
    snapshot file repeats keys of an earlier file."""
    m = len(snap.s)
    last = len(cal.snapshots) - 1
    pi = snap.pos
    aid = account_ids(pop.g[acc.c], acc.suffix).take(pa.array(pos.acct[pi]))
    codes = vocab(prod.code.tolist())
    pcode = codes.take(pa.array(pos.prod[pi]))
    unit = pos.unit[pi]
    dec = np.where(unit < 1, 2, 0)
    qty_txt = pc.if_else(pa.array(dec == 2), num(snap.qty, 2), num(snap.qty, 0))
    mv = snap.mv.copy()
    restricted = pos.restricted[pi]
    neg = rng.random(m) < 0.002
    mv[neg] = -mv[neg]
    mv_txt = num(mv, 2)
    mv_txt, nn, grp = non_numeric(mv_txt, mv, rng, 0.0015)
    negq = rng.random(m) < 0.001
    qty_txt = replace_where(qty_txt, negq, join("-", qty_txt))
    is_cny = prod.currency[pos.prod[pi]] == "CNY"
    unk = (rng.random(m) < 0.001) & is_cny & ~restricted
    pcode = replace_where(pcode, unk, unknown_products(pos.prod[pi]))
    rest = np.where(restricted, 0, np.where(rng.random(m) < 0.7, 1, -1))
    rest_txt = blanks(pick(vocab(["Y", "N"]), rest), rng, 0.5)
    odd_date = (rng.random(m) < 0.002) & (snap.s < last - 3)
    sdate = dates(cal.snapshots[snap.s], odd_date.astype(int))
    cvals = pos.cost_price[pi] * snap.qty
    t = pa.table({"snapshot_date": sdate, "account_id": aid, "product_code": pcode,
                  "quantity": qty_txt, "market_value": mv_txt, "cost_value": num(cvals, 2),
                  "is_restricted": rest_txt})
    on_last = snap.s == last
    cl = pos.c[pi]
    flags.add_clients(cl[neg & on_last], "holding_negative_market_value_on_as_of")
    flags.add_clients(cl[nn & on_last], "holding_market_value_unparseable_on_as_of")
    flags.add_clients(cl[negq & on_last], "holding_negative_quantity_on_as_of")
    flags.add_clients(cl[unk & on_last], "holding_unknown_product_on_as_of")
    dirt.add("holdings", "negative_market_value", neg.sum())
    dirt.add("holdings", "negative_quantity", negq.sum())
    dirt.add("holdings", "non_numeric_market_value", nn.sum())
    dirt.add("holdings", "market_value_with_thousands_separators", grp.sum())
    dirt.add("holdings", "unknown_product_code", unk.sum())
    dirt.add("holdings", "snapshot_date_yyyymmdd", odd_date.sum())
    fidx = snap.s.copy()
    zero, zf = _closed_positions(pop, acc, pos, snap, prod, cal, rng)
    dirt.add("holdings", "zero_quantity_rows", zero.num_rows)
    # orphan account lines: an unknown account per client, one line per (date, product)
    o = np.sort(rng.choice(m, int(m * 0.002), replace=False)) if m else np.array([], int)
    o = o[first_of_key(snap.s[o], pos.c[pi[o]], pos.prod[pi[o]])]
    orph = t.take(pa.array(o)).set_column(1, "account_id", unknown_accounts(pop.g[cl[o]]))
    dirt.add("holdings", "orphan_account_id", len(o))
    # the re-delivered snapshot day: every row of that day again, in a later file
    rs = np.flatnonzero(cal.snapshots[snap.s] == cal.resend_day)
    dirt.add("holdings", "resent_snapshot_rows", len(rs))
    tables = [t, zero, orph, t.take(pa.array(rs))]
    f = [fidx, zf, fidx[o], np.full(len(rs), len(cal.snapshots))]
    return parts(f, tables)


def _closed_positions(pop: Pop, acc: Accounts, pos: Positions, snap: Snapshot, prod: Products,
                      cal: Calendar, rng) -> tuple[pa.Table, np.ndarray]:
    """Zero-quantity lines (legal): about 0.1 % of the snapshot rows get a line of their own
    beside them, for a product the account does not hold that day (a closed position:
    quantity, market value and cost 0), so no key of the snapshot repeats."""
    m = len(snap.s)
    z = np.sort(rng.choice(m, int(m * 0.001), replace=False)) if m else np.array([], int)
    acct, s = pos.acct[snap.pos[z]], snap.s[z]
    other = (pos.prod[snap.pos[z]] + rng.integers(1, prod.n, len(z))) % prod.n

    def key(s_, a_, p_):
        return (s_.astype(np.int64) * (len(acc.c) + 1) + a_) * prod.n + p_

    held = key(snap.s, pos.acct[snap.pos], pos.prod[snap.pos])
    ok = ~np.isin(key(s, acct, other), held) & first_of_key(s, acct, other)
    z, acct, s, other = z[ok], acct[ok], s[ok], other[ok]
    k = len(z)
    t = pa.table({
        "snapshot_date": dates(cal.snapshots[s]),
        "account_id": account_ids(pop.g[acc.c[acct]], acc.suffix[acct]),
        "product_code": vocab(prod.code.tolist()).take(pa.array(other)),
        "quantity": const("0", k), "market_value": const("0", k), "cost_value": const("0", k),
        "is_restricted": const("N", k),
    })
    return t, s.astype(np.int64)


def balances_rows(pop: Pop, acc: Accounts, bal: Balances, cal: Calendar, rng, dirt: Dirt,
                  flags: Flags):
    m = len(bal.s)
    last = len(cal.snapshots) - 1
    aid = account_ids(pop.g[acc.c], acc.suffix).take(pa.array(bal.acct))
    cash_txt, nn, grp = non_numeric(num(bal.cash, 2), bal.cash, rng, 0.0015)
    is_m = acc.suffix[bal.acct] == MARGIN
    debt_txt = pc.if_else(pa.array(is_m | (rng.random(m) < 0.5)), num(bal.debt, 2),
                          const("0", m))
    t = pa.table({"snapshot_date": dates(cal.snapshots[bal.s]), "account_id": aid,
                  "cash_balance": cash_txt, "margin_debt": debt_txt})
    flags.add_clients(acc.c[bal.acct][nn & (bal.s == last)], "cash_balance_unparseable_on_as_of")
    dirt.add("balances", "non_numeric_cash_balance", nn.sum())
    dirt.add("balances", "cash_balance_with_thousands_separators", grp.sum())
    o = np.sort(rng.choice(m, int(m * 0.002), replace=False)) if m else np.array([], int)
    o = o[first_of_key(bal.s[o], acc.c[bal.acct[o]])]  # one unknown account per client
    orph = t.take(pa.array(o)).set_column(1, "account_id",
                                          unknown_accounts(pop.g[acc.c[bal.acct[o]]]))
    dirt.add("balances", "orphan_account_id", len(o))
    rs = np.flatnonzero(cal.snapshots[bal.s] == cal.resend_day)
    dirt.add("balances", "resent_snapshot_rows", len(rs))
    return parts([bal.s, bal.s[o], np.full(len(rs), len(cal.snapshots))],
                 [t, orph, t.take(pa.array(rs))])


# --------------------------------------------------------------------------- trades
SIDES = ["B", "S", "buy", "sell", "买入", "卖出", "1", "2"]


def trades_rows(pop: Pop, acc: Accounts, tr: Trades, prod: Products, cal: Calendar, rng,
                dirt: Dirt, flags: Flags, first_id: int):
    """Returns (file_idx, table, cancelled mask per trade, next id)."""
    m = len(tr.c)
    tid = join("T", ints(first_id + np.arange(m), 12))
    aid = account_ids(pop.g[acc.c], acc.suffix).take(pa.array(tr.acct))
    pcode = vocab(prod.code.tolist()).take(pa.array(tr.prod))
    fund_like = prod.is_fund()[tr.prod]
    style = rng.choice(4, m, p=[0.6, 0.15, 0.15, 0.1])
    side = pick(vocab(SIDES), np.where(tr.buy, 0, 1) + 2 * style)
    side = replace_where(side, fund_like, pick(vocab(["subscribe", "redeem"]),
                                               np.where(tr.buy, 0, 1)))
    side, cnt = messy_code(side, rng, 0.01)
    dirt.add("trades", "side_non_bs_code", int((style > 0).sum()))
    dirt.add("trades", "codes_mixed_case_or_spaces", cnt)
    ptype = prod.ptype[tr.prod]
    stocky = np.isin(ptype, [PT["stock"], PT["etf"]])
    price = tr.price.copy()
    amount = tr.amount.copy()
    zero = rng.random(m) < 0.002
    price[zero] = 0
    mism = (rng.random(m) < 0.003) & stocky & ~zero
    amount[mism] = np.round(amount[mism] * rng.uniform(1.05, 3.0, mism.sum()), 2)
    qdec = np.where(fund_like, 2, 0)
    qty_txt = pc.if_else(pa.array(qdec == 2), num(tr.qty, 2), num(tr.qty, 0))
    price_txt = pc.if_else(pa.array(fund_like), num(price, 4), num(price, 3))
    amt_txt, nn, grp = non_numeric(num(amount, 2), amount, rng, 0.002)
    tstyle = rng.choice(3, m, p=[0.85, 0.1, 0.05])
    ch, cnt = messy_code(pick(vocab(k.TRADE_CHANNELS), tr.channel), rng, 0.01)
    dirt.add("trades", "codes_mixed_case_or_spaces", cnt)
    unk = rng.random(m) < 0.002
    pcode = replace_where(pcode, unk, unknown_products(tr.prod))
    upd = tr.secs + rng.integers(0, 4, m)
    t = pa.table({
        "trade_id": tid, "account_id": aid, "product_code": pcode,
        "trade_time": timestamps(tr.secs, tstyle), "side": side, "quantity": qty_txt,
        "price": price_txt, "amount": amt_txt, "fee": num(tr.fee, 2), "channel": ch,
        "status": messy_code(const("filled", m), rng, 0.003)[0], "updated_at": timestamps(upd),
    })
    day = tr.secs // 86400
    fidx = cal.file_index(day)
    nf = len(cal.event_files)
    rejectable = zero | mism | nn
    # it matters when recent (activity windows) or when the client has no other trade
    clean_count = np.bincount(tr.c[~rejectable], minlength=pop.n)
    matters = rejectable & ((day > cal.ref - 185) | (clean_count[tr.c] == 0))
    flags.add_clients(tr.c[matters], "trade_may_be_rejected(zero_price/amount)")
    dirt.add("trades", "zero_price", zero.sum())
    dirt.add("trades", "amount_disagrees_with_quantity_x_price", mism.sum())
    dirt.add("trades", "non_numeric_amount", nn.sum())
    dirt.add("trades", "amount_with_thousands_separators", grp.sum())
    dirt.add("trades", "unknown_product_code", unk.sum())
    dirt.add("trades", "trade_time_non_standard_format", (tstyle > 0).sum())
    # cancellations: the same trade_id re-sent later with status cancelled
    canc = (rng.random(m) < 0.006) & (day < cal.ref)
    ci = np.flatnonzero(canc)
    cday = cal.bdays[np.minimum(np.searchsorted(cal.bdays, day[ci]) + rng.integers(1, 4, len(ci)),
                                len(cal.bdays) - 1)]
    csecs = cday * 86400 + 17 * 3600 + rng.integers(0, 7200, len(ci))
    canc_rows = t.take(pa.array(ci))
    canc_rows = canc_rows.set_column(canc_rows.column_names.index("status"), "status",
                                     messy_code(const("cancelled", len(ci)), rng, 0.02)[0])
    canc_rows = canc_rows.set_column(canc_rows.column_names.index("updated_at"), "updated_at",
                                     timestamps(csecs))
    cfile = np.maximum(cal.file_index(cday), fidx[ci])
    dirt.add("trades", "cancelled_by_later_row", len(ci))
    # identical re-deliveries in a later file
    di = np.flatnonzero(rng.random(m) < 0.01)
    later, dfile = later_file(fidx[di], rng.integers(1, 4, len(di)), nf)
    di, dfile = di[later], dfile[later]
    dirt.add("trades", "duplicate_redelivery", len(di))
    # orphans: trades on accounts nobody knows
    o = rng.choice(m, int(m * 0.003), replace=False) if m else np.array([], int)
    orph = t.take(pa.array(o)).set_column(1, "account_id", unknown_accounts(pop.g[tr.c[o]]))
    orph = orph.set_column(0, "trade_id", join("T", ints(first_id + m + np.arange(len(o)), 12)))
    dirt.add("trades", "orphan_account_id", len(o))
    out = parts([fidx, fidx[o], cfile, dfile], [t, orph, canc_rows, t.take(pa.array(di))])
    return out, canc, first_id + m + len(o)


def transfers_rows(pop: Pop, acc: Accounts, tf: Transfers, cal: Calendar, rng, dirt: Dirt,
                   first_id: int):
    m = len(tf.c)
    tid = join("F", ints(first_id + np.arange(m), 12))
    aid = account_ids(pop.g[acc.c], acc.suffix).take(pa.array(tf.acct))
    style = rng.choice(2, m, p=[0.82, 0.18])
    d = pick(vocab(["in", "out", "转入", "转出"]), np.where(tf.inbound, 0, 1) + 2 * style)
    d, cnt = messy_code(d, rng, 0.01)
    dirt.add("cash_transfers", "direction_chinese", (style > 0).sum())
    dirt.add("cash_transfers", "codes_mixed_case_or_spaces", cnt)
    amt, nn, grp = non_numeric(num(tf.amount, 2), tf.amount, rng, 0.001)
    dirt.add("cash_transfers", "non_numeric_amount", nn.sum())
    dirt.add("cash_transfers", "amount_with_thousands_separators", grp.sum())
    tstyle = rng.choice(3, m, p=[0.85, 0.1, 0.05])
    t = pa.table({"transfer_id": tid, "account_id": aid,
                  "transfer_time": timestamps(tf.secs, tstyle), "direction": d, "amount": amt})
    fidx = cal.file_index(tf.secs // 86400)
    di = np.flatnonzero(rng.random(m) < 0.005)
    later, dfile = later_file(fidx[di], rng.integers(1, 3, len(di)), len(cal.event_files))
    di, dfile = di[later], dfile[later]
    dirt.add("cash_transfers", "duplicate_redelivery", len(di))
    o = rng.choice(m, int(m * 0.003), replace=False) if m else np.array([], int)
    orph = t.take(pa.array(o)).set_column(1, "account_id", unknown_accounts(pop.g[tf.c[o]]))
    orph = orph.set_column(0, "transfer_id", join("F", ints(first_id + m + np.arange(len(o)), 12)))
    dirt.add("cash_transfers", "orphan_account_id", len(o))
    return parts([fidx, fidx[o], dfile], [t, orph, t.take(pa.array(di))]), first_id + m + len(o)


def events_rows(pop: Pop, ev: Events, cal: Calendar, rng, dirt: Dirt):
    m = len(ev.c)
    dstyle = np.where(rng.random(m) < 0.01, 1, 0)
    et, cnt = messy_code(pick(vocab(k.EVENT_TYPES), ev.etype), rng, 0.005)
    dirt.add("app_events", "codes_mixed_case_or_spaces", cnt)
    dv, cnt = messy_code(pick(vocab(k.DEVICES), ev.device), rng, 0.005)
    dirt.add("app_events", "codes_mixed_case_or_spaces", cnt)
    dirt.add("app_events", "event_date_yyyymmdd", dstyle.sum())
    t = pa.table({"event_date": dates(ev.day, dstyle), "client_id": client_ids(pop.g[ev.c]),
                  "event_type": et, "event_count": ints(ev.count), "device": dv})
    fidx = cal.file_index(ev.day)
    di = np.flatnonzero(rng.random(m) < 0.003)
    later, dfile = later_file(fidx[di], np.ones(len(di), np.int64), len(cal.event_files))
    di, dfile = di[later], dfile[later]
    dirt.add("app_events", "duplicate_redelivery", len(di))
    o = rng.choice(m, int(m * 0.002), replace=False) if m else np.array([], int)
    orph = t.take(pa.array(o)).set_column(1, "client_id", unknown_clients(pop.g[ev.c[o]]))
    dirt.add("app_events", "orphan_client_id", len(o))
    return parts([fidx, fidx[o], dfile], [t, orph, t.take(pa.array(di))])

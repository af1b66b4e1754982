"""Shared helpers for the synthetic extract generator: RNG, dates, text formatting.

Days are int64 counts since 1970-01-01 throughout; seconds are int64 seconds since epoch
(local Asia/Shanghai time, no offset). Every formatter returns a pyarrow string array and
is vectorised: nothing loops over rows in Python.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

EPOCH = date(1970, 1, 1)
DEFAULT_REF = date(2025, 11, 28)
NO_BIRTH = -10_000_000  # day sentinel: no birth date (non-individuals)
CHUNK = 20_000  # clients per chunk; fixed so output never depends on the machine

TECH_INDUSTRIES = ("semiconductor", "biotech", "software", "ai", "new_energy",
                   "advanced_manufacturing")
INDUSTRIES = TECH_INDUSTRIES + ("finance", "real_estate", "retail", "education",
                                "government", "healthcare", "other")
OCCUPATIONS = ("student", "homemaker", "employee", "professional", "civil_servant",
               "executive", "business_owner", "self_employed", "retired", "unemployed",
               "farmer", "other")
OCC = {name: i for i, name in enumerate(OCCUPATIONS)}
# Raw labels per occupation code (the contract's English and Chinese labels).
OCC_LABELS = {
    "student": ["student", "学生"], "homemaker": ["homemaker", "全职家庭主妇", "家庭主妇"],
    "employee": ["employee", "职员"], "professional": ["professional", "专业人士"],
    "civil_servant": ["civil_servant", "公务员"], "executive": ["executive", "企业高管"],
    "business_owner": ["business_owner", "企业主", "私营业主"],
    "self_employed": ["self_employed", "个体工商户"], "retired": ["retired", "退休"],
    "unemployed": ["unemployed", "无业"], "farmer": ["farmer", "农民"], "other": ["other", "其他"],
}
GROUPS = ("tech_executive", "sme_owner", "silver_active", "full_time_mom", "college_student",
          "independent_woman", "gen_z")
LIFECYCLE = ("closed", "churned", "zombie", "new", "dormant", "active")
EXEC_KEYWORDS = ("ceo", "cto", "cfo", "coo", "vp", "president", "director", "总经理", "副总",
                 "总裁", "董事", "总监", "合伙人")
EXEC_TITLES = ("CEO", "CTO", "CFO", "COO", "VP Engineering", "VP of Sales", "President",
               "Managing Director", "Director of R&D", "总经理", "副总经理", "副总裁", "总裁",
               "董事长", "技术总监", "财务总监", "合伙人", "执行董事")
PLAIN_TITLES = ("engineer", "Software Engineer", "工程师", "高级工程师", "研究员", "产品经理",
                "accountant", "会计", "teacher", "教师", "护士", "analyst", "分析师",
                "designer", "设计师", "sales", "销售", "文员", "clerk", "manager", "部门经理",
                "医生", "律师", "researcher")
BOARDS = ("main", "star", "chinext", "bse", "hk")
EDUCATION = ("high_school", "associate", "bachelor", "master", "doctorate", "in_college")
MARITAL = ("single", "married", "divorced", "widowed")
CHANNELS_OPEN = ("app", "branch", "partner_bank", "campus_event", "community_event",
                 "senior_university", "mom_community", "social_media", "chamber_of_commerce",
                 "tech_park", "referral")
TRADE_CHANNELS = ("app", "pc", "branch", "phone", "api", "wechat")
EVENT_TYPES = ("login", "live_stream_view", "short_video_view", "news_read", "course_complete",
               "sim_trade", "advisor_chat", "community_post")
DEVICES = ("ios", "android", "web", "wechat_mini")
CITIES = ("上海", "北京", "深圳", "杭州", "广州", "南京", "苏州", "成都", "武汉", "西安", "合肥",
          "天津", "重庆", "宁波", "厦门", "长沙", "青岛", "无锡", "东莞", "佛山")
REGION_CODES = ("310101", "310104", "310115", "110101", "110105", "110108", "440305",
                "440304", "330106", "330108", "440106", "320106", "320506", "510107",
                "420106", "610113", "340104", "120101", "500103", "330203", "350203",
                "430104", "370202", "320214", "441900", "440604")
SURNAMES = tuple(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = tuple(
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国文辉鹏飞宇浩然子轩梓"
    "涵一诺欣怡思远嘉豪佳琪晨阳雨彤俊杰雪婷博文海燕志强晓东丹丹小龙雅琴"
)


def day(d: date) -> int:
    return (d - EPOCH).days


def to_date(n: int) -> date:
    return EPOCH + timedelta(days=int(n))


def rng_for(seed: int, *keys: int) -> np.random.Generator:
    """An independent, reproducible stream per (seed, purpose, chunk, ...)."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, *[int(k) for k in keys]])


def weekday_of(days: np.ndarray) -> np.ndarray:
    return (np.asarray(days) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0


def weekdays_between(lo: int, hi: int) -> np.ndarray:
    d = np.arange(lo, hi + 1, dtype=np.int64)
    return d[weekday_of(d) < 5]


def month_end(d: date) -> date:
    nxt = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    return nxt - timedelta(days=1)


def add_months(d: date, n: int) -> date:
    m = d.year * 12 + d.month - 1 + n
    return date(m // 12, m % 12 + 1, 1)


# --------------------------------------------------------------------------- text
def vocab(values) -> pa.Array:
    return pa.array(list(values), pa.string())


def pick(voc: pa.Array, idx: np.ndarray) -> pa.Array:
    """Vectorised lookup: voc[idx] as a string array (idx < 0 gives null)."""
    idx = np.asarray(idx)
    if (idx < 0).any():
        return voc.take(pa.array(idx, mask=idx < 0))
    return voc.take(pa.array(idx))


def const(value: str | None, n: int) -> pa.Array:
    return pa.array([value], pa.string()).take(pa.array(np.zeros(n, np.int64)))


def _from_chars(chars: np.ndarray, keep: np.ndarray) -> pa.Array:
    """A string array from a [n, w] uint8 character matrix and a [n, w] keep mask."""
    lengths = keep.sum(axis=1, dtype=np.int64)
    offsets = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    data = chars[keep]
    return pa.Array.from_buffers(pa.large_string(), len(lengths),
                                 [None, pa.py_buffer(offsets), pa.py_buffer(data)]
                                 ).cast(pa.string())


_POW = 10 ** np.arange(18, -1, -1, dtype=np.int64)


def _digit_matrix(a: np.ndarray, width: int) -> np.ndarray:
    """[n, width] ASCII digits of non-negative int64 values (most significant first)."""
    out = np.empty((len(a), width), np.uint8)
    d = a.astype(np.uint32) if len(a) and a.max() < 2 ** 32 else a.astype(np.uint64)
    for j in range(width - 1, -1, -1):
        q = d // 10
        out[:, j] = d - q * 10
        d = q
    out += 48
    return out


def _width(a: np.ndarray) -> int:
    top = int(a.max()) if len(a) else 0
    return max(1, len(str(top)))


def _fixed(units: np.ndarray, decimals: int, min_int: int = 1,
           prefix: bytes = b"") -> pa.Array:
    """Fixed-point text of int64 `units` (value * 10**decimals), vectorised in numpy."""
    units = np.asarray(units, np.int64)
    n = len(units)
    neg = units < 0
    a = np.abs(units)
    scale = 10 ** decimals
    whole = a // scale
    w = max(_width(whole), min_int)
    digits = _digit_matrix(whole, w)
    int_len = np.maximum(np.searchsorted(_POW[::-1], whole, side="right"), min_int)
    int_len = np.minimum(int_len, w)
    cols = [np.full((n, len(prefix)), np.frombuffer(prefix, np.uint8), np.uint8)
            if prefix else np.empty((n, 0), np.uint8),
            np.full((n, 1), ord("-"), np.uint8), digits]
    keeps = [np.ones((n, len(prefix)), bool), neg[:, None],
             np.arange(w)[None, :] >= (w - int_len)[:, None]]
    if decimals:
        cols += [np.full((n, 1), ord("."), np.uint8), _digit_matrix(a % scale, decimals)]
        keeps += [np.ones((n, 1), bool), np.ones((n, decimals), bool)]
    return _from_chars(np.concatenate(cols, axis=1), np.concatenate(keeps, axis=1))


def ints(x: np.ndarray, width: int = 0, prefix: str = "") -> pa.Array:
    """Integers as text, zero-padded to width, optionally after a fixed prefix."""
    return _fixed(np.asarray(x, np.int64), 0, max(width, 1), prefix.encode())


def join(*parts) -> pa.Array:
    """Concatenate string arrays / scalars element-wise."""
    return pc.binary_join_element_wise(*parts, "")


def num(x: np.ndarray, decimals: int = 2) -> pa.Array:
    """Fixed-point decimal text, e.g. 1234.50 or -3.00 (never scientific notation)."""
    x = np.asarray(x, np.float64)
    units = np.rint(x * 10 ** decimals).astype(np.int64)
    return _fixed(units, decimals)


def dates(days: np.ndarray, style: np.ndarray | int = 0) -> pa.Array:
    """Dates as text. style 0 = YYYY-MM-DD, 1 = YYYYMMDD, 2 = YYYY/M/D."""
    days = np.asarray(days, np.int64)
    iso = pa.array(days.astype("datetime64[D]")).cast(pa.string())
    style = np.broadcast_to(np.asarray(style), days.shape)
    one, two = style == 1, style == 2
    if one.any():
        sub = iso.filter(pa.array(one))
        iso = pc.replace_with_mask(iso, pa.array(one), pc.replace_substring(sub, "-", ""))
    if two.any():
        d64 = days[two].astype("datetime64[D]")
        y = d64.astype("datetime64[Y]").astype(np.int64) + 1970
        m = d64.astype("datetime64[M]").astype(np.int64) % 12 + 1
        dd = (d64 - d64.astype("datetime64[M]")).astype(np.int64) + 1
        slash = join(ints(y), "/", ints(m), "/", ints(dd))
        iso = pc.replace_with_mask(iso, pa.array(two), slash)
    return iso


def timestamps(secs: np.ndarray, style: np.ndarray | int = 0) -> pa.Array:
    """style 0 = 'YYYY-MM-DD HH:MM:SS', 1 = 'YYYY-MM-DDTHH:MM:SS+08:00', 2 = 'YYYYMMDD HHMMSS'."""
    secs = np.asarray(secs, np.int64)
    std = pa.array(secs.astype("datetime64[s]")).cast(pa.string())
    style = np.broadcast_to(np.asarray(style), secs.shape)
    one, two = style == 1, style == 2
    if one.any():
        sub = std.filter(pa.array(one))
        std2 = join(pc.replace_substring(sub, " ", "T"), "+08:00")
    if two.any():
        sub = std.filter(pa.array(two))
        std3 = pc.replace_substring(pc.replace_substring(sub, "-", ""), ":", "")
    if one.any():
        std = pc.replace_with_mask(std, pa.array(one), std2)
    if two.any():
        std = pc.replace_with_mask(std, pa.array(two), std3)
    return std


def messy_code(values: pa.Array, rng: np.random.Generator, rate: float) -> tuple[pa.Array, int]:
    """Upper-case, title-case or pad a share of code values with stray spaces."""
    n = len(values)
    hit = rng.random(n) < rate
    how = rng.integers(0, 4, n)
    idx = np.flatnonzero(hit)
    if not len(idx):
        return values, 0
    sub = values.take(pa.array(idx))
    h = how[idx]
    alt = pc.if_else(pa.array(h == 0), pc.utf8_upper(sub), pc.utf8_title(sub))
    alt = pc.if_else(pa.array(h == 2), join(" ", sub, " "), alt)
    alt = pc.if_else(pa.array(h == 3), join(sub, "  "), alt)
    out = pc.replace_with_mask(values, pa.array(hit), alt)
    return out, int(pc.sum(pc.is_valid(sub)).as_py() or 0)


def blanks(values: pa.Array, rng: np.random.Generator, blank_share: float) -> pa.Array:
    """Turn some nulls into '' or ' ' (blank strings where nulls are meant)."""
    n = len(values)
    r = rng.random(n)
    isnull = pc.is_null(values).to_numpy(zero_copy_only=False)
    fill = isnull & (r < blank_share)
    if not fill.any():
        return values
    alt = np.where(r[fill] < blank_share * 0.85, "", " ")
    return pc.replace_with_mask(values, pa.array(fill), pa.array(alt.tolist(), pa.string()))


def replace_where(values: pa.Array, mask: np.ndarray, repl: pa.Array) -> pa.Array:
    """values with rows where mask holds taken from repl (same length as values)."""
    mask = np.asarray(mask, bool)
    if not mask.any():
        return values
    sub = repl.take(pa.array(np.flatnonzero(mask)))
    return pc.replace_with_mask(values, pa.array(mask), sub)


def grouped(x: np.ndarray, decimals: int = 2) -> pa.Array:
    """Fixed-point text with well-formed thousands separators: 2,248,084.30, -1,000.00,
    999.50 (groups of three digits; values below 10**12)."""
    x = np.asarray(x, np.float64)
    units = np.rint(np.abs(x) * 10 ** decimals).astype(np.int64)
    whole, frac = units // 10 ** decimals, units % 10 ** decimals
    groups = np.maximum(1, (np.floor(np.log10(np.maximum(whole, 1))) // 3 + 1).astype(int))
    tail = ints(whole % 1000, 3)  # the lowest group, zero-padded
    out = ints(whole)
    for level in range(1, 4):
        lead = join(ints(whole // 1000 ** level), ",", tail)
        out = pc.if_else(pa.array(groups == level + 1), lead, out)
        tail = join(ints(whole // 1000 ** level % 1000, 3), ",", tail)
    sign = pc.if_else(pa.array(x < 0), const("-", len(x)), const("", len(x)))
    if decimals:
        return join(sign, out, ".", ints(frac, decimals))
    return join(sign, out)

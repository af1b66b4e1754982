"""The DuckDB parsing macros type each value with one try_strptime / try_cast behind cheap
shape tests (length, separator positions, first and last character) instead of a regular
expression per accepted format. This checks, on fuzzed text, that they accept exactly what
the contract's anchored patterns accept: the reference below is the regular-expression form
the macros replaced (and that their default__ versions still use)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from kequn import PROJECT_DIR

V = "nullif(trim(v), '')"
C = f"replace({V}, ' ', '')"
ISO = "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
REFERENCE = {
    "parse_date": f"""cast(case
        when regexp_full_match({V}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}')
            then try_strptime({V}, '%Y-%m-%d')
        when regexp_full_match({V}, '[0-9]{{8}}') then try_strptime({V}, '%Y%m%d')
        when regexp_full_match({V}, '[0-9]{{4}}/[0-9]{{1,2}}/[0-9]{{1,2}}')
            then try_strptime({V}, '%Y/%m/%d')
    end as date)""",
    "parse_local_timestamp": f"""case
        when regexp_full_match(
            {V}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}} [0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}')
            then try_strptime({V}, '%Y-%m-%d %H:%M:%S')
        when regexp_full_match({V}, '[0-9]{{8}} [0-9]{{6}}') then try_strptime({V}, '%Y%m%d %H%M%S')
        when regexp_full_match({V}, '{ISO}([+-][0-9]{{2}}:[0-9]{{2}}|Z)?')
            then try_strptime(substr({V}, 1, 19), '%Y-%m-%dT%H:%M:%S') + to_minutes(480 - case
                when regexp_full_match({V}, '{ISO}[+-][0-9]{{2}}:[0-9]{{2}}')
                    then (case when substr({V}, 20, 1) = '-' then -1 else 1 end)
                    * (cast(substr({V}, 21, 2) as int) * 60 + cast(substr({V}, 24, 2) as int))
                when regexp_full_match({V}, '{ISO}Z') then 0
                else 480 end)
    end""",
    "safe_decimal": f"""case
        when regexp_full_match({C}, '[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?')
            then try_cast({C} as decimal(18, 6))
        when regexp_full_match({C}, '[+-]?[0-9]{{1,3}}(,[0-9]{{3}})+([.][0-9]*)?')
            then try_cast(replace({C}, ',', '') as decimal(18, 6))
    end""",
}
MACRO_CALLS = {
    "parse_date": "{{ parse_date('v') }}",
    "parse_local_timestamp": "{{ parse_local_timestamp('v') }}",
    "safe_decimal": "{{ safe_decimal('v', 'decimal(18, 6)') }}",
}
SEEDS = {
    "parse_date": ["2025-11-05", "20251105", "2025/1/5", "2025/11/05", "2025-02-30",
                   "0099-01-05", "1999/12/31"],
    "parse_local_timestamp": ["2025-11-27 10:00:00", "20251127 140000",
                              "2025-11-27T10:30:00+08:00", "2025-11-27T02:00:00Z",
                              "2025-11-27T09:15:00", "2025-11-26T21:00:00-05:00"],
    "safe_decimal": ["1", "-2.5", "+.5", "1e5", "1,234.50", "-2,248,084.30", "1,2,3", "N/A",
                     "--", "12..5", "1.5E-3", "007", "5.", "1,234,567"],
}
# digits weighted up; separators, signs, letters the parsers know, and the whitespace and
# look-alikes that DuckDB's parsers skip or read (tab, NBSP, U+3000, full-width digit)
ALPHABET = (list("0123456789") * 4 + list("-/: T+Z.eE,_x zt")
            + ["\t", "\n", "\r", "\x0b", "\x0c", "\xa0", "\u3000", "１", "٣"])


def _mutate(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(0, 3)):
        op, i = rng.random(), rng.randint(0, len(chars))
        if op < 0.4 and chars:
            chars[min(i, len(chars) - 1)] = rng.choice(ALPHABET)
        elif op < 0.7:
            chars.insert(i, rng.choice(ALPHABET))
        elif chars:
            del chars[min(i, len(chars) - 1)]
    return "".join(chars)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> dict[str, str]:
    """Each macro compiled by dbt for the DuckDB target (one `dbt compile --inline`)."""
    tmp = tmp_path_factory.mktemp("shapes")
    names = list(MACRO_CALLS)
    inline = "select v, " + ", ".join(f"{MACRO_CALLS[n]} as {n}" for n in names) + " from f"
    env = {**os.environ, "DO_NOT_TRACK": "1", "DBT_TARGET_PATH": str(tmp / "target"),
           "DBT_LOG_PATH": str(tmp / "logs"), "KEQUN_DB": str(tmp / "shapes.duckdb")}
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "compile", "--inline", inline,
         "--output", "json", "--log-format", "json", "-q"],
        cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=900, check=True,
    )
    sql = None
    for line in proc.stdout.splitlines():
        event = json.loads(line) if line.startswith("{") else {}
        if event.get("info", {}).get("name") == "CompiledNode":
            sql = json.loads(event["info"]["msg"])["compiled"]
    assert sql, proc.stdout[-2000:]
    con = duckdb.connect()
    con.execute("create table f (v varchar)")
    columns = con.execute(f"select * from ({sql}) limit 0").description
    assert [c[0] for c in columns] == ["v", *names]
    return {"sql": sql}


@pytest.mark.parametrize("name", list(MACRO_CALLS))
def test_shape_tests_accept_exactly_the_contract_forms(compiled: dict[str, str], name: str) -> None:
    rng = random.Random(20261202)
    values = SEEDS[name] + [_mutate(rng, rng.choice(SEEDS[name])) for _ in range(60_000)]
    con = duckdb.connect()
    con.execute("create table f (v varchar)")
    con.executemany("insert into f values (?)", [[v] for v in values[:2000]])
    con.execute("insert into f select unnest($1)", [values[2000:]])
    diff = con.execute(
        f"select v, ref, got from (select v, ({REFERENCE[name]}) as ref, {name} as got "
        f"from ({compiled['sql']})) where ref is distinct from got limit 10"
    ).fetchall()
    accepted = con.execute(f"select count(({REFERENCE[name]})) from f").fetchone()[0]
    assert accepted > len(values) // 10, "the fuzz must exercise accepted values too"
    assert diff == [], f"{name} differs from the contract's patterns on: {diff}"

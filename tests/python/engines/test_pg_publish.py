"""Write–audit–publish and access on the real private Postgres cluster, with real dbt builds
(the rule seeds and the models that read only them: the Postgres port of staging is the next
session's work, issue 10)."""

from __future__ import annotations

import psycopg2
import pytest

from kequn.engines import postgres
from kequn.engines.pg_publish import Build, PublishError, discard, write_audit_publish
from kequn.engines.postgres import READER_ROLE, connect

MODELS = ["group_catalogue", "int_rule_versions_hashed", "metricflow_time_spine"]
COMMANDS = [["seed"], ["run", "-s", *MODELS]]


def _one(env: dict[str, str], sql: str, **login: str) -> tuple:
    return postgres.query(env, sql, **login)[0]


def _state(env: dict[str, str]) -> tuple:
    """What a reader of the published marts sees, and which schema objects serve it."""
    return (
        _one(env, "select 'marts'::regnamespace::oid, 'rules'::regnamespace::oid")
        + _one(env, "select count(*), string_agg(group_code, ',' order by group_code) "
                    "from marts.group_catalogue")
        + _one(env, "select rule_version from intermediate.int_rule_versions_hashed")
    )


@pytest.fixture(scope="module")
def published(pg_env: dict[str, str]) -> dict[str, str]:
    """A first build, published; the bi_reader probe table rides in its staging schema."""
    build = Build("1")
    discard(build, pg_env)

    def staging_probe(b: Build) -> None:
        # Staging holds hashed identifiers (id_number_hash); until staging is ported to
        # Postgres, one real table in the build's staging schema stands where it will be.
        con = connect(pg_env)
        with con, con.cursor() as cur:
            cur.execute(f"create schema if not exists {b.schema('staging')}")
            cur.execute(f"create table {b.schema('staging')}.stg_brokerage__clients as "
                        "select 'C001'::text as client_id, repeat('a', 64) as id_number_hash")
            cur.execute(f"create table {b.schema('staging')}.stg_brokerage__clients_rejected "
                        "as select 'C009'::text as client_id, 'missing_key'::text as reason")
        con.close()

    published = write_audit_publish(build, COMMANDS, gates=[staging_probe], env=pg_env)
    assert published == ["rules", "staging", "intermediate", "marts"]
    return pg_env


def test_publish_swaps_the_build_in(published: dict[str, str]) -> None:
    count, codes = _one(published, "select count(*), string_agg(group_code, ',') "
                                   "from marts.group_catalogue")
    assert count > 0 and codes
    leftovers = _one(published, "select count(*) from pg_namespace "
                                "where nspname like '%\\_\\_build' "
                                "or nspname like '%\\_\\_old%'")
    assert leftovers == (0,)


def test_refused_build_leaves_published_schemas_unchanged(published: dict[str, str]) -> None:
    before = _state(published)

    def refuse(b: Build) -> None:
        (rows,) = _one(published, f"select count(*) from {b.schema('marts')}.group_catalogue")
        raise AssertionError(f"marts gate: {rows} groups, expected at least 1000")

    refused = "gate refuse refused build 2.*published schemas unchanged"
    with pytest.raises(PublishError, match=refused):
        write_audit_publish(Build("2"), COMMANDS, gates=[refuse], env=published)
    assert _state(published) == before
    # the refused build is kept for inspection
    assert _one(published, "select count(*) from marts__build.group_catalogue")[0] == before[2]
    discard(Build("2"), published)


def test_failed_dbt_run_leaves_published_schemas_unchanged(published: dict[str, str]) -> None:
    before = _state(published)
    # A model that reads staging cannot build on Postgres yet (no raw load in this database):
    # a real dbt failure, after the seeds and the build's other models were written.
    commands = [["seed"], ["run", "-s", *MODELS, "int_products_classified"]]
    failed = r"dbt run failed:(.|\n)*int_products_classified(.|\n)*build 3"
    with pytest.raises(PublishError, match=failed):
        write_audit_publish(Build("3"), commands, env=published)
    assert _state(published) == before
    discard(Build("3"), published)


def test_second_build_replaces_the_first(published: dict[str, str]) -> None:
    before = _state(published)
    write_audit_publish(Build("4"), COMMANDS, env=published)
    after = _state(published)
    assert after[:2] != before[:2]    # new schema objects serve readers
    assert after[2:] == before[2:]    # same seeds, same answers


def _as_reader(env: dict[str, str], sql: str) -> tuple:
    return _one(env, sql, user=READER_ROLE[0], password=env["KEQUN_PG_BI_PASSWORD"])


def test_bi_reader_reads_the_marts_only(published: dict[str, str]) -> None:
    (groups,) = _as_reader(published, "select count(*) from marts.group_catalogue")
    assert groups > 0
    for relation in ("staging.stg_brokerage__clients", "staging.stg_brokerage__clients_rejected",
                     "intermediate.int_rule_versions_hashed", "rules.rule_groups"):
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            _as_reader(published, f"select * from {relation}")
    # and by the catalogue: every relation bi_reader may read is in marts, none of their
    # columns is a hashed identifier or PII
    readable = _as_reader(published, """
        select coalesce(string_agg(distinct n.nspname, ','), ''),
               count(*) filter (where a.attname ~ '(hash|id_number|phone|^name$)')
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        join pg_attribute a on a.attrelid = c.oid and a.attnum > 0
        where c.relkind in ('r', 'v', 'm', 'p')
          and n.nspname not in ('pg_catalog', 'information_schema')
          and has_table_privilege(c.oid, 'select')""")
    assert readable == ("marts", 0)
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        _as_reader(published, "create table marts.x (i int)")

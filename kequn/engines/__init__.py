"""The project on engines other than DuckDB (issue 10): services, loading, publishing.

One module per job: `postgres` runs the private Postgres cluster, `spark` builds the local
Spark session, `pg_load` loads a delivered extract into Postgres' `raw` schema with COPY,
`pg_publish` and `spark_publish` are write–audit–publish on each engine.
"""

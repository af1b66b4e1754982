"""`kequn bench --scale S --target duckdb,postgres`: the same scale on each engine, side by side.

Each engine runs kequn.bench's steps on the same extract (generate once, the limit, a full
build, the next day's delivery, a nightly build) and writes its own result file
(`scale-<S>.json` for DuckDB, `scale-<S>-<engine>.json` otherwise); then one
`engines-<S>.json` and `.png` put full and nightly wall time, CPU and peak memory of the
engines side by side, with the ratios to DuckDB.

Postgres runs on the private cluster (kequn.engines.postgres; started when it is not
running) in a database of its own, `kequn_bench_<S>`, dropped and created at the start. Its
work happens in the server, not in `kequn build`'s process tree: each Postgres step's CPU
is therefore the step's own plus the server's meanwhile (`server_cpu_s`: the postmaster's
process tree, finished backends included), and its peak memory includes the server's
processes (their shared buffers counted once per process: an upper bound).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from kequn import bench
from kequn.bench import GIB, Engine, fmt_scale, save_figure

ENGINES = ("duckdb", "postgres")
NOT_YET = {"spark": "the Spark build does not get past the base models yet (DECISIONS.md, "
                    "\"Spark port\")"}


class PostgresEngine(Engine):
    name = "postgres"

    def __init__(self, scale: float):
        self.database = "kequn_bench_" + fmt_scale(scale).replace(".", "_")
        self.env: dict[str, str] = {}

    def prepare(self, env: dict[str, str]) -> dict[str, str]:
        import psutil

        from kequn.engines import postgres

        cluster = postgres.Cluster(
            root=Path(os.environ.get("KEQUN_PG_DIR", postgres.DEFAULT_DIR)),
            port=int(os.environ.get("KEQUN_PG_PORT", postgres.DEFAULT_PORT)))
        postgres.start(cluster)
        postgres.psql_as_superuser(cluster, f"drop database if exists {self.database} "
                                   "with (force)")
        postgres.psql_as_superuser(cluster, f"create database {self.database} owner "
                                   f"{postgres.APP_ROLE[0]}")
        pid = int((cluster.data_dir / "postmaster.pid").read_text().split()[0])
        self.server = psutil.Process(pid)
        self.env = {**env, **cluster.env(), "KEQUN_PG_DATABASE": self.database}
        return self.env

    def build_cmd(self, py: str, raw: Path, db: Path, full: bool) -> list[str]:
        # every Postgres build rebuilds the models (its schemas start empty); `raw` persists
        return [py, "-m", "kequn.cli", "build", "--target", "postgres", "--raw-dir", str(raw)]

    def _builds(self) -> Path:
        from kequn.engines.pg_publish import state_dir

        return state_dir(self.env) / "builds"

    def collect(self, work: Path, before: set[Path], step: str) -> tuple[dict | None, dict]:
        runs = sorted(self._builds().glob("*/run.json"))
        if not runs:
            return None, {}
        doc = json.loads(runs[-1].read_text(encoding="utf-8"))
        stages = {s["name"]: s["seconds"] for s in doc.get("steps", [])}
        results = self._builds().parent / "target" / "run_results.json"
        dbt = bench.dbt_summary(results) if results.exists() else None
        return dbt, {"run_id": doc.get("run_id"), "seconds": doc.get("seconds"),
                     "stages": stages}

    def size_bytes(self, db: Path) -> int:
        from kequn.engines import postgres

        return int(postgres.query(self.env, "select pg_database_size(current_database())")
                   [0][0])

    def suffix(self) -> str:
        return "-postgres"


def engines_of(text: str) -> list[str]:
    """The engines of `--target a,b`, checked: a ValueError names an unknown or unready one."""
    names = [t.strip() for t in text.split(",") if t.strip()]
    for name in names:
        if name in NOT_YET:
            raise ValueError(f"--target {name}: not available yet: {NOT_YET[name]}")
        if name not in ENGINES:
            raise ValueError(f"--target {name}: unknown engine (one of {', '.join(ENGINES)})")
    return names


def engine_for(name: str, scale: float) -> Engine:
    return PostgresEngine(scale) if name == "postgres" else Engine()


def figures(result: dict) -> dict[str, Any]:
    """Full and nightly wall, CPU (with the server's for Postgres) and peak of one result."""
    out: dict[str, Any] = {"engine": result.get("engine", "duckdb"), "ok": result.get("ok")}
    for step in ("full", "nightly"):
        s = result["steps"].get(step, {})
        if s.get("status") != "ok":
            out[step] = None
            continue
        # the server's own CPU where measured (its process tree), else every other
        # process's meanwhile (older result files)
        server = s.get("server_cpu_s")
        if server is None and out["engine"] != "duckdb":
            server = s.get("others_cpu_s", 0.0)
        cpu = s["cpu_s"] + (server or 0.0)
        out[step] = {"wall_s": s["wall_s"], "cpu_s": round(cpu, 1),
                     "peak_gib": round(s["peak_rss_bytes"] / GIB, 2),
                     "stages": (s.get("build") or {}).get("stages")}
    return out


def side_by_side(scale: float, results: list[dict], out: Path) -> Path:
    """engines-<S>.json and .png: each engine's figures and its ratios to DuckDB's."""
    rows = [figures(r) for r in results]
    base = next((r for r in rows if r["engine"] == "duckdb"), None)
    for r in rows:
        for step in ("full", "nightly"):
            if base and base.get(step) and r.get(step):
                r[f"{step}_wall_over_duckdb"] = round(r[step]["wall_s"] / base[step]["wall_s"], 2)
    path = out / f"engines-{fmt_scale(scale)}.json"
    path.write_text(json.dumps({"scale": scale, "engines": rows}, indent=1) + "\n",
                    encoding="utf-8")
    _plot(scale, rows, path.with_suffix(".png"))
    return path


def _plot(scale: float, rows: list[dict], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 4.2), constrained_layout=True)
    names = [r["engine"] for r in rows]
    for ax, (key, label) in zip(axes, (("wall_s", "wall time, s"), ("cpu_s", "CPU time, s"),
                                       ("peak_gib", "peak memory, GiB")), strict=True):
        width = 0.38
        for i, step in enumerate(("full", "nightly")):
            values = [(r.get(step) or {}).get(key) or 0 for r in rows]
            xs = [j + (i - 0.5) * width for j in range(len(rows))]
            bars = ax.bar(xs, values, width, label=f"{step} build")
            ax.bar_label(bars, labels=[f"{v:,.1f}" if v else "n/a" for v in values],
                         fontsize=8)
        ax.set_xticks(range(len(rows)), names)
        ax.set_title(label)
    axes[0].legend()
    fig.suptitle(f"kequn bench, scale {fmt_scale(scale)}: the same extract on each engine")
    save_figure(fig, png)


def run_engines(args: Any, names: list[str]) -> int:
    """Bench `args.scale` on each engine in turn, then the side-by-side files."""
    out = bench.results_dir(args)
    results, code = [], 0
    for name in names:
        print(f"kequn bench: engine {name}", flush=True)
        rc, result = bench.bench_scale(args.scale, work=args.work, raw_dir=args.raw_dir,
                                       out=out, memory_limit=bench.memory_limit_of(args),
                                       engine=engine_for(name, args.scale))
        code = code or rc
        if result is not None:
            results.append(result)
    if len(results) > 1:
        path = side_by_side(args.scale, results, out)
        print(f"wrote {path} and {path.with_suffix('.png')}")
    return code


if __name__ == "__main__":
    # `python -m kequn.bench_engines scale-1.json scale-1-postgres.json`: the side-by-side
    # files again from result files of one scale (e.g. engines measured in separate runs)
    import sys

    found = [json.loads(Path(f).read_text(encoding="utf-8")) for f in sys.argv[1:]]
    if len(found) < 2 or len({r["scale"] for r in found}) != 1:
        print("usage: python -m kequn.bench_engines RESULT.json RESULT.json... (one scale)",
              file=sys.stderr)
        sys.exit(2)
    written = side_by_side(found[0]["scale"], found, Path(sys.argv[1]).resolve().parent)
    print(f"wrote {written} and {written.with_suffix('.png')}")

"""`kequn bench --series 0.02,0.1,1,3,10`: how cost grows with the data (issue 9 item 7).

Measures each scale in one run, as `kequn bench --scale S` does (same steps, same result
files `scale-<S>.json` / `.png`, each scale in its own work folder `<work>/scale-<S>`), then:

- plots wall time, CPU time and peak memory of the limit, full and nightly steps against raw
  rows on log–log axes (the limit beside the builds: on such axes a constant ratio is a
  constant vertical distance);
- fits the growth exponent (the slope on log–log: 1 = linear) between successive scales and,
  by least squares on log–log, over the scales from 1 to 10 (or over the whole series when it
  holds fewer than two of those);
- prints every target of issue 9 from the result at its stated scale, and the slope target.

Writes `<out>/series-<S1>_<S2>_....json` and `.png` (default out: benchmarks/results/).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from kequn import PROJECT_DIR
from kequn.bench import (
    DEMO_TARGET,
    GIB,
    PEAK_TARGET,
    PIPELINE_STEPS,
    RATIO_TARGETS,
    TARGET_PEAK_BYTES,
    bench_scale,
    fmt_scale,
    memory_limit_of,
    results_dir,
    save_figure,
)

DEFAULT_SERIES = "0.02,0.1,1,3,10"
FIT_SCALES = (1.0, 10.0)       # the "cost growth from scale 1 to 10"
TARGET_SLOPE = 1.05
FIELDS = {"wall_s": "wall time", "cpu_s": "CPU time", "peak_rss_bytes": "peak memory"}
SLOPE_METRICS = ("full.wall_s", "full.cpu_s")  # the cost the slope target is about


def parse_series(text: str) -> list[float]:
    """`0.1,1,3,10` -> [0.1, 1.0, 3.0, 10.0] (sorted, distinct); ValueError when it is not
    at least two positive numbers."""
    try:
        scales = sorted({float(x) for x in text.split(",") if x.strip()})
    except ValueError as exc:
        raise ValueError(f"--series {text!r}: not a comma-separated list of scales") from exc
    if len(scales) < 2 or scales[0] <= 0:
        raise ValueError(f"--series {text!r}: give at least two positive scales, "
                         f"e.g. {DEFAULT_SERIES}")
    return scales


def loglog_slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of log(y) on log(x); None with fewer than two usable points
    (positive x and y) or when every x is the same."""
    pts = [(math.log(x), math.log(y)) for x, y in points if x and y and x > 0 and y > 0]
    if len(pts) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    if sxx == 0:
        return None
    return round(sum((x - mx) * (y - my) for x, y in pts) / sxx, 4)


def _value(result: dict, step: str, field: str) -> float | None:
    s = result.get("steps", {}).get(step, {})
    return s.get(field) if s.get("status") == "ok" else None


def analyse(results: list[dict]) -> dict:
    """Per metric (`<step>.<field>`): the value and raw rows at each scale, the slope between
    successive scales and the least-squares slope over the fit range; and the targets."""
    results = sorted(results, key=lambda r: r["scale"])
    scales = [r["scale"] for r in results]
    rows = [(r.get("raw") or {}).get("rows") for r in results]
    in_range = [s for s in scales if FIT_SCALES[0] <= s <= FIT_SCALES[1]]
    fit_scales = in_range if len(in_range) >= 2 else scales
    metrics: dict[str, dict] = {}
    for step in PIPELINE_STEPS:
        for field in FIELDS:
            values = [_value(r, step, field) for r in results]
            points = list(zip(rows, values, strict=True))
            successive = [
                {"from_scale": scales[i], "to_scale": scales[i + 1],
                 "slope": loglog_slope([points[i], points[i + 1]])}
                for i in range(len(scales) - 1)
            ]
            fit = loglog_slope([p for s, p in zip(scales, points, strict=True)
                                if s in fit_scales])
            metrics[f"{step}.{field}"] = {"values": values, "successive": successive,
                                          "fit": fit}
    return {"scales": scales, "raw_rows": rows, "fit_scales": fit_scales,
            "fit_is_1_to_10": fit_scales == in_range and len(in_range) >= 2
            and min(in_range) == FIT_SCALES[0] and max(in_range) == FIT_SCALES[1],
            "metrics": metrics, "targets": series_targets(results, metrics, fit_scales)}


def series_targets(results: list[dict], metrics: dict, fit_scales: list[float]) -> list[dict]:
    """Every target of issue 9, each read from the result at its stated scale (not measured
    when the series lacks that scale)."""
    by_scale = {r["scale"]: r for r in results}
    out = []
    stated = [(at, name, limit) for at, name, _, limit in RATIO_TARGETS]
    stated += [(RATIO_TARGETS[0][0], PEAK_TARGET, TARGET_PEAK_BYTES),
               (DEMO_TARGET[0], DEMO_TARGET[1], DEMO_TARGET[3])]
    for at, name, limit in stated:
        result = by_scale.get(at)
        found = next((t for t in (result or {}).get("targets", []) if t["target"] == name),
                     None)
        measured = found["measured"] if found else None
        out.append({"target": f"scale {fmt_scale(at)}: {name}", "scale": at, "limit": limit,
                    "measured": measured,
                    "met": None if measured is None else measured <= limit})
    span = f"{fmt_scale(fit_scales[0])}-{fmt_scale(fit_scales[-1])}"
    full_1_to_10 = FIT_SCALES[0] in fit_scales and FIT_SCALES[1] in fit_scales
    for key in SLOPE_METRICS:
        slope = metrics[key]["fit"]
        # a verdict only over the range the issue states, measured at both of its ends
        value = dict(zip((r["scale"] for r in results), metrics[key]["values"], strict=True))
        ends = full_1_to_10 and all(value.get(s) is not None for s in FIT_SCALES)
        note = None if ends else (
            "the target is for scales 1 to 10" if not full_1_to_10 else
            " and ".join(f"scale {fmt_scale(s)}" for s in FIT_SCALES
                                          if value.get(s) is None) + " has no figure")
        out.append({"target": f"slope of {key} over scales {span} <= {TARGET_SLOPE}",
                    "scale": None, "limit": TARGET_SLOPE, "measured": slope,
                    "met": None if slope is None or not ends else slope <= TARGET_SLOPE,
                    "note": note})
    return out


def summary_lines(series: dict) -> list[str]:
    a = series["analysis"]
    head = f"{'scale':>7} {'raw rows':>12}"
    for step in PIPELINE_STEPS:
        head += f" {step + ' wall/cpu s, GiB':>28}"
    lines = [head]
    for i, scale in enumerate(a["scales"]):
        rows = a["raw_rows"][i]
        line = f"{fmt_scale(scale):>7} {'n/a' if rows is None else f'{rows:,}':>12}"
        for step in PIPELINE_STEPS:
            w, c, m = (a["metrics"][f"{step}.{f}"]["values"][i] for f in FIELDS)
            cell = ("failed or not run" if w is None
                    else f"{w:.1f} / {c:.1f}, {m / GIB:.2f}")
            line += f" {cell:>28}"
        lines.append(line)
    lines.append(f"slope (log-log, 1 = linear), fit over scales "
                 f"{', '.join(fmt_scale(s) for s in a['fit_scales'])}:")
    for key, m in a["metrics"].items():
        steps = "  ".join(
            f"{fmt_scale(s['from_scale'])}->{fmt_scale(s['to_scale'])} "
            f"{'n/a' if s['slope'] is None else format(s['slope'], '.2f')}"
            for s in m["successive"])
        fit = "n/a" if m["fit"] is None else f"{m['fit']:.2f}"
        lines.append(f"  {key:<22} fit {fit:>5}   {steps}")
    for t in a["targets"]:
        verdict = {True: "met", False: "MISSED", None: "not measured"}[t["met"]]
        if t["measured"] is not None and t["met"] is None:
            verdict = f"not judged ({t.get('note')})"
        shown = ("–" if t["measured"] is None
                 else f"{t['measured'] / GIB:.2f} GiB" if t["limit"] == TARGET_PEAK_BYTES
                 else f"{t['measured']:.3g}")
        lines.append(f"target: {t['target']:<58} {shown:>10}  {verdict}")
    return lines


def plot_series(series: dict, png: Path) -> None:
    """Wall time, CPU time and peak memory against raw rows, log–log, limit beside."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kequn.segment_report import configure_cjk_font

    configure_cjk_font()
    a = series["analysis"]
    rows = a["raw_rows"]
    styles = {
        "limit": ("极限 limit (DuckDB: read, type, write once)", "#8c8c8c", "--", "s"),
        "full": ("全量构建 full build", "#4c72b0", "-", "o"),
        "nightly": ("夜间增量 nightly build", "#dd8452", "-", "^"),
    }
    panels = [("wall_s", "墙钟时间 wall time (s)", 1.0),
              ("cpu_s", "CPU 时间 CPU time (s, user+sys)", 1.0),
              ("peak_rss_bytes", "峰值内存 peak memory (GiB)", 1 / GIB)]
    fig, axes = plt.subplots(1, 3, figsize=(15, 5.2), constrained_layout=True)
    for ax, (field, title, unit) in zip(axes, panels, strict=True):
        for step, (label, color, ls, marker) in styles.items():
            m = a["metrics"][f"{step}.{field}"]
            pts = [(x, v * unit) for x, v in zip(rows, m["values"], strict=True)
                   if x and v]
            if not pts:
                continue
            fit = "n/a" if m["fit"] is None else f"{m['fit']:.2f}"
            ax.plot([p[0] for p in pts], [p[1] for p in pts], ls=ls, marker=marker,
                    color=color, label=f"{label}  斜率 slope {fit}")
        if field == "wall_s":
            limit = a["metrics"]["limit.wall_s"]["values"]
            pts = [(x, 3 * v) for x, v in zip(rows, limit, strict=True) if x and v]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], ls=":", color="#c44e52",
                        label="3 × 极限 3 × limit (scale-10 target)")
        if field == "peak_rss_bytes":
            ax.axhline(TARGET_PEAK_BYTES / GIB, color="#c44e52", ls=":", lw=1,
                       label="8 GiB 目标 target")
        for x, s in zip(rows, a["scales"], strict=True):
            if x:
                ax.annotate(fmt_scale(s), (x, 1), xycoords=("data", "axes fraction"),
                            xytext=(0, 3), textcoords="offset points", ha="center",
                            fontsize=7, color="#555555")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("原始行数 raw rows (上: 规模 top: scale)")
        ax.set_title(title, pad=14)
        ax.grid(True, which="both", alpha=0.25)
        ax.legend(fontsize=7, loc="upper left")
    fit = ", ".join(fmt_scale(s) for s in a["fit_scales"])
    m = series["machine"]
    fig.suptitle(
        f"成本随数据量增长 How cost grows with the data — kequn bench --series "
        f"{','.join(fmt_scale(s) for s in a['scales'])}; 对数坐标 log–log, 斜率 slope = "
        f"least squares over scales {fit}; {m.get('cores_logical')} cores, "
        f"{(m.get('memory_bytes') or 0) / GIB:.0f} GiB", fontsize=10)
    save_figure(fig, png)


def series_paths(out: Path, scales: list[float]) -> tuple[Path, Path]:
    stem = "series-" + "_".join(fmt_scale(s) for s in scales)
    return out / f"{stem}.json", out / f"{stem}.png"


def write_series(json_path: Path, scales: list[float], results: list[dict], out: Path, *,
                 started: str, codes: dict[str, int]) -> dict:
    """Analyse the per-scale results and write the series JSON (atomically); returns it."""
    series = {
        "schema_version": 1, "started_at": started,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "scales": scales, "exit_codes": codes,
        "results": [str(out / f"scale-{fmt_scale(r['scale'])}.json") for r in results],
        "machine": results[-1]["machine"] if results else {},
        "analysis": analyse(results),
    }
    tmp = json_path.with_name(json_path.name + ".tmp")
    tmp.write_text(json.dumps(series, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, json_path)
    return series


def series_from_results(files: list[Path]) -> tuple[Path, Path]:
    """Rebuild a series (JSON, plot, summary) from per-scale result files measured apart,
    e.g. after re-running one scale on a quieter machine. Written beside the first file."""
    results = sorted((json.loads(f.read_text(encoding="utf-8")) for f in files),
                     key=lambda r: r["scale"])
    scales = [r["scale"] for r in results]
    out = files[0].parent
    json_path, png_path = series_paths(out, scales)
    series = write_series(json_path, scales, results, out,
                          started=min(r.get("started_at", "") for r in results),
                          codes={fmt_scale(r["scale"]): 0 if r.get("ok", True) else 1
                                 for r in results})
    plot_series(series, png_path)
    print("\n".join(summary_lines(series)))
    return json_path, png_path


def run_series(args: argparse.Namespace) -> int:
    try:
        scales = parse_series(args.series)
    except ValueError as exc:
        print(f"kequn bench: {exc}", file=sys.stderr)
        return 2
    if args.raw_dir is not None:
        print("kequn bench: --raw-dir is for one --scale; a series generates (or reuses) "
              "each scale's extract in <work>/scale-<S>/raw", file=sys.stderr)
        return 2
    base = (args.work or PROJECT_DIR / "warehouse" / "bench").resolve()
    out = results_dir(args)
    memory_limit = memory_limit_of(args)
    json_path, png_path = series_paths(out, scales)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    print(f"kequn bench --series: scales {', '.join(fmt_scale(s) for s in scales)}, "
          f"work folders {base}/scale-<S>", flush=True)
    results: list[dict] = []
    codes: dict[str, int] = {}

    def save() -> dict:
        return write_series(json_path, scales, results, out, started=started, codes=codes)

    for i, scale in enumerate(scales, 1):
        print(f"\n=== scale {fmt_scale(scale)} ({i}/{len(scales)}) ===", flush=True)
        code, result = bench_scale(scale, work=base / f"scale-{fmt_scale(scale)}",
                                   raw_dir=None, out=out, memory_limit=memory_limit)
        codes[fmt_scale(scale)] = code
        if result is not None:
            results.append(result)
            save()
        if code == 130:
            break
    if not results:
        print("kequn bench: no scale was measured", file=sys.stderr)
        return 1
    series = save()
    plot_series(series, png_path)
    print()
    print("\n".join(summary_lines(series)))
    print(f"wrote {json_path} and {png_path}")
    if 130 in codes.values():
        return 130
    return 0 if all(c == 0 for c in codes.values()) and len(codes) == len(scales) else 1


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print("usage: python -m kequn.bench_series RESULT.json... (a series from per-scale "
              "result files: JSON, plot and targets beside the first)", file=sys.stderr)
        sys.exit(2)
    written = series_from_results([Path(f) for f in sys.argv[1:]])
    print(f"wrote {written[0]} and {written[1]}")

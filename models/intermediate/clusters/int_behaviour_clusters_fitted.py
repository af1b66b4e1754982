"""Behavioural clusters (AI 精细化分群): k-means over the standardized behaviour features.

One row per cluster per feature at the current as-of date: the centroid, in standardized
units (z over the clustered clients) and in the feature's own units, with the fit's
metadata (k, the silhouette of every k tried, the model version) on every row.

- Features: the rows of int_client_behaviour_features_prepared (one per client x feature,
  the features that seed rule_cluster_features lists), standardized over the clustered
  clients (mean 0, population standard deviation 1; a constant feature keeps scale 1).
- k: every k in [cluster_k_min, cluster_k_max] is fitted (k-means++, n_init 4,
  random_state cluster_random_state) and scored by its silhouette on a deterministic
  sample (cluster_silhouette_sample_size clients); the highest wins, smaller k on a tie,
  and the previous build's k is kept unless another beats it by cluster_k_switch_margin.
  With fewer distinct clients than k_max + 1, k_max is clamped (fit_note says so).
- Ids: each new centroid is matched to a previous one (the previous build's rows of this
  table, read from `dbt.this` before it is replaced) by the Hungarian algorithm on their
  distances in today's standardized space; a pair farther apart than
  cluster_match_max_distance is no match. Unmatched clusters get new ids (never reused),
  the largest first. With no previous fit (first build, --full-refresh) ids are 1..k by
  size.

Assignments are not written here: int_client_behaviour_clusters_assigned assigns every
clustered client to its nearest centroid in SQL, so the marts read one home of the fit.
Same input, same vars -> identical output (one thread, fixed seeds, rows sorted by client).
"""

import hashlib
import json

import numpy as np
import pandas as pd

CRITERION = "silhouette"
N_INIT = 4

OUTPUT_DTYPES = {
    "as_of_date": "datetime64[us]",
    "cluster_id": "int64",
    "feature_name": "string",
    "centroid_z": "float64",
    "centroid_value": "float64",
    "feature_mean": "float64",
    "feature_std": "float64",
    "cluster_clients_fitted": "int64",
    "clients_fitted": "int64",
    "is_new_cluster": "bool",
    "previous_cluster_distance": "float64",
    "next_cluster_id": "int64",
    "k": "int64",
    "k_min": "int64",
    "k_max": "int64",
    "k_max_used": "int64",
    "criterion_name": "string",
    "criterion_value": "float64",
    "criterion_by_k": "string",
    "fit_note": "string",
    "model_version": "string",
}


def _settings(dbt) -> dict:
    # literal dbt.config.meta_get calls: dbt's parser collects the keys from them
    return {
        "k_min": int(dbt.config.meta_get("cluster_k_min")),
        "k_max": int(dbt.config.meta_get("cluster_k_max")),
        "random_state": int(dbt.config.meta_get("cluster_random_state")),
        "silhouette_sample_size": int(dbt.config.meta_get("cluster_silhouette_sample_size")),
        "fit_sample_size": int(dbt.config.meta_get("cluster_fit_sample_size")),
        "k_switch_margin": float(dbt.config.meta_get("cluster_k_switch_margin")),
        "match_max_distance": float(dbt.config.meta_get("cluster_match_max_distance")),
    }


def _previous_fit(dbt, session) -> pd.DataFrame | None:
    """The previous build's rows of this model, or None (first build, fresh database)."""
    this = dbt.this
    found = session.execute(
        "select count(*) from information_schema.columns where table_catalog = ? "
        "and table_schema = ? and table_name = ? "
        "and column_name in ('cluster_id', 'feature_name', 'centroid_value', 'k', "
        "'next_cluster_id')",
        [this.database, this.schema, this.identifier]).fetchall()[0][0]
    if found < 5:
        return None
    return session.sql(
        f"select cluster_id, feature_name, centroid_value, k, next_cluster_id from {this!r}"
    ).df()


def _empty(note: str) -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=t) for c, t in OUTPUT_DTYPES.items()})
    frame.attrs["note"] = note
    return frame


def _fit_k_range(z_fit: np.ndarray, ks: list[int], settings: dict) -> dict[int, tuple]:
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    fits: dict[int, tuple] = {}
    rs = settings["random_state"]
    sample = min(settings["silhouette_sample_size"], len(z_fit))
    for k in ks:
        km = KMeans(n_clusters=k, n_init=N_INIT, random_state=rs).fit(z_fit)
        try:
            score = float(silhouette_score(z_fit, km.labels_, sample_size=sample,
                                           random_state=rs))
        except ValueError:      # the sample drew a single label: no silhouette for this k
            score = float("nan")
        fits[k] = (km, score)
    return fits


def _choose_k(fits: dict[int, tuple], previous_k: int | None, margin: float) -> int:
    scored = {k: s for k, (_, s) in fits.items() if not np.isnan(s)}
    if not scored:
        return min(fits)
    best = max(scored, key=lambda k: (scored[k], -k))
    if previous_k in scored and scored[best] - scored[previous_k] < margin:
        return previous_k
    return best


def _match_ids(centers: np.ndarray, sizes: np.ndarray, previous: pd.DataFrame | None,
               names: list[str], mean: np.ndarray, std: np.ndarray,
               max_distance: float) -> tuple[list[int], list[float | None], int]:
    """Cluster ids for the new centers, the distance to the matched previous centroid, and
    the next unused id."""
    from scipy.optimize import linear_sum_assignment

    k = len(centers)
    ids: list[int | None] = [None] * k
    distances: list[float | None] = [None] * k
    next_id = 1
    if previous is not None and len(previous):
        next_id = int(max(previous["next_cluster_id"].max(), previous["cluster_id"].max() + 1))
        wide = previous.pivot(index="cluster_id", columns="feature_name",
                              values="centroid_value")
        common = [i for i, n in enumerate(names) if n in wide.columns]
        if common:
            prev_ids = wide.index.to_numpy()
            prev_z = ((wide[[names[i] for i in common]].to_numpy(float) - mean[common])
                      / std[common])
            cost = np.sqrt(((prev_z[:, None, :] - centers[None, :, common]) ** 2).sum(-1))
            for p, c in zip(*linear_sum_assignment(cost), strict=True):
                if cost[p, c] <= max_distance:
                    ids[c] = int(prev_ids[p])
                    distances[c] = float(cost[p, c])
    for c in sorted(range(k), key=lambda c: (-sizes[c], c)):
        if ids[c] is None:
            ids[c] = next_id
            next_id += 1
    return [int(i) for i in ids], distances, next_id


def model(dbt, session):
    dbt.config(materialized="table")
    import sklearn
    from threadpoolctl import threadpool_limits

    settings = _settings(dbt)
    feature_list = dbt.ref("rule_cluster_features").df().sort_values(
        ["sort_order", "feature_name"])
    names = [str(n) for n in feature_list["feature_name"]]
    long = dbt.ref("int_client_behaviour_features_prepared").df()
    if not names:
        raise ValueError("seed rule_cluster_features lists no feature: nothing to cluster on")
    if long.empty:
        return _empty("no clustered client at the as-of date")

    unknown = sorted(set(names) - set(long["feature_name"]))
    if unknown:
        raise ValueError(
            f"seed rule_cluster_features: feature_name {', '.join(unknown)} is not computed "
            "by int_client_behaviour_features_prepared (its candidate_features list)")
    as_of_dates = long["as_of_date"].unique()
    if len(as_of_dates) != 1:
        raise ValueError(f"int_client_behaviour_features_prepared holds {len(as_of_dates)} "
                         "as-of dates; the fit expects the current one only")
    wide = long.pivot(index="client_id", columns="feature_name",
                      values="feature_value").sort_index()
    if wide[names].isna().any().any():
        bad = wide[names].isna().sum()
        raise ValueError("int_client_behaviour_features_prepared: null feature_value for "
                         + ", ".join(f"{n} ({int(v)} clients)" for n, v in bad.items() if v))
    x = wide[names].to_numpy(dtype=float)
    n = len(x)
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std[std == 0] = 1.0        # a constant feature carries no distance: keep its scale 1
    z = (x - mean) / std

    k_min, k_max = settings["k_min"], settings["k_max"]
    if not 1 <= k_min <= k_max:
        raise ValueError(f"vars cluster_k_min={k_min}, cluster_k_max={k_max}: need "
                         "1 <= cluster_k_min <= cluster_k_max")
    distinct = len(np.unique(z.round(12), axis=0))
    notes = []
    # silhouette needs 2 <= k <= samples - 1
    k_max_used = min(k_max, distinct - 1)
    if k_max_used < k_max:
        notes.append(f"k_max clamped from {k_max} to {max(k_max_used, 1)}: only {distinct} "
                     f"distinct clients of {n}")
    ks = list(range(max(min(k_min, k_max_used), 2), k_max_used + 1))
    if not ks:
        ks = [max(1, min(k_min, distinct))]
        notes.append(f"k = {ks[0]} without a criterion: too few distinct clients to compare k")

    rs = settings["random_state"]
    z_fit = z
    if n > settings["fit_sample_size"]:
        rng = np.random.default_rng(rs)
        z_fit = z[np.sort(rng.choice(n, settings["fit_sample_size"], replace=False))]
        notes.append(f"fitted on a sample of {len(z_fit)} of {n} clients")

    previous = _previous_fit(dbt, session)
    previous_k = int(previous["k"].iloc[0]) if previous is not None and len(previous) else None
    with threadpool_limits(limits=1):
        if ks[0] < 2:
            from sklearn.cluster import KMeans

            fits = {ks[0]: (KMeans(n_clusters=ks[0], n_init=N_INIT, random_state=rs)
                            .fit(z_fit), float("nan"))}
        else:
            fits = _fit_k_range(z_fit, ks, settings)
        k = _choose_k(fits, previous_k, settings["k_switch_margin"])
        km, score = fits[k]
        labels = km.predict(z)
    centers = km.cluster_centers_
    sizes = np.bincount(labels, minlength=k)
    if previous_k is not None and k == previous_k and len(ks) > 1:
        best = max((s, -kk) for kk, (_, s) in fits.items() if not np.isnan(s))
        if -best[1] != k:
            notes.append(f"kept the previous k = {k}: k = {-best[1]} scores only "
                         f"{best[0] - score:.4f} more (< cluster_k_switch_margin)")
    ids, distances, next_id = _match_ids(centers, sizes, previous, names, mean, std,
                                         settings["match_max_distance"])

    criterion_by_k = "; ".join(f"{kk}:{s:.4f}" for kk, (_, s) in sorted(fits.items())
                               if not np.isnan(s))
    version_doc = json.dumps({
        "algorithm": "kmeans", "sklearn": sklearn.__version__, "settings": settings,
        "features": names, "as_of_date": str(pd.Timestamp(as_of_dates[0]).date()), "k": k,
        "centers": np.round(centers, 8).tolist(), "ids": ids,
    }, sort_keys=True)
    model_version = "km" + hashlib.sha256(version_doc.encode()).hexdigest()[:12]

    rows = []
    for c in range(k):
        for f, name in enumerate(names):
            rows.append({
                "as_of_date": pd.Timestamp(as_of_dates[0]),
                "cluster_id": ids[c],
                "feature_name": name,
                "centroid_z": float(centers[c, f]),
                "centroid_value": float(mean[f] + centers[c, f] * std[f]),
                "feature_mean": float(mean[f]),
                "feature_std": float(std[f]),
                "cluster_clients_fitted": int(sizes[c]),
                "clients_fitted": n,
                "is_new_cluster": distances[c] is None,
                "previous_cluster_distance": (np.nan if distances[c] is None
                                              else distances[c]),
                "next_cluster_id": next_id,
                "k": k,
                "k_min": k_min,
                "k_max": k_max,
                "k_max_used": max(k_max_used, 1),
                "criterion_name": CRITERION,
                "criterion_value": score,
                "criterion_by_k": criterion_by_k,
                "fit_note": "; ".join(notes),
                "model_version": model_version,
            })
    return pd.DataFrame(rows).astype(OUTPUT_DTYPES).sort_values(
        ["cluster_id", "feature_name"], ignore_index=True)

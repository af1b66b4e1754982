"""Synthetic raw extracts (the contract's format) with a ground truth beside them.

`kequn generate --scale S --out DIR [--seed N] [--ref-date D]` writes DIR/<table>/ files that
follow docs/raw_extracts.md, and DIR.truth/ (or --truth) beside it.

Extract layout (reference date R, default 2025-11-28; a weekend R moves back to Friday):
- history (the 24 months before R's month) as Parquet: `<table>/YYYY-MM.parquet` for
  event tables (trades, cash_transfers, app_events, fx_rates, clients/accounts versions by
  updated_at), `holdings|balances/YYYY-MM-DD.parquet` per calendar month end;
  versions older than the window in `clients|accounts|products/YYYY-MM_initial.parquet`;
- the latest month as daily CSV: `<table>/YYYY-MM-DD.csv` for every weekday up to R
  (weekend app events arrive with Monday's file), one whole snapshot day re-sent as
  `holdings|balances/YYYY-MM-DD_resend.csv`; new products in one daily CSV;
- file names sort in delivery order, so "later file wins" holds lexicographically.
Every value is text; a few files carry an extra column (truth meta `extra_column_files`).

Truth folder:
- `personas.parquet`: one row per client_id. planted_groups (spec priority order, '' when
  none), planted_primary_group ('mass' when none), planted_lifecycle (spec first-match
  order) for individuals (null for institution/test clients); true birth_date, gender,
  occupation, age; is_churner and churn_phase (churned = drained away > 90 days ago,
  churning = draining now); dirt_affecting_segmentation (';'-joined labels of dirt that may
  legitimately change what a pipeline can detect); boundary_sensitive (stage flips if
  "no trade for N days" is read as "> N" rather than ">= N"); the measures the stages were
  computed from (total_assets, trades_90d, last_trade_date, last_login_date, ever_funded,
  holds_restricted_star) and the other group inputs.
- `dirt.json`: counts of each planted dirt kind per table. `meta.json`: scale, seed,
  ref_date, row counts per table and per file, files written.
- `state/`: what `--append-day` needs to continue the story (not part of the contract).

Determinism: every random stream is keyed by (seed, purpose, chunk); nothing reads the
clock; output bytes do not depend on the number of worker processes (KEQUN_GEN_WORKERS).
"""

from kequn.generator.main import run_generate

__all__ = ["run_generate"]

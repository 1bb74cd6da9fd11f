"""Accuracy against size for C-SWAP and every baseline criterion, with no fine-tuning.

For each zoo model and compression sweep (fraction of parameters, or of MACs, removed), for
each calibration seed:

- C-SWAP (:class:`pruning.cswap.CswapPlanner`, its default settings): one progressive run to
  the largest level, stopping exactly at every other level on the way (``milestones``); each
  snapshot is finalized with the pruner's default repair ("lsq": every consumer of removed
  units re-solved by least squares) and without it. Levels the planner did
  not reach (its calibration-accuracy tolerance stopped it) are written as ``not reached``, with
  no numbers.
- every baseline of :data:`pruning.baselines.BASELINES`: scored once
  (:class:`pruning.api.BaselineRanking`), planned at every level, finalized with and without the
  same repair. A baseline that does not apply to a model (``bn_scale`` without BatchNorm) is
  written as ``n/a``.

Every point: test accuracy (on the full test split or a fixed class-balanced subset of it, the
``eval_images`` column), parameters and MACs (Torch-Pruning's counter), the fractions really
removed, and, at a few levels, median CPU latency at batch 1 and 64
(the fastest of 15 timed forwards of :func:`pruning.report.latency_ms`, 2 torch threads,
channels_last). Repair does not change the architecture, so the latency of a method at a level
is measured once and written on both rows.

The named baseline is global L1 magnitude (Torch-Pruning's ``MagnitudeImportance(p=1)``) with
the same repair: the summary prints C-SWAP's accuracy minus L1's at every level. The
Torch-Pruning setting (ResNet-56 on CIFAR-10, 2.11x fewer MACs, global L1: 93.5% -> 28.1% right
after pruning, published) is run on our ResNet-20 as the MACs sweep's 52.6% level.

Rows are appended to the CSV as they are produced; a rerun skips the rows already there
(errors are retried), so an interrupted run resumes.

A run split across processes (``--sweeps``, ``--methods``, each with its own ``--out``) is
joined with ``--merge OTHER/pruning_tradeoff*.csv``: the rows this CSV lacks are appended and the
reports rewritten.

Run: ``python benchmarks/pruning_tradeoff.py [--quick] [--models lenet5 resnet20] [--seeds 3]
[--out DIR] [--merge CSV ...]``; writes ``pruning_tradeoff[_quick].{csv,md}`` and ``pruning_tradeoff*_*.png``
under ``benchmarks/results/`` (or DIR).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import torch  # noqa: E402

from benchmarks._common import RESULTS  # noqa: E402
from benchmarks._tradeoff_plan import (  # noqa: E402
    ALL_MODELS,
    FAST,
    FIELDS,
    FORCED,
    LATENCY_RUNS,
    LEVELS,
    MODELS,
    NAMED_BASELINE,
    PLANNER,
    REPAIRS,
    ZOOS,
    Job,
    _fmt_level,
    _key,
    all_methods,
    full_plan,
    plan_jobs,
    quick_plan,
)
from benchmarks._tradeoff_report import (  # noqa: E402
    _label,
    _mean_points,
    difference_table,
    headline_table,
    job_status,
    plots,
    summary_tables,
    timing_table,
    versus_table,
    write_reports,
)
from causalnet.errors import CausalnetInputError  # noqa: E402
from causalnet.fileio import atomic_write  # noqa: E402

# the runner, and (re-exported) the plan and the report that used to live in this file
__all__ = ["main", "run", "run_job", "Store", "Context", "Job", "MODELS", "LEVELS", "REPAIRS", "FIELDS",
           "full_plan", "plan_jobs", "quick_plan", "summary_tables", "headline_table", "difference_table",
           "versus_table", "job_status", "timing_table", "plots", "write_reports"]


class Store:
    """The CSV, appended to row by row; rows already there (not errors) are not recomputed."""

    def __init__(self, path: Path, *, read_only: bool = False):
        self.path = path
        self.rows: list[dict] = []
        if path.exists():
            with open(path, newline="") as f:
                self.rows = [r for r in csv.DictReader(f) if not r["status"].startswith("error")]
            if not read_only:
                self._rewrite()  # drop the error rows: they are retried

    def _rewrite(self) -> None:
        def write(tmp: Path) -> None:
            with open(tmp, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=FIELDS)
                w.writeheader()
                w.writerows(self.rows)
        atomic_write(self.path, write)   # an interrupted rewrite never loses the rows

    def merge(self, paths: list[Path]) -> int:
        """Append the rows of other runs' CSVs (``--out`` folders of runs split across
        processes) whose key is not here yet; error rows are skipped. Returns the rows added."""
        have = {_key(r) for r in self.rows}
        added = 0
        for path in paths:
            with open(path, newline="") as f:
                reader = csv.DictReader(f)
                if tuple(reader.fieldnames or ()) != FIELDS:
                    raise CausalnetInputError(
                        f"{path}: not a pruning trade-off CSV (its columns are {reader.fieldnames}, "
                        f"expected {', '.join(FIELDS)})")
                for r in reader:
                    if r["status"].startswith("error") or _key(r) in have:
                        continue
                    have.add(_key(r))
                    self.rows.append(r)
                    added += 1
        self._rewrite()
        return added

    def has(self, **key) -> bool:
        k = _key({**key, "target": _fmt_level(key["target"]) if isinstance(key["target"], float)
                  else key["target"]})
        return any(_key(r) == k for r in self.rows)

    def add(self, row: dict) -> None:
        row = {k: row.get(k, "") for k in FIELDS}
        row["target"] = _fmt_level(row["target"]) if isinstance(row["target"], float) else row["target"]
        row = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()}
        row = {k: ("" if v is None else str(v)) for k, v in row.items()}
        new = not self.path.exists()
        with open(self.path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=FIELDS)
            if new:
                w.writeheader()
            w.writerow(row)
        self.rows.append(row)
        print(", ".join(f"{k}={row[k]}" for k in ("model", "sweep", "target", "method", "repair", "seed",
                                                   "status", "accuracy", "params_removed",
                                                   "macs_removed", "latency_b64_ms") if row[k] != ""),
              flush=True)


# ---- measuring -------------------------------------------------------------------------------
class Context:
    """A zoo model, its graph, the test images and its unpruned numbers."""

    def __init__(self, name: str, data, eval_images: int | None):
        from causalnet.data import calibration_set
        from causalnet.evaluate import count_macs_params
        from causalnet.graph import CausalGraph
        from causalnet.models import load_model

        self.name = name
        self.model = load_model(f"zoo:{name}").eval()
        self.graph = CausalGraph.load(RESULTS / "graphs" / f"{name}.json")
        self.data = data
        self.eval_images = eval_images or len(data.eval)
        self.test = (data.eval if eval_images is None
                     else calibration_set(data.eval, max(1, eval_images // 10), seed=0))
        self.input_shape = tuple(int(s) for s in data.eval[0][0].shape)
        self.macs, self.params = count_macs_params(self.model, self.input_shape)
        self._latency: dict[tuple, dict] = {}

    def point(self, pruned, *, latency_key: tuple | None, runs: int = LATENCY_RUNS) -> dict:
        from causalnet.evaluate import accuracy, count_macs_params
        from pruning.report import latency_ms

        macs, params = count_macs_params(pruned, self.input_shape)
        out = {"accuracy": accuracy(pruned, self.test), "params": params, "macs": macs,
               "params_removed": 1 - params / self.params, "macs_removed": 1 - macs / self.macs}
        if latency_key is not None:
            if latency_key not in self._latency:
                # the fastest of LATENCY_RUNS single timed forwards (each after a warm-up): on a
                # shared, oversubscribed machine the median catches the scheduler's stalls of two
                # torch threads (~150 ms on a 1 ms forward, seen here), the minimum does not
                self._latency[latency_key] = {
                    str(b): min(latency_ms(pruned, self.input_shape, b, repeats=1, warmup=1)
                                for _ in range(runs)) for b in (1, 64)}
            lat = self._latency[latency_key]
            out.update(latency_b1_ms=lat["1"], latency_b64_ms=lat["64"])
        return out


def _unpruned_row(ctx: Context, store: Store, runs: int) -> None:
    base = dict(model=ctx.name, sweep="-", target=0.0, method="unpruned", repair="-", seed="-",
                eval_images=ctx.eval_images)
    if store.has(**base):
        return
    store.add({**base, "status": "ok", **ctx.point(ctx.model, latency_key=("unpruned",), runs=runs)})


def _finalize_rows(ctx: Context, job: Job, store: Store, method: str, level: float, removal: dict,
                   x_cal, plan_s: float, note: str = "") -> None:
    from pruning.repair import finalize

    for repair_name, repair in REPAIRS.items():
        key = dict(model=ctx.name, sweep=job.sweep, target=level, method=method, repair=repair_name,
                   seed=job.seed, eval_images=ctx.eval_images)
        if store.has(**key):
            continue
        try:
            pruned, _ = finalize(ctx.model, removal, x_cal, repair, x_cal[:1])
            lat = (method, job.sweep, level, job.seed) if level in job.latency_levels else None
            store.add({**key, "status": "ok", **ctx.point(pruned, latency_key=lat, runs=job.latency_runs),
                       "plan_s": plan_s, "note": note})
        except Exception as exc:  # noqa: BLE001 - one failing point must not end the run
            store.add({**key, "status": f"error: {type(exc).__name__}: {exc}"[:300]})


def _missing(ctx: Context, job: Job, store: Store, method: str) -> list[float]:
    """Levels of ``method`` in ``job`` that still lack a row (either repair)."""
    return [lv for lv in job.levels for r in REPAIRS
            if not store.has(model=ctx.name, sweep=job.sweep, target=lv, method=method, repair=r,
                             seed=job.seed, eval_images=ctx.eval_images)]


def _cswap_settings(job: Job, top: float, **extra):
    """C-SWAP's settings for ``job``, planned to ``top`` of its budget by the planner every
    committed row came from (``PLANNER``)."""
    from pruning.cswap import CswapSettings

    return CswapSettings(target_params=top if job.sweep == "params" else None,
                         target_macs=top if job.sweep == "macs" else None,
                         calibration_per_class=job.cswap.get("calibration_per_class", 20),
                         seed=job.seed, **extra).replace(**PLANNER)


def run_cswap(ctx: Context, job: Job, store: Store, x_cal, method: str = "cswap") -> None:
    """C-SWAP with its default settings (``method="cswap"``) or in fast mode (``FAST``): one
    progressive run to the top level, a snapshot at every other."""
    from pruning.cswap import CswapPlanner

    if not _missing(ctx, job, store, method):
        return
    top = max(job.levels)
    settings = _cswap_settings(job, top, screen=method == FAST)
    start = time.perf_counter()
    result = CswapPlanner(ctx.model, ctx.graph, settings).plan(
        ctx.data, x_cal[:1], milestones=tuple(lv for lv in job.levels if lv < top))
    plan_s = time.perf_counter() - start
    print(f"  {method} {ctx.name} {job.sweep} seed {job.seed}: {plan_s:.0f} s, {result.stopped}, "
          f"reached {result.removed_fraction:.3f}, {result.exact_scores} unit ablations", flush=True)
    snaps = {round(k, 3): v for k, v in result.snapshots.items()}
    for level in job.levels:
        if round(level, 3) in snaps:
            _finalize_rows(ctx, job, store, method, level, snaps[round(level, 3)], x_cal, plan_s,
                           note=f"one progressive run for every level; {result.exact_scores} unit ablations")
            continue
        for repair_name in REPAIRS:
            key = dict(model=ctx.name, sweep=job.sweep, target=level, method=method, repair=repair_name,
                       seed=job.seed, eval_images=ctx.eval_images)
            if not store.has(**key):
                store.add({**key, "status": "not reached", "plan_s": plan_s,
                           "note": result.outcome})


def run_cswap_forced(ctx: Context, job: Job, store: Store, x_cal) -> None:
    """Where the default tolerance (1 point of calibration accuracy) stopped C-SWAP short of a
    level, the same planner with the tolerance off (``max_drop=inf``: chunks are still scored,
    BatchNorm re-estimated and re-scored, but never undone), as method ``cswap_notol``: what a
    user who insists on that size gets."""
    from pruning.cswap import CswapPlanner

    short = [lv for lv in job.levels
             if any(r["method"] == "cswap" and r["status"] == "not reached" and r["model"] == ctx.name
                    and r["sweep"] == job.sweep and r["target"] == _fmt_level(lv)
                    and r["seed"] == str(job.seed) for r in store.rows)]
    todo = [lv for lv in short for r in REPAIRS
            if not store.has(model=ctx.name, sweep=job.sweep, target=lv, method=FORCED, repair=r,
                             seed=job.seed, eval_images=ctx.eval_images)]
    if not todo:
        return
    top = max(short)
    settings = _cswap_settings(job, top, max_drop=float("inf"))
    start = time.perf_counter()
    result = CswapPlanner(ctx.model, ctx.graph, settings).plan(
        ctx.data, x_cal[:1], milestones=tuple(lv for lv in short if lv < top))
    plan_s = time.perf_counter() - start
    snaps = {round(k, 3): v for k, v in result.snapshots.items()}
    for level in short:
        if round(level, 3) in snaps:
            _finalize_rows(ctx, job, store, FORCED, level, snaps[round(level, 3)], x_cal, plan_s,
                           note="tolerance off (max_drop=inf); one progressive run")


def run_baseline(ctx: Context, job: Job, store: Store, method: str, x_cal, y_cal) -> None:
    from causalnet.errors import CausalnetInputError
    from pruning.api import BaselineRanking

    levels = sorted(set(_missing(ctx, job, store, method)))
    if not levels:
        return
    start = time.perf_counter()
    try:
        ranking = BaselineRanking(method, ctx.model, x_cal, y_cal, x_cal[:1], seed=job.seed)
    except CausalnetInputError as exc:
        for level in levels:
            for repair_name in REPAIRS:
                store.add(dict(model=ctx.name, sweep=job.sweep, target=level, method=method,
                               repair=repair_name, seed=job.seed, eval_images=ctx.eval_images,
                               status="n/a", note=str(exc)[:300]))
        return
    score_s = time.perf_counter() - start
    for level in levels:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            removal = ranking.removal(**{f"target_{job.sweep}": level})
        short = [str(w.message) for w in caught if "short of" in str(w.message)]
        _finalize_rows(ctx, job, store, method, level, removal, x_cal, score_s,
                       note=("scored once for every level" + (f"; {short[0]}" if short else "")))


def run_job(job: Job, store: Store, data, contexts: dict) -> None:
    from causalnet.data import calibration_set

    key = (job.model, job.eval_images)
    if key not in contexts:
        contexts[key] = Context(job.model, data, job.eval_images)
    ctx = contexts[key]
    _unpruned_row(ctx, store, job.latency_runs)
    x_cal, y_cal = calibration_set(data.fit, job.cswap.get("calibration_per_class", 20), seed=job.seed)
    t0 = time.perf_counter()
    for method in job.methods:
        if method == "cswap":
            run_cswap(ctx, job, store, x_cal)
        elif method == FAST:
            run_cswap(ctx, job, store, x_cal, FAST)
        else:
            run_baseline(ctx, job, store, method, x_cal, y_cal)
    if "cswap" in job.methods:   # the tolerance-free stand-in last: the slowest, the least asked
        run_cswap_forced(ctx, job, store, x_cal)
    print(f"job {job.model} {job.sweep} seed {job.seed}: {time.perf_counter() - t0:.0f} s", flush=True)


# ---- summaries -------------------------------------------------------------------------------


def run(quick: bool, out_dir: Path, *, models: tuple[str, ...] | None = None, seeds: int = 3,
        command: str | None = None, report_only: bool = False,
        sweeps: tuple[str, ...] | None = None, data: str = "mnist",
        methods: tuple[str, ...] | None = None, merge: tuple[Path, ...] = ()) -> list[Path]:
    """Run the benchmark (``quick``: smoke size, about a minute) and write
    ``out_dir/pruning_tradeoff[_quick].{csv,md}`` and the PNG plots; returns the files written.
    ``report_only``: rewrite the markdown and plots from the CSV already there, computing nothing.
    ``sweeps``: run only the jobs of these budgets (``params``, ``macs``), e.g. to split the work
    between two processes writing to different folders. ``data``: ``mnist`` or ``fashion``, the
    dataset and its zoo (``fashion``: the trained ``fashion_*`` models, files
    ``pruning_tradeoff_fashion.*``). ``methods``: run only these of each job's methods, in this order (C-SWAP's
    tolerance-free stand-in comes with ``cswap``, after the others). ``merge``: CSVs of other
    runs (split with ``sweeps``/``methods`` into other folders) whose new rows are appended to
    this CSV, then the reports are rewritten, computing nothing."""
    from causalnet.data import load_data

    torch.set_num_threads(min(2, torch.get_num_threads()))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = "pruning_tradeoff" + ("" if data == "mnist" else f"_{data}") + ("_quick" if quick else "")
    plot_stem = "pruning_tradeoff" + ("_quick" if quick else "")   # zoo names carry the data
    if data != "mnist" and not models:
        from causalnet.zoo import zoo_names

        models = tuple(zoo_names(data, trained=True))
    jobs = plan_jobs(quick, models=models, seeds=seeds, sweeps=sweeps, data=data)
    if methods:
        jobs = [replace(j, methods=tuple(m for m in methods if m in j.methods)) for j in jobs]
    store = Store(out_dir / f"{stem}.csv", read_only=report_only)
    if merge:
        print(f"{store.merge([Path(p) for p in merge])} rows merged into {store.path}", flush=True)
    if report_only or merge:
        command = (command or "python benchmarks/pruning_tradeoff.py").replace(" --report-only", "")
        command = command.split(" --merge")[0] if merge else command
        command = command + (" --quick" if quick and "--quick" not in command else "")
        return [store.path] + write_reports(store.rows, out_dir, stem, command, 0.0, jobs, plot_stem)
    data = load_data(data)
    contexts: dict = {}
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(deprecated|TypedStorage|Unused|ignored).*")
        for job in jobs:
            run_job(job, store, data, contexts)
    seconds = time.perf_counter() - start
    command = command or ("python benchmarks/pruning_tradeoff.py" + (" --quick" if quick else ""))
    files = [store.path] + write_reports(store.rows, out_dir, stem, command, seconds, jobs, plot_stem)
    _print_ratios(store.rows)
    return files


def _print_ratios(rows: list[dict]) -> None:
    """C-SWAP against the named baseline (same repair) at every level, on stdout."""
    pts = _mean_points(rows)
    for (model, sweep, lv, m, repair), p in sorted(pts.items()):
        if m != "cswap":
            continue
        b = pts.get((model, sweep, lv, NAMED_BASELINE, repair))
        if b:
            ratio = (1 - b["accuracy"]) / max(1 - p["accuracy"], 1e-9)
            print(f"{model} {sweep} {lv} {_label('cswap', repair)}: {100 * p['accuracy']:.2f}% vs "
                  f"{_label(NAMED_BASELINE, repair)} {100 * b['accuracy']:.2f}% "
                  f"({100 * (p['accuracy'] - b['accuracy']):+.2f} pp; error ratio "
                  f"{NAMED_BASELINE}/cswap x{ratio:.2f})")


METHOD_CHOICES = all_methods()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke size: lenet5, 2 levels, 3 baselines")
    ap.add_argument("--data", default="mnist", choices=sorted(ZOOS),
                    help="dataset and its zoo (default mnist; fashion: the trained fashion_* models)")
    ap.add_argument("--models", nargs="+", choices=ALL_MODELS,
                    help="subset of the zoo of --data (default: all of it)")
    ap.add_argument("--seeds", type=int, default=3, help="calibration seeds (default 3)")
    ap.add_argument("--out", type=Path, default=RESULTS, help="output folder (default benchmarks/results)")
    ap.add_argument("--sweeps", nargs="+", choices=("params", "macs"),
                    help="run only these budgets (default: both)")
    ap.add_argument("--methods", nargs="+", choices=METHOD_CHOICES, metavar="METHOD",
                    help="run only these methods, in this order (default: every one of the plan; choices: "
                         + ", ".join(METHOD_CHOICES) + ")")
    ap.add_argument("--report-only", action="store_true",
                    help="rewrite the markdown and plots from the CSV already there")
    ap.add_argument("--merge", nargs="+", type=Path, default=(), metavar="CSV",
                    help="append the rows of these CSVs (other runs' --out folders) that the CSV "
                         "of --out lacks, then rewrite the reports, computing nothing")
    args = ap.parse_args(argv)
    if args.seeds < 1:
        ap.error("--seeds must be at least 1")
    if args.models and (wrong := [m for m in args.models if m not in ZOOS[args.data]]):
        ap.error(f"--models {' '.join(wrong)}: not in the {args.data} zoo; choose from "
                 f"{', '.join(ZOOS[args.data])} or pass the matching --data")
    if missing := [str(p) for p in args.merge if not p.is_file()]:
        ap.error(f"--merge {' '.join(missing)}: no such file (give the pruning_tradeoff*.csv of "
                 f"another run's --out folder)")
    command = "python benchmarks/pruning_tradeoff.py " + " ".join(sys.argv[1:] if argv is None else argv)
    try:
        files = run(args.quick, args.out, models=tuple(args.models) if args.models else None,
                    seeds=args.seeds, command=command.strip(), report_only=args.report_only,
                    sweeps=tuple(args.sweeps) if args.sweeps else None, data=args.data,
                    methods=tuple(args.methods) if args.methods else None, merge=tuple(args.merge))
    except CausalnetInputError as exc:
        ap.error(str(exc))
    for f in files:
        print(f)
    return 0


if __name__ == "__main__":
    sys.exit(main())

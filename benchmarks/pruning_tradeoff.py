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

Run: ``python benchmarks/pruning_tradeoff.py [--quick] [--models lenet5 resnet20] [--seeds 3]
[--out DIR]``; writes ``pruning_tradeoff[_quick].{csv,md}`` and ``pruning_tradeoff*_*.png``
under ``benchmarks/results/`` (or DIR).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import torch  # noqa: E402

from benchmarks._common import RESULTS, machine, markdown_table  # noqa: E402
from causalnet.fileio import atomic_write_text  # noqa: E402

MODELS = ("lenet5", "resnet20", "vgg11_bn", "mobilenetv2", "vit_tiny")
LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
TP_LEVEL = round(1 - 1 / 2.11, 3)           # 2.11x fewer MACs = 52.6% of MACs removed
TP_PUBLISHED = "ResNet-56 / CIFAR-10, global L1, 2.11x fewer MACs: 93.5% -> 28.1% (no fine-tuning)"
# the pruner's default repair (least-squares reconstruction of the consumers), and none
REPAIRS = {"lsq": ("lsq",), "none": ()}
REPAIRED = "lsq"
NAMED_BASELINE = "l1"
FORCED = "cswap_notol"   # C-SWAP with the tolerance off, at the levels the default stopped short of
LATENCY_RUNS = 15
FIELDS = ("model", "sweep", "target", "method", "repair", "seed", "eval_images", "status", "accuracy",
          "params", "macs", "params_removed", "macs_removed", "latency_b1_ms", "latency_b64_ms",
          "plan_s", "note")
KEY = ("model", "sweep", "target", "method", "repair", "seed", "eval_images")


@dataclass
class Job:
    """One model, one sweep, one calibration seed: C-SWAP and the baselines at ``levels``."""

    model: str
    sweep: str                          # "params" | "macs"
    seed: int
    levels: tuple[float, ...]
    methods: tuple[str, ...]            # "cswap" and baseline names
    eval_images: int | None             # None: the full test split
    latency_levels: tuple[float, ...] = ()
    latency_runs: int = LATENCY_RUNS
    cswap: dict = field(default_factory=dict)   # CswapSettings overrides (quick mode only)


def full_plan(models=MODELS, seeds: int = 3) -> list[Job]:
    """The committed run, in order of priority (an interrupted run keeps the first jobs).

    1. every zoo model at 30/50/70% of parameters removed, seed 0, latency at each level (the
       C-SWAP issue's table);
    2. the other levels (10-80%) for LeNet-5 and ResNet-20, seed 0;
    3. the MACs sweep on ResNet-20 at 30%, 52.6% (Torch-Pruning's setting) and 70%;
    4. seeds 1 and 2 at 30/50/70% of parameters for every model;
    5. the other levels (10-80%) for the other models, seed 0;
    6. the MACs sweep at 10-80% for every model, seed 0;
    7. the other seeds at every level, parameters then MACs, cheapest model first.
    Every point on the full 10k test images (``EVAL_IMAGES``)."""
    from pruning.baselines import BASELINES

    methods = ("cswap", *BASELINES)
    short = (0.3, 0.5, 0.7)
    chosen = [m for m in MODELS if m in models]
    jobs = [Job(m, "params", 0, short, methods, EVAL_IMAGES[m], short) for m in chosen]
    jobs += [Job(m, "params", 0, LEVELS, methods, EVAL_IMAGES[m], (0.5,))
             for m in ("lenet5", "resnet20") if m in chosen]
    if "resnet20" in chosen:
        jobs.append(Job("resnet20", "macs", 0, (0.3, TP_LEVEL, 0.7), methods, EVAL_IMAGES["resnet20"],
                        (TP_LEVEL,)))
    jobs += [Job(m, "params", s, short, methods, EVAL_IMAGES[m]) for s in range(1, seeds) for m in chosen]
    jobs += [Job(m, "params", 0, LEVELS, methods, EVAL_IMAGES[m])
             for m in chosen if m not in ("lenet5", "resnet20")]
    jobs += [Job(m, "macs", 0, LEVELS, methods, EVAL_IMAGES[m]) for m in chosen]
    jobs += [Job(m, sweep, s, LEVELS, methods, EVAL_IMAGES[m])
             for m in chosen for sweep in ("params", "macs") for s in range(1, seeds)]
    return jobs


def plan_jobs(quick: bool = False, *, models: tuple[str, ...] | None = None, seeds: int = 3,
              sweeps: tuple[str, ...] | None = None) -> list[Job]:
    """The jobs a run does: the quick or the full plan, narrowed to ``models`` and ``sweeps``."""
    jobs = quick_plan() if quick else full_plan(models or MODELS, seeds)
    return [j for j in jobs if (not models or j.model in models) and (not sweeps or j.sweep in sweeps)]


# test images per model (None: all 10,000); a fixed class-balanced subset otherwise
EVAL_IMAGES: dict[str, int | None] = {m: None for m in MODELS}


def quick_plan() -> list[Job]:
    """Smoke size: LeNet-5, two levels, three baselines, 500 test images."""
    return [Job("lenet5", "params", 0, (0.15, 0.3), ("cswap", "random", "l1", "taylor"), 500, (0.3,),
                latency_runs=3, cswap={"calibration_per_class": 10})]


# ---- the results file ------------------------------------------------------------------------
def _fmt_level(v: float) -> str:
    return f"{v:.3f}".rstrip("0").rstrip(".")


def _key(row: dict) -> tuple:
    return tuple(str(row[k]) for k in KEY)


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
        with open(self.path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=FIELDS)
            w.writeheader()
            w.writerows(self.rows)

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


def run_cswap(ctx: Context, job: Job, store: Store, x_cal) -> None:
    from pruning.cswap import CswapPlanner, CswapSettings

    if not _missing(ctx, job, store, "cswap"):
        return
    top = max(job.levels)
    settings = CswapSettings(target_params=top if job.sweep == "params" else None,
                             target_macs=top if job.sweep == "macs" else None,
                             calibration_per_class=job.cswap.get("calibration_per_class", 20),
                             seed=job.seed)
    start = time.perf_counter()
    result = CswapPlanner(ctx.model, ctx.graph, settings).plan(
        ctx.data, x_cal[:1], milestones=tuple(lv for lv in job.levels if lv < top))
    plan_s = time.perf_counter() - start
    print(f"  C-SWAP {ctx.name} {job.sweep} seed {job.seed}: {plan_s:.0f} s, {result.stopped}, "
          f"reached {result.removed_fraction:.3f}", flush=True)
    snaps = {round(k, 3): v for k, v in result.snapshots.items()}
    for level in job.levels:
        if round(level, 3) in snaps:
            _finalize_rows(ctx, job, store, "cswap", level, snaps[round(level, 3)], x_cal, plan_s,
                           note="one progressive run for every level")
            continue
        for repair_name in REPAIRS:
            key = dict(model=ctx.name, sweep=job.sweep, target=level, method="cswap", repair=repair_name,
                       seed=job.seed, eval_images=ctx.eval_images)
            if not store.has(**key):
                store.add({**key, "status": "not reached", "plan_s": plan_s,
                           "note": f"stopped at {result.removed_fraction:.3f} {job.sweep} removed: "
                                   f"{result.stopped}"})


def run_cswap_forced(ctx: Context, job: Job, store: Store, x_cal) -> None:
    """Where the default tolerance (1 point of calibration accuracy) stopped C-SWAP short of a
    level, the same planner with the tolerance off (``max_drop=inf``: chunks are still scored,
    BatchNorm re-estimated and re-scored, but never undone), as method ``cswap_notol``: what a
    user who insists on that size gets."""
    from pruning.cswap import CswapPlanner, CswapSettings

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
    settings = CswapSettings(target_params=top if job.sweep == "params" else None,
                             target_macs=top if job.sweep == "macs" else None, max_drop=float("inf"),
                             calibration_per_class=job.cswap.get("calibration_per_class", 20),
                             seed=job.seed)
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
            run_cswap_forced(ctx, job, store, x_cal)
        else:
            run_baseline(ctx, job, store, method, x_cal, y_cal)
    print(f"job {job.model} {job.sweep} seed {job.seed}: {time.perf_counter() - t0:.0f} s", flush=True)


# ---- summaries -------------------------------------------------------------------------------
def _label(method: str, repair: str) -> str:
    return method if repair == "none" else f"{method}+repair"


def _acc_stats(accs: list[float]) -> dict:
    return {"accuracy": statistics.fmean(accs), "sd": statistics.stdev(accs) if len(accs) > 1 else None,
            "n": len(accs)}


def _mean_points(rows: list[dict]) -> dict[tuple, dict]:
    """Mean over seeds of every (model, sweep, target, method, repair) point with status ok."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        if r["status"] == "ok" and r["method"] != "unpruned":
            groups[(r["model"], r["sweep"], r["target"], r["method"], r["repair"])].append(r)
    out = {}
    for k, rs in groups.items():
        out[k] = {**_acc_stats([float(r["accuracy"]) for r in rs]),
                  "params_removed": statistics.fmean(float(r["params_removed"]) for r in rs),
                  "macs_removed": statistics.fmean(float(r["macs_removed"]) for r in rs),
                  "latency_b1_ms": next((float(r["latency_b1_ms"]) for r in rs if r["latency_b1_ms"]), None),
                  "latency_b64_ms": next((float(r["latency_b64_ms"]) for r in rs if r["latency_b64_ms"]),
                                         None)}
    return out


def _acc_cell(p: dict | None) -> str:
    if p is None:
        return "-"
    cell = f"{100 * p['accuracy']:.2f}"
    if p["sd"] is not None:
        cell += f" ± {100 * p['sd']:.2f} (n={p['n']})"
    return cell


STALLED = 3.0


def _stalled(ms: float, unpruned_ms: float) -> str:
    return " (stalled?)" if ms > STALLED * unpruned_ms else ""


def summary_tables(rows: list[dict]) -> str:
    """Markdown: per model and sweep, accuracy (%) of every method at every level, with and
    without repair; C-SWAP minus the named baseline; latency; the Torch-Pruning setting."""
    pts = _mean_points(rows)
    unpruned = {r["model"]: r for r in rows if r["method"] == "unpruned" and r["status"] == "ok"}
    sweeps = sorted({(r["model"], r["sweep"]) for r in rows if r["method"] != "unpruned"},
                    key=lambda ms: (MODELS.index(ms[0]) if ms[0] in MODELS else 99, ms[1] != "params"))
    methods = list(dict.fromkeys(r["method"] for r in rows if r["method"] != "unpruned"))
    status = {(r["model"], r["sweep"], r["target"], r["method"], r["repair"]): r["status"]
              for r in rows}
    parts = []
    for model, sweep in sweeps:
        levels = sorted({r["target"] for r in rows if (r["model"], r["sweep"]) == (model, sweep)},
                        key=float)
        u = unpruned.get(model)
        n_eval = u["eval_images"] if u else "?"
        head = (f"### {model}, {sweep} removed (test accuracy %, {n_eval} test images"
                + (f"; unpruned {100 * float(u['accuracy']):.2f}" if u else "") + ")")
        table = []
        for repair in REPAIRS:
            for m in methods:
                row = {"method": _label(m, repair)}
                for lv in levels:
                    p = pts.get((model, sweep, lv, m, repair))
                    st = status.get((model, sweep, lv, m, repair), "")
                    row[f"{float(lv):.0%}" if len(lv) <= 3 else f"{100 * float(lv):.1f}%"] = (
                        _acc_cell(p) if p else ("not reached" if st == "not reached" else
                                                "n/a" if st == "n/a" else "-"))
                table.append(row)
        diff = {"method": f"cswap - {NAMED_BASELINE} (pp), both +repair"}
        for lv in levels:
            a = pts.get((model, sweep, lv, "cswap", REPAIRED))
            b = pts.get((model, sweep, lv, NAMED_BASELINE, REPAIRED))
            col = f"{float(lv):.0%}" if len(lv) <= 3 else f"{100 * float(lv):.1f}%"
            diff[col] = f"{100 * (a['accuracy'] - b['accuracy']):+.2f}" if a and b else "-"
        table.append(diff)
        parts += [head, "", markdown_table(table), ""]
        lat = [(lv, m) for lv in levels for m in methods
               if (pts.get((model, sweep, lv, m, REPAIRED)) or {}).get("latency_b64_ms")]
        if lat and u and u["latency_b64_ms"]:
            b1, b64 = float(u["latency_b1_ms"]), float(u["latency_b64_ms"])
            lrows = [{"level": "0%", "method": "unpruned", "params removed": "0%", "MACs removed": "0%",
                      "batch 1 ms": f"{b1:.2f}", "batch 64 ms": f"{b64:.1f}", "speed-up (64)": "x1.00",
                      "MACs ratio": "x1.00", "MACs ratio / speed-up": "1.00"}]
            for lv, m in lat:
                p = pts[(model, sweep, lv, m, REPAIRED)]
                lrows.append({"level": f"{100 * float(lv):.3g}%", "method": m,
                              "params removed": f"{p['params_removed']:.1%}",
                              "MACs removed": f"{p['macs_removed']:.1%}",
                              "batch 1 ms": f"{p['latency_b1_ms']:.2f}" + _stalled(p["latency_b1_ms"], b1),
                              "batch 64 ms": f"{p['latency_b64_ms']:.1f}" + _stalled(p["latency_b64_ms"], b64),
                              "speed-up (64)": f"x{b64 / p['latency_b64_ms']:.2f}",
                              "MACs ratio": f"x{1 / max(1 - p['macs_removed'], 1e-9):.2f}",
                              "MACs ratio / speed-up": f"{(1 / max(1 - p['macs_removed'], 1e-9)) / (b64 / p['latency_b64_ms']):.2f}"})
            parts += [f"CPU latency ({model}, {sweep} sweep; fastest of {LATENCY_RUNS} forwards, 2 threads, "
                      "measured once per method and level: repair does not change the architecture; "
                      f"`stalled?`: a pruned model timed over {STALLED}x slower than the unpruned one, "
                      "which its size cannot explain: the shared machine stalled during that "
                      "measurement)", "", markdown_table(lrows), ""]
    tp = tp_rows(rows)
    if tp:
        parts += [f"### Torch-Pruning's setting: {TP_LEVEL:.1%} of MACs removed (2.11x fewer), "
                  "no fine-tuning", "", markdown_table(tp), ""]
    return "\n".join(parts)


def tp_rows(rows: list[dict]) -> list[dict]:
    pts = _mean_points(rows)
    lv = _fmt_level(TP_LEVEL)
    unpruned = {r["model"]: r for r in rows if r["method"] == "unpruned" and r["status"] == "ok"}
    if "resnet20" not in unpruned or not any(k[:3] == ("resnet20", "macs", lv) for k in pts):
        return []
    out = [{"model": "ResNet-56, CIFAR-10 (Torch-Pruning, published)", "method": "l1 (global)",
            "repair": "none", "MACs removed": "52.6%", "before": "93.5", "after": "28.1"}]
    before = f"{100 * float(unpruned['resnet20']['accuracy']):.2f}"
    for m, repair in (("l1", "none"), ("l1", REPAIRED), ("cswap", "none"), ("cswap", REPAIRED)):
        p = pts.get(("resnet20", "macs", lv, m, repair))
        out.append({"model": "ResNet-20, MNIST (this run)", "method": m, "repair": repair,
                    "MACs removed": f"{p['macs_removed']:.1%}" if p else "-", "before": before,
                    "after": _acc_cell(p) if p else "not reached"})
    return out


def plots(rows: list[dict], out_dir: Path, stem: str) -> list[Path]:
    """accuracy vs fraction kept, one line per method: one PNG per model, sweep and repair."""
    from viz.plots import accuracy_curves

    pts = _mean_points(rows)
    unpruned = {r["model"]: float(r["accuracy"]) for r in rows
                if r["method"] == "unpruned" and r["status"] == "ok"}
    files = []
    for model, sweep in sorted({k[:2] for k in pts}):
        for repair in REPAIRS:
            x = "params_frac" if sweep == "params" else "macs_frac"
            series = [{"method": _label(k[3], repair), x: 1 - p[f"{sweep}_removed"],
                       "accuracy": 100 * p["accuracy"]}
                      for k, p in pts.items() if k[:2] == (model, sweep) and k[4] == repair]
            series.sort(key=lambda r: (r["method"] != "cswap" and r["method"] != "cswap+repair",
                                       r["method"]))
            if not series:
                continue
            base = unpruned.get(model)
            title = (f"{model}: {sweep} sweep, {'with repair (' + REPAIRED + ')' if repair != 'none' else 'no repair'}"
                     ", no fine-tuning")
            path = out_dir / f"{stem}_{model}_{sweep}_{'repair' if repair != 'none' else 'norepair'}.png"
            files.append(accuracy_curves(series, path, x=x, y="accuracy",
                                         baseline=None if base is None else 100 * base, title=title))
    return files


def headline_table(rows: list[dict], sweep: str = "params",
                   levels: tuple[str, ...] = ("0.3", "0.5", "0.7")) -> str:
    """Test accuracy (%) of every method, with and without repair, per model at ``levels``
    (mean ± sd over the seeds run)."""
    pts = _mean_points(rows)
    models = [m for m in MODELS if any(k[0] == m and k[1] == sweep for k in pts)]
    methods = list(dict.fromkeys(r["method"] for r in rows if r["method"] != "unpruned"))
    status = {(r["model"], r["sweep"], r["target"], r["method"], r["repair"]): r["status"] for r in rows}
    unpruned = {r["model"]: f"{100 * float(r['accuracy']):.2f}" for r in rows
                if r["method"] == "unpruned" and r["status"] == "ok"}
    out = [{"method": "unpruned", **{f"{m} {float(lv):.0%}": unpruned.get(m, "-") for m in models
                                     for lv in levels}}]
    for repair in REPAIRS:
        for meth in methods:
            row = {"method": _label(meth, repair)}
            for m in models:
                for lv in levels:
                    p = pts.get((m, sweep, lv, meth, repair))
                    st = status.get((m, sweep, lv, meth, repair), "not run")
                    row[f"{m} {float(lv):.0%}"] = _acc_cell(p) if p else st
            out.append(row)
    return markdown_table(out)


def _cswap_point(rows: list[dict], model: str, sweep: str, level: str, repair: str
                 ) -> tuple[dict | None, str]:
    """C-SWAP's accuracy over seeds at one point: per seed the default run, or the tolerance-free
    run (``cswap_notol``) where the default stopped short; and a note of how many seeds needed it."""
    per_seed: dict[str, dict] = {}
    for method in ("cswap_notol", "cswap"):  # the default wins where it reached the level
        for r in rows:
            if ((r["model"], r["sweep"], r["target"], r["method"], r["repair"], r["status"])
                    == (model, sweep, level, method, repair, "ok")):
                per_seed[r["seed"]] = r
    if not per_seed:
        return None, ""
    off = sum(r["method"] == "cswap_notol" for r in per_seed.values())
    return (_acc_stats([float(r["accuracy"]) for r in per_seed.values()]),
            f" (tolerance off in {off} of {len(per_seed)})" if off else "")


def _versus_point(rows: list[dict], pts: dict, model: str, sweep: str, level: str, repair: str
                  ) -> tuple[dict | None, str, tuple[dict, str] | None]:
    """C-SWAP's point (:func:`_cswap_point`) and the best baseline's (highest mean over seeds,
    with its name) at one level."""
    c, note = _cswap_point(rows, model, sweep, level, repair)
    best = max(((p, key[3]) for key, p in pts.items()
                if key[:3] == (model, sweep, level) and key[4] == repair
                and key[3] not in ("cswap", FORCED)),
               key=lambda pb: pb[0]["accuracy"], default=None)
    return c, note, best


def difference_table(rows: list[dict]) -> list[dict]:
    """Per model and sweep, every level: C-SWAP minus the best baseline (pp, both with the
    repair), with the number of seeds behind C-SWAP's mean."""
    pts = _mean_points(rows)
    out = []
    for model in MODELS:
        for sweep in ("params", "macs"):
            levels = sorted({k[2] for k in pts if k[:2] == (model, sweep)}, key=float)
            row = {"model": model, "budget": sweep}
            for lv in levels:
                c, note, best = _versus_point(rows, pts, model, sweep, lv, REPAIRED)
                cell = "-"
                if c and best:
                    cell = f"{100 * (c['accuracy'] - best[0]['accuracy']):+.2f} (n={c['n']}"
                    cell += ", tol. off)" if note else ")"
                elif best:
                    cell = "not reached"
                row[f"{100 * float(lv):.3g}%"] = cell
            if len(row) > 2:
                out.append(row)
    cols = list(dict.fromkeys(k for row in out for k in row))
    cols = cols[:2] + sorted(cols[2:], key=lambda c: float(c[:-1]))
    return [{c: row.get(c, "") for c in cols} for row in out]


def versus_table(rows: list[dict], sweep: str = "params",
                 levels: tuple[str, ...] = ("0.3", "0.5", "0.7")) -> list[dict]:
    """Per model and level: C-SWAP against the best baseline (highest mean over seeds), with the
    repair and without; for a seed where the tolerance stopped C-SWAP short, its tolerance-free run."""
    pts = _mean_points(rows)
    unpruned = {r["model"]: f"{100 * float(r['accuracy']):.2f}" for r in rows
                if r["method"] == "unpruned" and r["status"] == "ok"}
    out = []
    for model in MODELS:
        for lv in levels:
            cells = {repair: _versus_point(rows, pts, model, sweep, lv, repair)
                     for repair in (REPAIRED, "none")}
            c, note, best = cells[REPAIRED]
            if c is None and best is None:
                continue
            cn, note_n, best_n = cells["none"]
            out.append({
                "model": f"{model} ({unpruned.get(model, '?')})", "params removed": f"{float(lv):.0%}",
                "C-SWAP +repair": (_acc_cell(c) + note) if c else "-",
                "best baseline +repair": f"{_acc_cell(best[0])} ({best[1]})" if best else "-",
                "C-SWAP - best (pp)": (f"{100 * (c['accuracy'] - best[0]['accuracy']):+.2f}"
                                       if c and best else "-"),
                "C-SWAP, no repair": (_acc_cell(cn) + note_n) if cn else "-",
                "best baseline, no repair": f"{_acc_cell(best_n[0])} ({best_n[1]})" if best_n else "-"})
    return out


def job_status(rows: list[dict], jobs: list[Job]) -> list[dict]:
    """Per job: rows present out of rows expected (every method, level and repair)."""
    have = {_key(r) for r in rows}
    out = []
    for j in jobs:
        n_eval = str(j.eval_images or 10000)
        want = [(j.model, j.sweep, _fmt_level(lv), m, r, str(j.seed), n_eval)
                for lv in j.levels for m in j.methods for r in REPAIRS]
        done = sum(k in have for k in want)
        out.append({"model": j.model, "sweep": j.sweep, "seed": j.seed,
                    "levels": ",".join(_fmt_level(v) for v in j.levels), "test images": n_eval,
                    "rows": f"{done}/{len(want)}",
                    "state": "complete" if done == len(want) else "partial" if done else "not run"})
    return out


def timing_table(rows: list[dict]) -> list[dict]:
    """Seconds per (model, sweep, seed): the C-SWAP trajectory, and each baseline's scoring."""
    out: dict[tuple, dict] = {}
    for r in rows:
        if r["status"] != "ok" and r["status"] != "not reached" or not r["plan_s"]:
            continue
        row = out.setdefault((r["model"], r["sweep"], r["seed"]),
                             {"model": r["model"], "sweep": r["sweep"], "seed": r["seed"]})
        row[r["method"]] = f"{float(r['plan_s']):.1f}"
    cols = list(dict.fromkeys(k for row in out.values() for k in row))
    return [{c: row.get(c, "") for c in cols} for row in out.values()]


def write_reports(rows: list[dict], out_dir: Path, stem: str, command: str, seconds: float,
                  jobs: list[Job]) -> list[Path]:
    states = job_status(rows, jobs)
    versus = versus_table(rows)
    diffs = difference_table(rows)
    partial = any(s["state"] != "complete" for s in states)
    md = [f"# Pruning trade-off (no fine-tuning){' - quick smoke run, not for quoting' if 'quick' in stem else ''}",
          "", f"Machine: {machine()}. " + (f"Wall time of this invocation: {seconds:.0f} s (a resumed "
                                              "run counts only the rows it computed)." if seconds
                                              else "Markdown and plots rewritten from the CSV."), "",
          "Methods: C-SWAP (default `CswapSettings`, one progressive run per model, sweep and seed, "
          "stopped at every level) and every baseline of `pruning.baselines.BASELINES`, each "
          "finalized with the pruner's default training-free repair (`+repair`: every reader of "
          "removed units re-solved by least squares to give its original outputs on the "
          "calibration images) and without it. "
          f"Named baseline: global {NAMED_BASELINE} with the same repair. Calibration: 20 training "
          "images per class, drawn with the seed; cells with ± are mean ± sd over seeds.",
          "", "## Jobs" + (" (PARTIAL: some jobs did not run to the end)" if partial else ""), "",
          markdown_table(states), "",
          "## Headline: test accuracy (%) at 30 / 50 / 70% of parameters removed", "",
          headline_table(rows), "",
          "## C-SWAP against the best baseline at each level (mean ± sd over seeds where more than "
          "one ran)", "", markdown_table(versus) if versus else "(no rows yet)", "",
          "## C-SWAP minus the best baseline at every level, both with the repair (pp; n = seeds; "
          "tol. off: the tolerance-free run stands in for at least one seed)", "",
          markdown_table(diffs) if diffs else "(no rows yet)", "",
          "## Every point", "", summary_tables(rows)]
    timing = timing_table(rows)
    if timing:
        md += ["## Seconds: C-SWAP's whole progressive run, each baseline's scoring (once for every "
               "level)", "", markdown_table(timing), ""]
    md += [f"Command: `{command}`", ""]
    files = [atomic_write_text(out_dir / f"{stem}.md", "\n".join(md))]
    files += plots(rows, out_dir, stem)
    return files


# ---- entry points ----------------------------------------------------------------------------
def run(quick: bool, out_dir: Path, *, models: tuple[str, ...] | None = None, seeds: int = 3,
        command: str | None = None, report_only: bool = False,
        sweeps: tuple[str, ...] | None = None) -> list[Path]:
    """Run the benchmark (``quick``: smoke size, about a minute) and write
    ``out_dir/pruning_tradeoff[_quick].{csv,md}`` and the PNG plots; returns the files written.
    ``report_only``: rewrite the markdown and plots from the CSV already there, computing nothing.
    ``sweeps``: run only the jobs of these budgets (``params``, ``macs``), e.g. to split the work
    between two processes writing to different folders."""
    from causalnet.data import load_data

    torch.set_num_threads(min(2, torch.get_num_threads()))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = "pruning_tradeoff_quick" if quick else "pruning_tradeoff"
    jobs = plan_jobs(quick, models=models, seeds=seeds, sweeps=sweeps)
    store = Store(out_dir / f"{stem}.csv", read_only=report_only)
    if report_only:
        command = (command or "python benchmarks/pruning_tradeoff.py").replace(" --report-only", "")
        command = command + (" --quick" if quick and "--quick" not in command else "")
        return [store.path] + write_reports(store.rows, out_dir, stem, command, 0.0, jobs)
    data = load_data("mnist")
    contexts: dict = {}
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(deprecated|TypedStorage|Unused|ignored).*")
        for job in jobs:
            run_job(job, store, data, contexts)
    seconds = time.perf_counter() - start
    command = command or ("python benchmarks/pruning_tradeoff.py" + (" --quick" if quick else ""))
    files = [store.path] + write_reports(store.rows, out_dir, stem, command, seconds, jobs)
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke size: lenet5, 2 levels, 3 baselines")
    ap.add_argument("--models", nargs="+", choices=MODELS, help="subset of the zoo (default: all)")
    ap.add_argument("--seeds", type=int, default=3, help="calibration seeds (default 3)")
    ap.add_argument("--out", type=Path, default=RESULTS, help="output folder (default benchmarks/results)")
    ap.add_argument("--sweeps", nargs="+", choices=("params", "macs"),
                    help="run only these budgets (default: both)")
    ap.add_argument("--report-only", action="store_true",
                    help="rewrite the markdown and plots from the CSV already there")
    args = ap.parse_args(argv)
    if args.seeds < 1:
        ap.error("--seeds must be at least 1")
    command = "python benchmarks/pruning_tradeoff.py " + " ".join(sys.argv[1:] if argv is None else argv)
    files = run(args.quick, args.out, models=tuple(args.models) if args.models else None,
                seeds=args.seeds, command=command.strip(), report_only=args.report_only,
                sweeps=tuple(args.sweeps) if args.sweeps else None)
    for f in files:
        print(f)
    return 0


if __name__ == "__main__":
    sys.exit(main())

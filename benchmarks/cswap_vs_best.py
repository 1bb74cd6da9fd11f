"""C-SWAP's default planner minus the best baseline, from the committed results (no model runs).

The trade-off table (:mod:`benchmarks.pruning_tradeoff`) pins the planner its C-SWAP rows came
from (``benchmarks._tradeoff_plan.PLANNER``), so its C-SWAP-minus-best table measures that old
planner. The 3-se planner is measured by the ablation's "harm's upper bound at 3 standard errors"
row (:mod:`benchmarks.cswap_ablation`, one file per model, budget and calibration seed), on the
same calibration draws, with the same lsq repair, on the full test set. This script joins the
two:

- C-SWAP, per seed: the ablation's row at each level it reached; where the tolerance
  stopped it short, the same file's "tolerance off" row stands in (marked), if it ran;
- the baselines, per seed: every baseline of the trade-off CSV at that model, budget, level and
  seed (lsq repair), and the ablation's own L1 and LAMP rows where the trade-off lacks that seed
  (they are the same runs: the same calibration draw, method and repair);
- the best baseline: the one with the highest mean over the seeds C-SWAP has, among those present
  on all of them;
- the difference C-SWAP minus best (points), its standard error over the paired seeds (the sd of
  the per-seed differences / sqrt(n); none for one seed), and a verdict: win or loss where the
  difference is more than one standard error from zero, tie otherwise, "n=1" for one seed.

``--planner default``: the 3-se planner with the greedy finish (the package's default from
2026-12-07 to 2026-12-08, measured on every model); ``--planner capped``: the package's default
since, the same with the capped finish (``finish="capped"``), on the models its rows ran for;
``--planner upper1``: the default until 2026-12-07 (the harm's upper bound at one standard
error); ``--planner check``: that planner with the tolerance also checked on 100 more training
images per class (``check_per_class=100``).

Run: ``python benchmarks/cswap_vs_best.py [--data fashion] [--planner default|capped|upper1|check]``;
writes ``benchmarks/results/cswap_vs_best_DATA[_PLANNER].{csv,md}`` (no suffix for ``default``).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from benchmarks._common import RESULTS, markdown_table, read_csv, write_csv
from benchmarks._tradeoff_plan import CSWAP_RUNS, REPAIRED, ZOOS, _fmt_level
from benchmarks.cswap_ablation import (
    BASELINE_ROWS,
    CAPPED_NOTOL_ROW,
    CAPPED_ROW,
    CHECK_ROW,
    DEFAULT_NOTOL_ROW,
    DEFAULT_ROW,
    STEM,
    UPPER1_NOTOL_ROW,
    UPPER1_ROW,
)
from causalnet.fileio import atomic_write_text


@dataclass(frozen=True)
class Planner:
    """The ablation rows that stand for C-SWAP (``--planner``)."""

    row: str      # the label of its row (a :mod:`benchmarks.cswap_ablation` constant)
    forced: str   # ... of its tolerance-free row, standing in where it stopped short
    what: str     # what the report calls it
    only: str     # the ``cswap_ablation.py --only`` texts that run both rows (shell-quoted;
                  # the tests check that they pick exactly these two rows)


PLANNERS = {
    "default": Planner(DEFAULT_ROW, DEFAULT_NOTOL_ROW,
                       "the package's default planner until 2026-12-08 (lazy re-scoring, `harm='upper'` "
                       "at 3 standard errors, `harm_z=3`, the greedy finish), the `cswap_ablation` row "
                       "\"defaults + harm's upper bound at 3 standard errors\"", "'at 3 standard errors'"),
    "capped": Planner(CAPPED_ROW, CAPPED_NOTOL_ROW,
                      "the package's default planner since 2026-12-08: the same with the capped finish "
                      "(`finish='capped'`: a unit costing more than what is left to the next level is "
                      "ranked at what is left), the `cswap_ablation` row \"capped finish: ...\"",
                      "'capped finish:'"),
    "upper1": Planner(UPPER1_ROW, UPPER1_NOTOL_ROW,
                      "the default planner until 2026-12-07 (lazy re-scoring, `harm='upper'` at "
                      "one standard error), the `cswap_ablation` row \"defaults + harm ranked "
                      "by its upper bound\"",
                      "'harm ranked by its upper bound' 'upper bound, tolerance off'"),
    "check": Planner(CHECK_ROW, UPPER1_NOTOL_ROW,
                     "the one-standard-error planner with the tolerance also checked on 100 more "
                     "training images per class (`check_per_class=100`, 1,200 images in all), the "
                     "`cswap_ablation` row \"defaults + harm's upper bound, tolerance also checked on "
                     "100 more images...\"", "'checked on 100' 'upper bound, tolerance off'"),
}

ABLATION_BASELINES = {label: method for method, label in BASELINE_ROWS}


def _level(col: str) -> str | None:
    """``lsq_30`` -> ``"0.3"`` (the trade-off CSV's spelling of a level); None for other columns."""
    m = re.fullmatch(rf"{REPAIRED}_(\d+(?:\.\d+)?)", col)
    return None if m is None else _fmt_level(float(m.group(1)) / 100)


def _number(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) else None


def _percent(level: str) -> str:
    """``"0.3"`` -> ``"30%"``, the reports' spelling of a level."""
    return f"{100 * float(level):g}%"


def ablation_files(folder: Path, models: tuple[str, ...]):
    """``(model, budget, seed, rows)`` of every ``cswap_ablation_MODEL[_macs][_seedN].csv`` of
    ``models`` in ``folder``."""
    for path in sorted(folder.glob("cswap_ablation_*.csv")):
        m = STEM.fullmatch(path.stem)
        if m is not None and m["model"] in models:
            yield m["model"], "macs" if m["macs"] else "params", int(m["seed"] or 0), read_csv(path)


def ablation_points(files, planner: Planner = PLANNERS["default"]) -> tuple[dict, dict, list[dict]]:
    """From :func:`ablation_files`: ``cswap[(model, budget, level)][seed] = (accuracy %,
    tolerance off?, stopped text)``, ``base[(model, budget, level, method)][seed] = accuracy %``
    (each file's L1 and LAMP rows), and where C-SWAP stopped short of the file's last level;
    C-SWAP is the row labelled ``planner.row`` (``planner.forced``: its tolerance-free row)."""
    cswap: dict = defaultdict(dict)
    base: dict = defaultdict(dict)
    stops = []
    for model, budget, seed, rows in files:
        default = next((r for r in rows if r["planner"] == planner.row), None)
        forced = next((r for r in rows if r["planner"] == planner.forced), None)
        if default is not None and default["stopped"] != "target reached":
            stops.append({"model": model, "budget": budget, "seed": seed, "stopped": default["stopped"]})
        for col in (rows[0] if rows else {}):
            level = _level(col)
            if level is None:
                continue
            key = (model, budget, level)
            for r in rows:
                if r["planner"] in ABLATION_BASELINES and _number(r[col]) is not None:
                    base[key + (ABLATION_BASELINES[r["planner"]],)][seed] = float(r[col])
            if default is not None and _number(default[col]) is not None:
                cswap[key][seed] = (float(default[col]), False, default["stopped"])
            elif default is not None and forced is not None and _number(forced[col]) is not None:
                cswap[key][seed] = (float(forced[col]), True, default["stopped"])
    return cswap, base, stops


def tradeoff_points(path: Path, models: tuple[str, ...]) -> dict:
    """``base[(model, budget, level, method)][seed] = accuracy %`` for every baseline of the
    trade-off CSV with the lsq repair (C-SWAP's own rows left out)."""
    base: dict = defaultdict(dict)
    for r in read_csv(path):
        if (r["model"] in models and r["status"] == "ok" and r["repair"] == REPAIRED
                and r["method"] not in CSWAP_RUNS and r["method"] != "unpruned"):
            base[(r["model"], r["sweep"], str(r["target"]), r["method"])][int(r["seed"])] = (
                100 * float(r["accuracy"]))
    return base


def unpruned_accuracy(path: Path) -> dict[str, float]:
    """Each model's unpruned test accuracy (%) in the trade-off CSV."""
    return {r["model"]: 100 * float(r["accuracy"]) for r in read_csv(path)
            if r["method"] == "unpruned" and r["status"] == "ok"}


def compare(cswap: dict, tradeoff: dict, ablation_base: dict, unpruned: dict[str, float] | None = None
            ) -> list[dict]:
    """One row per (model, budget, level) where C-SWAP ran on some seed; ``unpruned``: each
    model's unpruned test accuracy, for C-SWAP's drop from it (the 1-point tolerance is on
    calibration images; this says what it let through on the test set)."""
    unpruned = unpruned or {}
    out = []
    for (model, budget, level), per_seed in cswap.items():
        seeds = sorted(per_seed)
        means = {}
        for method in sorted({k[3] for k in (*ablation_base, *tradeoff) if k[:3] == (model, budget, level)}):
            key = (model, budget, level, method)
            merged = {**ablation_base.get(key, {}), **tradeoff.get(key, {})}   # the trade-off's first
            if all(s in merged for s in seeds):
                means[method] = [merged[s] for s in seeds]
        mean = statistics.fmean(per_seed[s][0] for s in seeds)
        row = {"model": model, "budget": budget, "level": _percent(level), "seeds": len(seeds),
               "cswap": round(mean, 2),
               "test drop from unpruned": round(unpruned[model] - mean, 2) if model in unpruned else "",
               "tolerance off in": sum(per_seed[s][1] for s in seeds)}
        if not means:
            out.append({**row, "best baseline": "-", "best": "", "cswap - best": "", "se": "",
                        "verdict": "no baseline on these seeds", "per seed": ""})
            continue
        best = max(means, key=lambda k: statistics.fmean(means[k]))
        diffs = [per_seed[s][0] - b for s, b in zip(seeds, means[best], strict=True)]
        d = statistics.fmean(diffs)
        se = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else None
        verdict = ("n=1" if se is None else "win" if d > se else "loss" if d < -se else "tie")
        out.append({**row, "best baseline": best, "best": round(statistics.fmean(means[best]), 2),
                    "cswap - best": round(d, 2), "se": "" if se is None else round(se, 2),
                    "verdict": verdict, "per seed": " / ".join(f"{x:+.2f}" for x in diffs)})
    return out


def levels_run(files, planner: Planner = PLANNERS["default"]) -> dict[tuple[str, str], set[str]]:
    """``{(model, budget): levels}``: the levels (``"30%"``) at which ``planner``'s row (or its
    tolerance-free row) of some ablation file of that model and budget ran, reached or not (a
    file's rows run at other levels say ``not run`` there)."""
    out: dict = defaultdict(set)
    for model, budget, _seed, rows in files:
        mine = [r for r in rows if r["planner"] in (planner.row, planner.forced)]
        out[(model, budget)] |= {_percent(lv) for col in (rows[0] if rows else {})
                                 if (lv := _level(col)) and any(r[col] != "not run" for r in mine)}
    return out


def at_a_glance(rows: list[dict], models: tuple[str, ...] = (), ran: dict | None = None) -> list[dict]:
    """The rows of :func:`compare` as one line per model and budget, one column per level: the
    difference, its verdict, the best baseline, the seeds and how many of them ran tolerance-free
    (``+0.19 win (lamp; se 0.05, n=3, tol. off 3)``); a level without a row is ``not reached``
    where ``ran`` (:func:`levels_run`) says the ablation ran it, ``not run`` otherwise."""
    order = {m: i for i, m in enumerate(models)}
    levels = sorted({r["level"] for r in rows}, key=lambda v: float(v[:-1]))
    lines: dict = {}
    for r in rows:
        line = lines.setdefault((r["model"], r["budget"]), {"model": r["model"], "budget": r["budget"]})
        if r["best baseline"] == "-":
            line[r["level"]] = r["verdict"]
            continue
        notes = ([f"se {r['se']}"] if r["se"] != "" else []) + [f"n={r['seeds']}"]
        if r["tolerance off in"]:
            notes.append(f"tol. off {r['tolerance off in']}")
        line[r["level"]] = (f"{r['cswap - best']:+.2f} {r['verdict'] if r['verdict'] != 'n=1' else 'one seed'} "
                            f"({r['best baseline']}; {', '.join(notes)})")
    ran = ran or {}
    out = [{"model": m, "budget": b,
            **{lv: line.get(lv, "not reached" if lv in ran.get((m, b), ()) else "not run") for lv in levels}}
           for (m, b), line in lines.items()]
    return sorted(out, key=lambda r: (order.get(r["model"], len(order)), r["model"], r["budget"] != "params"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="fashion", choices=sorted(ZOOS))
    ap.add_argument("--planner", choices=sorted(PLANNERS), default="default",
                    help="the ablation row that stands for C-SWAP: the 3-se planner with the greedy "
                         "finish (default), the package's default since 2026-12-08 (capped: the "
                         "capped finish), the default until 2026-12-07 (upper1: the harm's upper bound at one "
                         "standard error), or upper1 with the tolerance also checked on 100 more "
                         "images per class (check)")
    ap.add_argument("--results", type=Path, default=RESULTS,
                    help="folder of the ablation and trade-off CSVs, and of the output (default "
                         "benchmarks/results)")
    args = ap.parse_args(argv)
    models = ZOOS[args.data]
    # the trade-off's file of that data (pruning_tradeoff.run's stem)
    tradeoff_csv = args.results / ("pruning_tradeoff" + ("" if args.data == "mnist" else f"_{args.data}") + ".csv")
    if not tradeoff_csv.is_file():
        print(f"error: {tradeoff_csv} not found; run `python benchmarks/pruning_tradeoff.py --data "
              f"{args.data}` first, or pass --results FOLDER", file=sys.stderr)
        return 2
    planner = PLANNERS[args.planner]
    files = list(ablation_files(args.results, models))
    cswap, ablation_base, stops = ablation_points(files, planner)
    if not cswap:
        print(f"error: no cswap_ablation_*.csv of the {args.data} zoo in {args.results} holds the "
              f"row '{planner.row}'; run `python benchmarks/cswap_ablation.py --model "
              f"{models[0]} --only {planner.only}` first", file=sys.stderr)
        return 2
    rows = compare(cswap, tradeoff_points(tradeoff_csv, models), ablation_base,
                   unpruned_accuracy(tradeoff_csv))
    order = {m: i for i, m in enumerate(models)}
    rows.sort(key=lambda r: (order[r["model"]], r["budget"] != "params", float(r["level"][:-1])))
    stem = f"cswap_vs_best_{args.data}" + ("" if args.planner == "default" else f"_{args.planner}")
    write_csv(f"{stem}.csv", rows, args.results)
    counts = defaultdict(int)
    for r in rows:
        counts[r["verdict"]] += 1
    md = [f"# C-SWAP ({args.planner}) minus the best baseline ({args.data}, lsq repair, full test set)",
          "",
          f"C-SWAP: {planner.what}; where it stopped short of "
          "a level on a seed, that file's tolerance-free row stands in (`tolerance off in`). Best "
          "baseline: highest mean over the same seeds among the trade-off's baselines (and the "
          "ablation's L1 / LAMP rows where the trade-off lacks a seed). `se`: standard error of the "
          "per-seed differences (paired by calibration draw). Verdict: win / loss beyond one se, tie "
          "within it; `n=1`: one seed, no se. `test drop from unpruned`: the unpruned model's test "
          "accuracy minus C-SWAP's (the tolerance, 1 point, is on calibration images). A level C-SWAP "
          "reached on no seed, with the tolerance or without, has no row.",
          "",
          "Verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + ".",
          "",
          "## At a glance",
          "",
          "C-SWAP minus the best baseline (points), verdict (best baseline; se, seeds, seeds on which "
          "the tolerance-free row stands in). `not reached`: no seed got there, with the tolerance "
          "or without; `not run`: no ablation of that model and budget ran the level.",
          "",
          markdown_table(at_a_glance(rows, models, levels_run(files, planner))), "",
          "## Every level",
          "",
          markdown_table(rows), ""]
    if stops:
        md += ["## Where it stopped short (the tolerance)", "", markdown_table(stops), ""]
    md += [f"Command: `python benchmarks/cswap_vs_best.py --data {args.data} --planner {args.planner}` (reads "
           f"`{tradeoff_csv.name}` and `cswap_ablation_*.csv`; runs no model).", ""]
    atomic_write_text(args.results / f"{stem}.md", "\n".join(md))
    print(markdown_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

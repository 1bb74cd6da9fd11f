"""What each ingredient of the C-SWAP planner contributes (METHOD.md section 5; issue 7).

Starting from the naive version the method notes measured losing to L1 magnitude (scores from
zero ablation, measured on the un-repaired network, chunks committed without a check), the
ingredients are switched on one at a time:

1. scoring by mean ablation, on a network whose removed units are mean-ablated - what removal
   with the means folded into the consumers' biases really computes;
2. BatchNorm re-estimation before every re-score and every check;
3. each chunk judged as a whole (joint intervention) and undone when it fails;
4. ranking by harm per parameter removed rather than harm alone;
5. lazy re-scoring: each re-score ablates only the units the last scores rank first (enough for
   ``screen_cover`` chunks), every unit every ``LAZY_FULL_EVERY``-th time (= the planner's
   defaults).

Then one change at a time on top of the defaults ("the defaults": lazy re-scoring with each
unit ranked by its mean harm, the package's defaults when these rows were introduced; the
package's default is now the harm's upper bound at three standard errors with the capped
finish, the "capped finish" row; the naive start pins ``harm_z=1`` and ``finish="greedy"``, so
the older "upper bound" rows keep one standard error and every row before the capped ones the
greedy finish they were measured with):

- the objective: KL divergence from the original model's predictions instead of the true-class
  log-likelihood (on training images the model is ~100% right on, the log-likelihood barely
  moves; the KL keeps the whole output distribution);
- per-layer budgets from the graph (layers whose units serve more class graphs keep more);
- magnitude (L1) as the tie-breaker among units whose causal score is not significant;
- both of the last two;
- least squares in the loop: the masked network's readers re-solved after every chunk, so the
  checks and re-scores see the network the default repair will give;
- predicted-ablation scores: a unit replaced by its least-squares prediction from the other
  units its reader sees (what a least-squares repair of that reader restores);
- widths kept in multiples of 16 (``round_to``), the widths whose fewer MACs also run faster on
  this CPU (``benchmarks/latency_alignment.py``);
- full re-scoring: every remaining unit re-ablated at every re-score (the defaults before lazy
  re-scoring);
- refit scores where the solve is well-determined (``refit_min_rows=10``: a reader with fewer
  than 10 rows of calibration data per input column, a Linear reader of 400 inputs on 100
  images, keeps the mean ablation; a convolution has a row per image and position), at 3
  standard errors, with the repaired judge (the tolerance sees what the scores assume);
- harm ranked by its upper bound: a unit's measured harm plus one standard error of it over the
  scoring images (``harm="upper"``), so a unit whose harm the images cannot tell from zero is
  not ranked as free whatever its cost; and at three standard errors (``harm_z=3``, the
  package's default since);
- the tolerance checked on 100 more images per class of the training split besides the 200
  calibration images (``check_per_class=100``: 1,200 images, where one image is 0.08 point,
  against 0.5 point among the 200 alone), with the harm's upper bound;
- the tolerance judged after the least-squares repair: with ``repair_in_loop="lsq"`` (the
  scores then see the repaired net too), or with ``judge="repaired"`` (each chunk judged on a
  copy repaired as ``finalize(..., ("lsq",))`` would, the scores still on the masked net), on the
  calibration images or on 100 more per class;
- the capped finish (``finish="capped"``, the package's default since 2026-12-08): a unit that
  costs more than what is left to the next level is ranked as costing what is left, so the plan
  does not overshoot a level with a coarse unit (a LeNet-5 conv1 channel is 13% of its MACs), at
  3 standard errors, alone and with the refit scores above.

Every row is one progressive C-SWAP run of the zoo ResNet-20 to the largest level, read at each
level (milestones), then removed physically and repaired like every baseline (bias folding +
BatchNorm re-estimation, and least-squares reconstruction) and measured on the 10k MNIST test
images (Fashion-MNIST for the ``fashion_*`` models). The named baseline, global L1 magnitude
with the same repair, and LAMP, the best baseline on Fashion-MNIST, run in the same process.

``--budget macs`` budgets MACs instead of parameters (C-SWAP's ``target_macs``, the baselines'
MACs targets), levels are then fractions of MACs removed.

Run: ``python benchmarks/cswap_ablation.py [--model resnet20] [--levels 0.5 0.7] [--budget macs]
[--seed N] [--quick] [--only TEXT ...]``;
writes ``benchmarks/results/cswap_ablation_MODEL.{csv,md}`` (``cswap_ablation_MODEL_macs`` for
``--budget macs``, ``..._seedN`` for ``--seed N`` other than 0, so rows of different budgets or
calibration draws never mix in one table).
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
import time

import torch

from benchmarks._common import RESULTS, machine, markdown_table, write_csv
from causalnet.data import calibration_set, load_data
from causalnet.evaluate import accuracy
from causalnet.fileio import atomic_write_text
from causalnet.graph import CausalGraph
from causalnet.models import load_model
from pruning.api import BaselineRanking
from pruning.cswap import LAZY_FULL_EVERY, CswapPlanner, CswapSettings
from pruning.repair import finalize

# every ingredient the rows below switch on is off here, whatever the package's defaults are,
# so a row measures the same planner in every session (harm "mean": a unit ranked by its
# measured harm; the "upper bound" row changes only that)
NAIVE = CswapSettings(rank_by="harm", rescore_every=2, objective="loglik").replace(
    scoring_ablation="zero", bn_between_chunks=False, joint_check=False, rescore="full", harm="mean",
    harm_z=1.0, budgets="none", tie_break="none", repair_in_loop="mask", finish="greedy")

REPAIRS = [("bias", "bn"), ("lsq",)]

# the named baseline, and LAMP (the best baseline with the lsq repair on Fashion-MNIST)
BASELINE_ROWS = [("l1", "baseline: global L1 magnitude (same repair)"),
                 ("lamp", "baseline: LAMP (same repair)")]

STEPS = [
    ("naive: zero-ablation scores on the un-repaired net, no checks, rank by harm", {}),
    ("+ mean-ablation scores on the masked (= folded) net", {"scoring_ablation": "mean"}),
    ("+ BatchNorm re-estimated before every re-score and check", {"bn_between_chunks": True}),
    ("+ chunks judged jointly, undone on failure; re-score every chunk",
     {"joint_check": True, "rescore_every": 1}),
    ("+ rank by harm per parameter", {"rank_by": "harm_per_cost"}),
    ("+ lazy re-scoring (the defaults)", {"rescore": "lazy"}),
]

# the rows other scripts read back by their label (:mod:`benchmarks.cswap_vs_best`)
UPPER1_ROW = "defaults + harm ranked by its upper bound (score + 1 standard error)"
UPPER1_NOTOL_ROW = "defaults + harm's upper bound, tolerance off (max_drop 100)"
DEFAULT_ROW = "defaults + harm's upper bound at 3 standard errors (harm_z 3)"
DEFAULT_NOTOL_ROW = "defaults + harm's upper bound at 3 standard errors, tolerance off (max_drop 100)"
CHECK_ROW = ("defaults + harm's upper bound, tolerance also checked on 100 more images per class "
             "(check_per_class)")
UPPER3 = {"harm": "upper", "harm_z": 3.0}   # the default ranking: the harm's upper bound at 3 se
# refit scores only where the solve is well-determined, judged on the net the lsq repair gives
REFIT10 = {"scoring_ablation": "refit", "refit_min_rows": 10.0, "judge": "repaired"}
REFIT10_ROW = ("defaults + harm's upper bound (harm_z 3) + refit scores where a reader has 10 rows per column + the "
               "repaired judge")
REFIT10_NOTOL_ROW = REFIT10_ROW + ", tolerance off (max_drop 100)"
# every row above keeps the greedy finish (NAIVE pins it: the package's default until 2026-12-08,
# when the rows were measured); the capped finish costs the units before each level at what is
# left to it (CswapIngredients.finish, the package's default since)
CAPPED = {**UPPER3, "finish": "capped"}
CAPPED_ROW = ("capped finish: harm's upper bound (3 se), a unit costing more than what is left to the "
              "next level ranked at what is left (finish='capped')")
CAPPED_NOTOL_ROW = CAPPED_ROW + ", tolerance off (max_drop 100)"
REFIT10_CAPPED_ROW = ("capped finish + refit scores where a reader has ten rows per column + the "
                      "repaired judge")
REFIT10_CAPPED_NOTOL_ROW = REFIT10_CAPPED_ROW + ", tolerance off (max_drop 100)"

VARIANTS = [
    ("defaults, objective: KL to the original predictions", {"objective": "kl"}),
    ("defaults, tolerance off (max_drop 100: no chunk is undone)", {"max_drop": 100.0}),
    ("defaults, objective: KL, tolerance off", {"objective": "kl", "max_drop": 100.0}),
    ("defaults + per-layer budgets from the graph", {"budgets": "graph"}),
    ("defaults + magnitude tie-break (non-significant scores)", {"tie_break": "magnitude"}),
    ("defaults + budgets + magnitude tie-break", {"budgets": "graph", "tie_break": "magnitude"}),
    ("defaults + least-squares repair in the loop", {"repair_in_loop": "lsq"}),
    ("defaults + predicted-ablation scores (a unit replaced by its lsq prediction from the others)",
     {"scoring_ablation": "predicted"}),
    ("defaults + least squares in the loop + predicted-ablation scores",
     {"repair_in_loop": "lsq", "scoring_ablation": "predicted"}),
    ("defaults + widths kept in multiples of 16 (round_to 16, for latency)", {"round_to": 16}),
    ("defaults, full re-scoring (every unit re-ablated every time; the defaults before lazy)",
     {"rescore": "full"}),
    (UPPER1_ROW, {"harm": "upper"}),
    (UPPER1_NOTOL_ROW, {"harm": "upper", "max_drop": 100.0}),
    (DEFAULT_ROW, UPPER3),
    (DEFAULT_NOTOL_ROW, {**UPPER3, "max_drop": 100.0}),
    (CHECK_ROW, {"harm": "upper", "check_per_class": 100}),
    ("defaults + harm's upper bound, the tolerance judged after the lsq repair on 100 more images per class",
     {"harm": "upper", "repair_in_loop": "lsq", "check_per_class": 100}),
    ("defaults + harm's upper bound, the tolerance judged on the lsq-repaired net (judge='repaired')",
     {"harm": "upper", "judge": "repaired"}),
    ("defaults + harm's upper bound, the tolerance judged on the lsq-repaired net, on 100 more images per class",
     {"harm": "upper", "judge": "repaired", "check_per_class": 100}),
    ("defaults + refit scores (unit removed, readers re-solved by lsq on held-out calibration images)",
     {"scoring_ablation": "refit"}),
    ("defaults + least squares in the loop + refit scores",
     {"repair_in_loop": "lsq", "scoring_ablation": "refit"}),
    (REFIT10_ROW, {**UPPER3, **REFIT10}),
    (REFIT10_NOTOL_ROW, {**UPPER3, **REFIT10, "max_drop": 100.0}),
    (CAPPED_ROW, CAPPED),
    (CAPPED_NOTOL_ROW, {**CAPPED, "max_drop": 100.0}),
    (REFIT10_CAPPED_ROW, {**CAPPED, **REFIT10}),
    (REFIT10_CAPPED_NOTOL_ROW, {**CAPPED, **REFIT10, "max_drop": 100.0}),
]


# the results file of one run: cswap_ablation_MODEL[_macs][_seedN] (cswap_ablation_quick... for --quick)
STEM = re.compile(r"cswap_ablation_(?P<model>.+?)(?P<macs>_macs)?(?:_seed(?P<seed>\d+))?$")


def result_stem(model: str, budget: str = "params", seed: int = 0, quick: bool = False) -> str:
    """The file stem of one run's results (:data:`STEM` reads it back): one file per model,
    budget and calibration seed, so rows of different budgets or draws never mix in one table."""
    return (f"cswap_ablation_{'quick' if quick else model}" + ("_macs" if budget == "macs" else "")
            + (f"_seed{seed}" if seed else ""))


def _merged(path, new_rows: list[dict], order: list[str]) -> list[dict]:
    """The rows of ``path`` with ``new_rows`` replacing or joining them, in ``order``."""
    old = {}
    if path.exists():
        with open(path, newline="") as f:
            old = {r["planner"]: r for r in csv.DictReader(f)}
    old.update({r["planner"]: r for r in new_rows})
    # rows from before the column: every C-SWAP run then re-scored every unit
    old = {k: {"planner": k, "rescore": "-" if k.startswith("baseline") else "full", **r}
           for k, r in old.items()}
    rows = [old[label] for label in order if label in old]
    # rows of runs at other levels: every level column of any row, "not run" where a row lacks it
    levels = sorted({c for r in rows for c in r if _LEVEL_COLUMN.fullmatch(c)},
                    key=lambda c: (c.rsplit("_", 1)[0] != "+".join(REPAIRS[0]), float(c.rsplit("_", 1)[1])))
    columns = ["planner", "rescore", *levels, "plan_s", "stopped"]
    return [{c: r.get(c, "not run") for c in columns} for r in rows]


_LEVEL_COLUMN = re.compile(r"[a-z+]+_\d+")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="resnet20")
    ap.add_argument("--levels", type=float, nargs="+", default=[0.5, 0.7])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--budget", choices=("params", "macs"), default="params",
                    help="the resource the levels remove a fraction of (default: params)")
    ap.add_argument("--quick", action="store_true", help="LeNet-5, one level, 2000 test images")
    ap.add_argument("--only", nargs="+", default=None, metavar="TEXT",
                    help="run only the rows whose label contains one of these texts; the other rows "
                         "are kept from the existing results file")
    args = ap.parse_args(argv)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    name = "lenet5" if args.quick else args.model
    levels = [0.3] if args.quick else sorted(args.levels)
    model = load_model(f"zoo:{name}")
    dataset = "fashion" if name.startswith("fashion_") else "mnist"   # the zoo's names carry their data
    data = load_data(dataset)
    graph = CausalGraph.load(RESULTS / "graphs" / f"{name}.json")
    test = (data.eval.images[:2000], data.eval.targets[:2000]) if args.quick else data.eval
    base = CswapSettings(calibration_per_class=20, seed=args.seed)
    x_cal, y_cal = calibration_set(data.fit, base.calibration_per_class, seed=args.seed)
    example = x_cal[:1]
    rows = []

    def measure(label: str, removal_at: dict, seconds: float, stopped: str, rescore: str = "-") -> None:
        row = {"planner": label, "rescore": rescore}
        for repair in REPAIRS:
            for level in levels:
                key = f"{'+'.join(repair)}_{int(100 * level)}"
                removal = removal_at.get(round(level, 6))
                if removal is None:
                    row[key] = "not reached"
                    continue
                pruned, _ = finalize(model, removal, x_cal, repair, example)
                row[key] = round(100 * accuracy(pruned, test), 2)
        row.update({"plan_s": round(seconds, 1), "stopped": stopped})
        rows.append(row)
        print(row, flush=True)

    for method, label in BASELINE_ROWS:
        start = time.perf_counter()
        ranking = BaselineRanking(method, model, x_cal, y_cal, example, seed=args.seed)
        measure(label, {round(lv, 6): ranking.removal(**{f"target_{args.budget}": lv}) for lv in levels},
                time.perf_counter() - start, "target reached")
    settings = NAIVE.replace(calibration_per_class=base.calibration_per_class, seed=args.seed,
                             **{"target_params": None, "target_macs": None, f"target_{args.budget}": levels[-1]})
    runs = []
    for label, change in STEPS:
        settings = settings.replace(**change)
        runs.append((label, settings))
    runs += [(label, settings.replace(**change)) for label, change in VARIANTS]
    for label, run in runs:
        if args.only and not any(t in label for t in args.only):
            continue
        start = time.perf_counter()
        result = CswapPlanner(model, graph, run).plan(data, example, milestones=tuple(levels[:-1]))
        measure(label, result.snapshots, time.perf_counter() - start, result.outcome,
                run.ingredients.rescore)

    # one file per seed: rows kept by --only must come from the same calibration draw
    stem = result_stem(name, args.budget, args.seed, quick=args.quick)
    if args.only:
        rows = _merged(RESULTS / f"{stem}.csv", rows, [label for _, label in BASELINE_ROWS]
                       + [label for label, _ in runs])
    write_csv(f"{stem}.csv", rows)
    cmd = "python benchmarks/cswap_ablation.py" + (" --quick" if args.quick else
                                                    f" --model {name} --levels {' '.join(map(str, levels))}")
    cmd += " --budget macs" if args.budget == "macs" else ""
    cmd += f" --seed {args.seed}" if args.seed else ""
    if args.only:
        cmd += " --only " + " ".join(f"'{t}'" for t in args.only)
    title = "MNIST" if dataset == "mnist" else "Fashion-MNIST"
    budget = ", MACs budget" if args.budget == "macs" else ""
    md = (f"# C-SWAP ingredients, one at a time ({name}{budget}, {title} test accuracy)\n\n"
          f"Each row up to the defaults adds one ingredient to the row above; the rows after "
          f"change one thing in the defaults. \"The defaults\" in the labels: lazy re-scoring "
          f"with each unit ranked by its mean harm, the package's defaults when the rows were "
          f"introduced; the package's default is now the \"capped finish\" row (`harm='upper', "
          f"harm_z=3, finish='capped'`; every row before it keeps the greedy finish). Every "
          f"pruned model is removed physically and gets the same repair, on {len(x_cal)} calibration images (seed {args.seed}). "
          f"Columns: test accuracy after that repair (bias+bn: removed means folded into the "
          f"consumers' biases, BatchNorm re-estimated; lsq: consumers re-solved by least squares) "
          f"at that percentage of {'MACs' if args.budget == 'macs' else 'parameters'} removed; rescore: how C-SWAP re-scored (full: every "
          f"unit each time; lazy: the units ranked first, every unit every {LAZY_FULL_EVERY}th "
          f"time); plan_s: planning time for the whole run. "
          f"Unpruned: {100 * accuracy(model, test):.2f}%.\n\n"
          f"Machine: {machine()}"
          + (f" for the rows matching {args.only} (any other rows are kept from an earlier run)"
             if args.only else "") + ".\n\n" + markdown_table(rows) + f"\n\nCommand: `{cmd}`\n")
    atomic_write_text(RESULTS / f"{stem}.md", md)
    return 0


if __name__ == "__main__":
    sys.exit(main())

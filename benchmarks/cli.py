"""``causalnet bench`` and ``causalnet compare``: the benchmarks from the command line.

- ``causalnet bench explain|prune|speed|graphs|all [--quick] [--out DIR]`` runs
  ``benchmarks/attribution_stability.py``, ``benchmarks/pruning_tradeoff.py``,
  ``benchmarks/graph_speed.py`` and ``benchmarks/graph_faithfulness.py`` (``all``: the four in
  that order; ``graphs`` takes ``--data mnist|fashion`` and ``--models``). ``--quick`` is the
  smoke-test size; results go to ``benchmarks/results`` unless ``--out`` says otherwise.
- ``causalnet compare --model SPEC --graph G --data SPEC`` compares, for one model and its
  saved graph, the causal explanations with Captum's at unit and input level and prints a table.
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path

from causalnet.cli import add_common_options, command_parser
from causalnet.data import DATA_SPEC_HELP
from causalnet.errors import CausalnetInputError
from causalnet.models import MODEL_SPEC_HELP

PARTS = ("explain", "prune", "speed", "graphs")


def _module(name: str, what: str):
    try:
        return importlib.import_module(f"benchmarks.{name}")
    except ModuleNotFoundError as exc:
        if exc.name in (f"benchmarks.{name}", "benchmarks"):
            raise CausalnetInputError(f"`causalnet bench {what}` needs benchmarks/{name}.py, which "
                                      "this installation does not have") from None
        raise


def _run_part(part: str, args) -> None:
    out = Path(args.out) if args.out else None
    if part == "explain":
        mod = _module("attribution_stability", part)
        command = "causalnet bench explain" + (" --quick" if args.quick else "")
        paths = mod.run(args.quick, out, quiet=args.quiet, command=command)
        print(f"explain: wrote {len(paths)} files, summary {paths[-1]}")
    elif part == "prune":
        mod = _module("pruning_tradeoff", part)
        if hasattr(mod, "run"):
            mod.run(args.quick, out or mod.RESULTS)
        else:
            argv = (["--quick"] if args.quick else []) + (["--out", str(out)] if out else [])
            if mod.main(argv):
                raise CausalnetInputError("the pruning benchmark failed (see its output above)")
    elif part == "speed":
        mod = _module("graph_speed", part)
        argv = (["--quick"] if args.quick else []) + (["--out", str(out)] if out else [])
        if mod.main(argv):
            raise CausalnetInputError("the speed benchmark found a disagreement between the engine, "
                                      "Captum and the naive loop (see above)")
    elif part == "graphs":
        mod = _module("graph_faithfulness", part)
        argv = ["--data", args.data] + (["--models", args.models] if args.models else [])
        if args.quick:
            quick_model = "lenet5" if args.data == "mnist" else f"{args.data}_lenet5"
            argv += ["--models", args.models or quick_model, "--per-class", "10", "--no-jaccard"]
        mod.main(argv + (["--out", str(out)] if out else []))


def run_bench(args) -> int:
    parts = PARTS if args.what == "all" else (args.what,)
    for part in parts:
        t0 = time.perf_counter()
        _run_part(part, args)
        print(f"bench {part}{' --quick' if args.quick else ''}: {time.perf_counter() - t0:.0f} s")
    return 0


def register_bench(subparsers) -> None:
    p = command_parser(subparsers, "bench",
                       "run the benchmarks: explanations (causal vs Captum), pruning trade-off, "
                       "graph speed, class-graph faithfulness",
                   "causalnet bench graphs --data mnist --models lenet5,vgg11_bn")
    p.add_argument("what", choices=(*PARTS, "all"), help="which benchmark")
    p.add_argument("--quick", action="store_true",
                   help="smoke-test size (explain, prune, speed: the three in under 5 minutes; "
                        "graphs: LeNet-5 only, 10 images per class, no rebuilds)")
    p.add_argument("--out", default=None, help="output folder (default benchmarks/results)")
    p.add_argument("--data", default="mnist", choices=("mnist", "fashion"),
                   help="graphs only: the zoo models of this dataset")
    p.add_argument("--models", default=None,
                   help="graphs only: comma-separated zoo names (default: every one with a graph)")
    add_common_options(p)
    p.set_defaults(func=run_bench)


def run_compare(args) -> int:
    import numpy as np

    from benchmarks._common import markdown_table
    from benchmarks._explain_units import working_copy
    from benchmarks.attribution_stability import ModelConfig, input_level, unit_level
    from causalnet.data import load_data
    from causalnet.explain import saliency_source
    from causalnet.graph import CausalGraph
    from causalnet.models import load_model

    model = load_model(args.model, trust=args.trust).eval()
    graph = CausalGraph.load(args.graph)
    graph.check_model(model)
    data = load_data(args.data)
    classes = [int(c) for c in args.classes.split(",")] if args.classes else graph.classes()
    if not classes:
        raise CausalnetInputError("the graph has no class graphs; pass --classes")
    net, units = working_copy(model, data.fit[0][0][None])
    cfg = ModelConfig(None, classes, per_class=args.images, test_per_class=args.images,
                      n_steps=args.steps, input_per_class=max(1, args.images // 2),
                      input_steps=4 * args.steps, perturbations=10, splits=args.splits,
                      deletion_steps=28)
    unit_rows, _ = unit_level("model", net, units, data, cfg, args.seed, args.quiet)
    in_graph = [c for c in classes if c in graph.classes()]
    try:
        for c in in_graph:
            saliency_source(net, graph, c)
        has_maps = bool(in_graph)
    except CausalnetInputError as exc:
        print(f"input level skipped: {exc}")
        has_maps = False
    input_rows = []
    if has_maps:
        cfg.classes = in_graph
        input_rows = input_level("model", net, data, cfg, args.seed, args.quiet, graph=graph)
    keys = ["spearman_splits", "jaccard10_splits", "spearman_noise", "logit_drop_auc",
            "acc_drop_auc"]
    table = [{"method": r["method"], **{k: float(np.round(r[k], 4)) for k in keys}}
             for r in unit_rows]
    text = "## Unit level\n\n" + markdown_table(table) + "\n"
    if input_rows:
        from benchmarks._explain_inputs import METRICS

        text += "\n## Input level\n\n" + markdown_table(
            [{"method": r["method"], **{k: float(np.round(r[k], 4)) for k in METRICS}}
             for r in input_rows]) + "\n"
    print(text)
    if args.out:
        from benchmarks.attribution_stability import _write_csv
        from causalnet.fileio import atomic_write_text

        out = Path(args.out)
        _write_csv(out / "compare_units.csv", unit_rows)
        if input_rows:
            _write_csv(out / "compare_inputs.csv", input_rows)
        atomic_write_text(out / "compare.md", f"# {args.model} ({args.graph})\n\n{text}")
        print(f"wrote {out}/ (compare_units.csv, compare_inputs.csv, compare.md)")
    return 0


def register_compare(subparsers) -> None:
    p = command_parser(subparsers, "compare",
                       "compare the causal explanations of a model with Captum's (unit and input "
                       "level: stability and faithfulness)",
                       "causalnet compare --model zoo:lenet5 --graph lenet.json --data mnist")
    p.add_argument("--model", required=True, help=f"model spec: {MODEL_SPEC_HELP}")
    p.add_argument("--graph", required=True, help="the model's causal graph (from `causalnet build`)")
    p.add_argument("--data", default="mnist", help=f"dataset spec: {DATA_SPEC_HELP}")
    p.add_argument("--classes", default=None, help="comma-separated classes (default: the graph's)")
    p.add_argument("--images", type=int, default=6,
                   help="calibration images per class in each split (also held-out test images)")
    p.add_argument("--splits", type=int, default=5, help="disjoint calibration splits")
    p.add_argument("--steps", type=int, default=8, help="Captum path-method steps (unit level)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="folder for compare_*.csv and compare.md")
    add_common_options(p)
    p.set_defaults(func=run_compare)

"""``causalnet prune``: C-SWAP (or a baseline) from a saved causal graph to a smaller model."""

from __future__ import annotations

import sys
from pathlib import Path

from causalnet.cli import add_common_options, command_parser
from causalnet.data import DATA_SPEC_HELP
from causalnet.devices import DEVICE_HELP
from causalnet.errors import CausalnetInputError
from causalnet.fileio import check_writable
from causalnet.models import MODEL_SPEC_HELP

NOT_REACHED = 3   # exit status of a prune that stopped short of its target (the folder is written)


def _repair(args) -> tuple[str, ...]:
    if args.no_repair:
        return ()
    return tuple(r.strip() for r in args.repair.split(",") if r.strip())


def _round_to(text: str) -> int:
    import argparse

    from .report import cpu_vector_width

    if text == "auto":
        return cpu_vector_width()
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'auto', got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'auto', got {text!r}")
    return value


def _check_numbers(args) -> None:
    """Refuse numbers that mean nothing (NaN, fractions outside (0, 1)) before any work."""
    import math

    target = args.target_params if args.target_params is not None else args.target_macs
    if target is not None and not (math.isfinite(target) and 0 < target < 1):
        raise CausalnetInputError(f"the target must be a fraction in (0, 1) of the parameters or "
                                  f"MACs to remove, got {target}")
    if args.max_drop is not None and not (math.isfinite(args.max_drop) and args.max_drop >= 0):
        raise CausalnetInputError(f"--max-drop must be a number of points >= 0, got {args.max_drop}")
    if args.rescore_every < 0:
        raise CausalnetInputError(f"--rescore-every must be >= 0, got {args.rescore_every}")
    if args.calibration < 1:
        raise CausalnetInputError(f"--calibration must be at least 1, got {args.calibration}")
    if args.ingredient and args.method != "cswap":
        raise CausalnetInputError(f"--ingredient sets C-SWAP's switches; --method {args.method} has none: "
                                  "leave --ingredient out, or use --method cswap")
    if args.check_images is not None and args.check_images < 1:
        raise CausalnetInputError(f"--check-images must be at least 1 (or left out: the tolerance is "
                                  f"checked on the calibration images), got {args.check_images}")


def run_prune(args) -> int:
    from causalnet.data import load_data
    from causalnet.graph import CausalGraph
    from causalnet.models import load_model

    from .api import prune, rescored_graph
    from .cswap import parse_ingredients
    from .io import save_pruned
    from .report import compare, measure

    _check_numbers(args)
    ingredients = parse_ingredients(args.ingredient) if args.ingredient else None
    from causalnet.devices import resolve_device

    resolve_device(args.device)   # a missing GPU is said before anything is loaded
    check_writable(args.out, folder=True)
    model = load_model(args.model, trust=args.trust)
    graph = CausalGraph.load(args.graph) if args.graph else None
    if graph is None and args.method == "cswap":
        raise CausalnetInputError("C-SWAP is driven by the model's causal graph: pass --graph g.json "
                                  "(made by `causalnet build`), or choose a baseline --method")
    data = load_data(args.data)      # prune() checks the graph against the model
    pruned, plan, info = prune(model, data, graph=graph, method=args.method,
                               target_params=args.target_params, target_macs=args.target_macs,
                               max_drop=args.max_drop, repair=_repair(args),
                               rescore_every=args.rescore_every, round_to=args.round_to,
                               calibration_per_class=args.calibration, check_per_class=args.check_images,
                               seed=args.seed,
                               screen=args.fast, ingredients=ingredients, show_progress=not args.quiet,
                               device=args.device)
    shape = tuple(plan["input_shape"])
    before = measure(model, data.eval, shape)
    after = measure(pruned, data.eval, shape)
    report = {"before": before, "after": after, "method": args.method, "stopped": info.get("stopped"),
              "target_reached": info.get("stopped") == "target reached", "seconds": info["seconds"],
              "history": info.get("history", []),
              "settings": plan["settings"]}
    out = Path(args.out)
    save_pruned(pruned, plan, out, report)
    if graph is not None and info.get("scores"):
        rescored_graph(graph, info["scores"]).save(out / "graph_rescored.json")
    print(compare(before, after))
    print(f"{args.method}: {info.get('stopped')}; planned in {info['seconds']:.0f} s; wrote {out}/ "
          "(pruned.safetensors, plan.json, report.json, report.md)")
    if info.get("stopped") != "target reached":
        key, target = (("params", args.target_params) if args.target_params is not None
                       else ("macs", args.target_macs))
        reached = 1 - after[key] / before[key]
        print(f"causalnet prune: error: the target was not reached: {reached:.1%} of the {key} removed "
              f"of the {target:.0%} asked ({info.get('stopped')}). The folder holds the model as far "
              "as it got. To go further: raise --max-drop, check the tolerance on more images per "
              "class (--check-images N, or more --calibration images), or lower the target", file=sys.stderr)
        return NOT_REACHED
    return 0


def register(subparsers) -> None:
    from .api import METHODS

    p = command_parser(subparsers, "prune",
                       "prune a model from its causal graph (C-SWAP) or by a baseline criterion",
                       "causalnet prune --model zoo:resnet20 --graph g.json --data mnist "
                       "--target-params 0.5 --out pruned/")
    p.add_argument("--model", required=True, help=f"model spec: {MODEL_SPEC_HELP}")
    p.add_argument("--graph", help="causal graph of the model (from `causalnet build`)")
    p.add_argument("--data", default="mnist", help=f"dataset spec: {DATA_SPEC_HELP}")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--target-params", type=float, help="fraction of parameters to remove")
    target.add_argument("--target-macs", type=float, help="fraction of MACs to remove")
    p.add_argument("--method", default="cswap", choices=METHODS, help="pruning criterion")
    p.add_argument("--max-drop", type=float, default=None,
                   help="calibration accuracy tolerance in points (a chunk costing more is undone); "
                        "default 1 point, or one calibration image where one image is worth more")
    p.add_argument("--rescore-every", type=int, default=1,
                   help="chunks between re-scores on the repaired network (0: the graph's scores)")
    p.add_argument("--fast", action="store_true",
                   help="C-SWAP fast mode: each re-score ablates only the units a first-order "
                        "estimate ranks first (enough for 4 chunks), not every unit")
    p.add_argument("--round-to", type=_round_to, default=None, metavar="N|auto",
                   help="keep a multiple of N units per layer; auto: this CPU's float32 vector width "
                        "(16 with AVX-512, 8 with AVX2), the widths whose fewer MACs also run faster")
    p.add_argument("--repair", default="lsq",
                   help="training-free repair: bias (fold removed means), bn (re-estimate BatchNorm), "
                        "lsq (re-solve each consumer of removed units by least squares to give its "
                        "original outputs; replaces bias)")
    p.add_argument("--no-repair", action="store_true", help="no repair at all (for comparison)")
    p.add_argument("--calibration", type=int, default=20, help="calibration images per class")
    p.add_argument("--check-images", type=int, default=None, metavar="N",
                   help="C-SWAP: check the tolerance on N more training images per class besides the "
                        "calibration ones (finer than 20 per class, where one image is half a point)")
    p.add_argument("--ingredient", action="append", default=[], metavar="KEY=VALUE",
                   help="advanced: change one of C-SWAP's switches (pruning.CswapIngredients, the ones "
                        "benchmarks/cswap_ablation.py measures), e.g. harm_z=1 or judge=repaired; repeat "
                        "for several")
    p.add_argument("--device", default="cpu", help=f"where planning and repair run: {DEVICE_HELP}")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output folder")
    add_common_options(p)
    p.set_defaults(func=run_prune)


def demo_step(context: dict) -> None:
    """`causalnet demo`'s pruning step: the demo model to half its parameters, from its graph."""
    import argparse
    import json

    from causalnet.fingerprint import model_fingerprint
    from causalnet.models import load_model

    from .io import PlanFormatError, load_plan
    from .report import compare

    out = Path(context["out_dir"]) / "resnet20_pruned50"
    try:
        plan = load_plan(out)
        if plan["source_fingerprint"] == model_fingerprint(load_model(context["model_spec"])):
            report = json.loads((out / "report.json").read_text())
            print(compare(report["before"], report["after"]))
            print(f"pruned model up to date: {out}/ (delete it to prune again)")
            return
    except (PlanFormatError, OSError, KeyError, ValueError):
        pass
    print(f"pruning {context['model_spec']} to half its parameters with C-SWAP (from its graph)")
    args = argparse.Namespace(model=context["model_spec"], graph=str(context["graph"]),
                              data=context["data_spec"], method="cswap", target_params=0.5,
                              target_macs=None, max_drop=1.0, rescore_every=1, round_to=None, fast=False,
                              repair="lsq", no_repair=False, calibration=20, check_images=None, seed=0,
                              device="cpu",
                              out=str(out), trust=False, quiet=context.get("quiet", False))
    run_prune(args)

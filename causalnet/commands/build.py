"""``causalnet build``: the causal explanatory graph of a model, saved for every other tool."""

from __future__ import annotations

import time
from pathlib import Path

from ..cli import add_common_options, command_parser
from ..data import DATA_SPEC_HELP
from ..devices import DEVICE_HELP
from ..errors import CausalnetInputError
from ..fileio import check_writable
from ..models import MODEL_SPEC_HELP

# causalnet.interventions.MODES, spelled out so that parsing the command line does not import torch
INTERVENTIONS = ("zero", "mean", "resample", "soft", "predicted")


def parse_classes(text: str) -> list[int] | None:
    """'all' -> None; '0,3' -> [0, 3]; anything else is a clear error."""
    if text.strip().lower() == "all":
        return None
    try:
        classes = sorted({int(t) for t in text.split(",") if t.strip()})
    except ValueError:
        classes = []
    if not classes or min(classes) < 0:
        raise CausalnetInputError(f"--classes must be 'all' or comma-separated class indices "
                                  f"such as 0,3; got {text!r}")
    return classes


def run_build(args) -> Path:
    from ..builder import BuildSettings, GraphBuilder
    from ..data import load_data
    from ..distributed import init_from_env
    from ..models import load_model

    out = Path(args.out)
    if out.suffix not in (".json", ".graphml"):
        raise CausalnetInputError(f"--out must end in .json (native) or .graphml, got {out.name!r}")
    check_writable(out)
    settings = BuildSettings(classes=parse_classes(args.classes), samples_per_class=args.samples,
                             calibration_per_class=args.calibration, intervention=args.intervention,
                             beta=args.beta, alpha=args.alpha, correction=args.correction,
                             seed=args.seed, edge_effects=args.edge_effects,
                             global_effects=not args.no_global, screen=args.fast,
                             class_test=args.class_test, walk=args.walk, walk_keep=args.walk_keep)
    settings.validate()   # every number is checked before the model and data are loaded
    from ..devices import resolve_device

    resolve_device(args.device)   # a missing GPU is said before anything is loaded
    model = load_model(args.model, trust=args.trust)
    data = load_data(args.data)
    # under torchrun: this rank's share of the work, and its own GPU (cuda -> cuda:LOCAL_RANK)
    shard, device = init_from_env(args.device)
    checkpoint = out.with_name(out.name + ".ckpt.json")
    if checkpoint.exists() and not args.quiet and shard.main:
        print(f"resuming from {checkpoint}")
    ignore = [n.strip() for n in (args.ignore or "").split(",") if n.strip()]
    from ..memory import default_budget, parse_memory

    device = resolve_device(device)
    budget = default_budget(device) if args.max_memory == "auto" else parse_memory(args.max_memory)
    builder = GraphBuilder(model, settings, show_progress=not args.quiet, checkpoint=checkpoint,
                           ignore=ignore, shard=shard, max_memory=budget, device=device)
    start = time.perf_counter()
    graph = builder.build(data, model_spec=args.model, out=out)   # written before the checkpoint goes
    if not shard.main:
        return out
    summary = graph.summary()
    cats = summary["categories"]
    print(f"wrote {out}: {summary['units']} units in {len(graph.layer_names())} layers, "
          f"{summary['edges']} edges, {len(summary['classes'])} class graphs; "
          f"critical {cats.get('critical', 0)}, neutral {cats.get('neutral', 0)}, "
          f"detrimental {cats.get('detrimental', 0)} [{time.perf_counter() - start:.0f} s]")
    return out


def register(subparsers) -> None:
    p = command_parser(subparsers, "build", "build the causal explanatory graph of a model",
                       "causalnet build --model zoo:resnet20 --data mnist --out graph.json\n"
                       "  torchrun --nproc-per-node 2 -m causalnet build --model zoo:resnet20 "
                       "--out graph.json   (units and classes shared across 2 processes; same file)")
    p.add_argument("--model", required=True, help=f"model spec: {MODEL_SPEC_HELP}")
    p.add_argument("--data", default="mnist", help=f"dataset spec: {DATA_SPEC_HELP}")
    p.add_argument("--classes", default="all", help="'all' or class indices such as 0,3")
    p.add_argument("--samples", type=int, default=100,
                   help="correctly classified inputs per class graph (N)")
    p.add_argument("--calibration", type=int, default=20,
                   help="calibration images per class for the global effects")
    p.add_argument("--intervention", default="zero", choices=INTERVENTIONS,
                   help="how a unit is switched off (predicted: replaced by its least-squares "
                        "prediction from the other units its reader sees)")
    p.add_argument("--beta", type=float, default=0.0, help="soft intervention: u ~ U(beta, beta+0.01)")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level")
    p.add_argument("--correction", default="none", choices=["none", "bh"],
                   help="multiple-testing correction per tested layer (bh: Benjamini-Hochberg)")
    p.add_argument("--walk", default="paper2", choices=["paper2", "joint"],
                   help="class graphs: paper2 (default: one unit at a time with a z-test, as "
                        "published) or joint (per layer the fewest units the class needs together, "
                        "found by bisection on joint cuts; reaches every layer of wide models)")
    p.add_argument("--walk-keep", type=float, default=0.95,
                   help="joint walk: fraction of the class's inputs the graph must keep (each with "
                        "half its clean margin); lower gives smaller graphs")
    p.add_argument("--class-test", default="two-sample", choices=["two-sample", "paired"],
                   help="paper2 walk: paper 2's two-sample z-test, or a paired z-test (same "
                        "inputs with and without the intervention; finds more causes in wide layers)")
    p.add_argument("--edge-effects", default="auto", choices=["auto", "all", "none"],
                   help="measure each edge's own effect (auto: where affordable)")
    p.add_argument("--no-global", action="store_true", help="skip the global effects (C-SWAP)")
    p.add_argument("--fast", action="store_true",
                   help="screen candidates with first-order estimates and run exact interventions "
                        "only on those the screen cannot rule out (see benchmarks/graph_speed.py "
                        "for its agreement with exact mode)")
    p.add_argument("--device", default="cpu", help=f"where the build runs: {DEVICE_HELP}")
    p.add_argument("--max-memory", default="auto", metavar="SIZE",
                   help="memory the intervention engines may hold, e.g. 8G (auto: half the memory "
                        "available now, on the GPU with --device cuda); more images than fit are worked through in slices, with "
                        "the same kept units (zero and mean interventions)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ignore", default=None, metavar="NAME[,NAME]",
                   help="modules to leave out of the graph (and their sub-modules), e.g. a block "
                        "causalnet cannot map to units")
    p.add_argument("--out", default="graph.json", help="graph file (.json or .graphml)")
    add_common_options(p)
    p.set_defaults(func=lambda args: run_build(args) and 0)

"""``causalnet debias`` (deprecated alias: ``causalnet repair``): remove the units a model's causal graph marks detrimental, confirmed on a
small clean calibration set, without training; saved like a pruning (weights, plan, report)."""

from __future__ import annotations

from pathlib import Path

from causalnet.cli import add_common_options, command_parser
from causalnet.data import DATA_SPEC_HELP
from causalnet.errors import CausalnetInputError
from causalnet.models import MODEL_SPEC_HELP


def _classes(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return sorted({int(c) for c in text.split(",") if c.strip()})
    except ValueError:
        raise CausalnetInputError(f"--classes takes class indices separated by commas, e.g. 3,5; got {text!r}") from None


def subgroup_accuracy(model, dataset) -> dict[str, float]:
    """Accuracy on each named subgroup of ``dataset`` (e.g. aligned / conflicting), if it has any."""
    import torch

    from causalnet.evaluate import accuracy

    out = {}
    for name, mask in getattr(dataset, "subgroups", {}).items():
        idx = torch.nonzero(mask)[:, 0]
        if len(idx):
            out[name] = accuracy(model, dataset.subset(idx))
    return out


def run_repair(args) -> int:
    from causalnet.data import load_data
    from causalnet.fileio import check_writable
    from causalnet.graph import CausalGraph
    from causalnet.models import load_model

    from .debias import DebiasSettings, check_graph, debias
    from .io import save_pruned
    from .report import compare, measure

    check_writable(args.out, folder=True)
    model = load_model(args.model, trust=args.trust)
    graph = CausalGraph.load(args.graph)
    check_graph(graph, model, args.model)
    data = load_data(args.data)
    repair = () if args.no_repair else tuple(r.strip() for r in args.repair.split(",") if r.strip())
    settings = DebiasSettings(classes=_classes(args.classes), calibration_per_class=args.calibration,
                              alpha=args.alpha, correction=args.correction, max_drop=args.max_drop,
                              max_rounds=args.max_rounds, judge=args.judge, guard=args.guard,
                              from_graph_only=args.graph_only, repair=repair, seed=args.seed)
    repaired, plan, info = debias(model, data, graph, settings=settings, model_spec=args.model)
    shape = tuple(plan["input_shape"])
    before = measure(model, data.eval, shape, repeats=3)
    after = measure(repaired, data.eval, shape, repeats=3)
    groups_before, groups_after = subgroup_accuracy(model, data.eval), subgroup_accuracy(repaired, data.eval)
    report = {"method": "causal_repair", "before": before, "after": after,
              "subgroup_accuracy": {g: {"before": groups_before[g], "after": groups_after[g]} for g in groups_before},
              "units_removed": info["units_removed"], "calibration_images": info["calibration_images"],
              "calibration": {"before": info["start"],
                              "after": {"log_likelihood": info["calibration_log_likelihood"],
                                        "accuracy": info["calibration_accuracy"]}},
              "history": info["history"], "seconds": info["seconds"], "settings": plan["settings"]}
    out = Path(args.out)
    save_pruned(repaired, plan, out, report)
    print(compare(before, after))
    for g in groups_before:
        print(f"accuracy on {g} inputs: {groups_before[g]:.2%} -> {groups_after[g]:.2%}")
    print(f"removed {info['units_removed']} units confirmed detrimental on {info['calibration_images']} clean "
          f"calibration images; wrote {out}/ (pruned.safetensors, plan.json, report.json, report.md)")
    return 0


def register(subparsers, name: str = "debias") -> None:
    """Register ``causalnet debias`` (``name="repair"``: the deprecated alias)."""
    deprecated = name != "debias"
    p = command_parser(subparsers, name,
                       ("deprecated alias of `causalnet debias`: " if deprecated else "")
                       + "debias a model from its causal graph: remove the units that carry a shortcut, no training",
                       f"causalnet {name} --model zoo:resnet20_biased --graph g.json "
                       "--data 'biased_mnist:clean?per_class=20' --out repaired/")
    p.add_argument("--model", required=True, help=f"model spec: {MODEL_SPEC_HELP}")
    p.add_argument("--graph", required=True, help="the model's causal graph (from `causalnet build`)")
    p.add_argument("--data", required=True,
                   help=f"dataset spec; clean calibration images come from its fit split: {DATA_SPEC_HELP}")
    p.add_argument("--out", required=True, help="output folder (loads with pruning.load_pruned)")
    p.add_argument("--classes", help="repair for these classes only, e.g. 3,5 (default: all)")
    p.add_argument("--calibration", type=int, default=20, help="clean calibration images per class")
    p.add_argument("--alpha", type=float, default=0.05, help="significance of 'removal helps'")
    p.add_argument("--correction", default="bh", choices=["bh", "none"],
                   help="multiple-testing correction of the confirmations (Benjamini-Hochberg or none)")
    p.add_argument("--max-drop", type=float, default=3.0,
                   help="tolerance in points: with --guard regressions, the share of the calibration "
                        "images the model got right that may turn wrong; with accuracy, the drop of "
                        "calibration accuracy")
    p.add_argument("--guard", default="regressions", choices=["regressions", "accuracy"],
                   help="what --max-drop limits (regressions protect the inputs the model got right, "
                        "e.g. those where a shortcut cue agrees with the label)")
    p.add_argument("--judge", default="repair", choices=["repair", "mask"],
                   help="judge each removal on the repaired network (as it will be saved; slower) or "
                        "on the mean-masked one")
    p.add_argument("--max-rounds", type=int, default=4, help="rounds of re-measuring on the repaired network")
    p.add_argument("--graph-only", action="store_true",
                   help="remove only confirmed graph candidates (no re-measured rounds)")
    p.add_argument("--repair", default="lsq,bn",
                   help="lsq (least-squares reconstruction of the readers), bias (fold removed means), "
                        "bn (re-estimate BatchNorm)")
    p.add_argument("--no-repair", action="store_true", help="remove units without bias folding or BN")
    p.add_argument("--seed", type=int, default=0)
    add_common_options(p)
    p.set_defaults(func=_deprecated(run_repair) if deprecated else run_repair)


def _deprecated(func):
    def run(args) -> int:
        import warnings

        warnings.warn("`causalnet repair` is now `causalnet debias` (the word repair is kept for the "
                      "weight fix after pruning, --repair); the old name goes in the next release",
                      DeprecationWarning, stacklevel=2)
        print("note: `causalnet repair` is deprecated; use `causalnet debias`")
        return func(args)
    return run


def register_deprecated(subparsers) -> None:
    """``causalnet repair``: the deprecated alias of ``causalnet debias`` (one release)."""
    register(subparsers, "repair")

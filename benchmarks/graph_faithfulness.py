"""Are the zoo's class graphs faithful? (METHOD.md 6b, issue 15)

For every model: its committed graph (``benchmarks/results/graphs/NAME.json`` for MNIST,
``.../graphs/fashion/NAME.json`` for Fashion-MNIST), measured by
:func:`causalnet.graph_faithfulness` on held-out test images (the eval split), mean ablation
with a class-balanced reference draw from the training split:
sufficiency (class accuracy and logit-margin fraction with only the graph's units kept in the
layers it covers), necessity (accuracy drop of the class and of the other classes with the
graph's units cut), size, and equal-size controls per layer: LayerConductance and
LayerFeatureAblation (Captum, scored by ``benchmarks/_explain_units.captum_scores`` on training
images of the class; a unit layer with several readers, such as a residual stream, sums the
attributions at every reader), weight L1 and random. Stability: node-set Jaccard of the class
graphs built (same settings as the committed graph, class graphs only) from two disjoint halves
of the training split.

Run: ``python benchmarks/graph_faithfulness.py [--data mnist|fashion] [--models a,b]``; writes
``benchmarks/results/graph_faithfulness[_fashion].{csv,md}``, ``..._curve.csv``,
``..._summary.csv`` and one PNG per model (``graph_faithfulness_NAME.png``). ``--models`` adds
(or replaces) those models' rows and keeps the other models' rows of an earlier run.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import numpy as np  # noqa: E402

from benchmarks._common import RESULTS, machine, markdown_table, read_csv, write_csv  # noqa: E402
from benchmarks._explain_units import captum_scores  # noqa: E402
from causalnet.builder import BuildSettings, GraphBuilder  # noqa: E402
from causalnet.data import DataBundle, class_balanced_indices, load_data, stack_samples  # noqa: E402
from causalnet.faithfulness import class_jaccard, class_units, graph_faithfulness  # noqa: E402
from causalnet.fileio import atomic_write_text  # noqa: E402
from causalnet.graph import CausalGraph  # noqa: E402
from causalnet.units import discover_units  # noqa: E402
from causalnet.zoo import FASHION, ZOO, load_zoo_model  # noqa: E402

CAPTUM_CONTROLS = ("LayerConductance", "LayerFeatureAblation")


def captum_rankings(model, graph: CausalGraph, bundle: DataBundle, classes, per_class: int,
                    seed: int, n_steps: int) -> dict:
    """method -> layer -> class -> per-unit scores, for the layers each class graph covers,
    on ``per_class`` training images of the class."""
    net = model.eval()
    units = discover_units(net, bundle.fit[0][0][None])
    out: dict = {m: {} for m in CAPTUM_CONTROLS}
    for c in classes:
        idx = class_balanced_indices(bundle.fit.targets, per_class, seed=seed + 77, classes=[c])
        x, _ = stack_samples(bundle.fit, idx)
        for name in class_units(graph, c):
            layer = units.layer(name)
            for m in CAPTUM_CONTROLS:
                total = np.zeros(layer.size)
                for reader in layer.readers:   # a residual group: every reader's attribution
                    total += captum_scores(net, dataclasses.replace(layer, readers=[reader]), x, c, m,
                                           n_steps=n_steps)
                out[m].setdefault(name, {})[c] = total
    return out


def _settings(graph: CausalGraph, **overrides) -> BuildSettings:
    """The committed graph's build settings, with ``overrides``."""
    names = {f.name for f in dataclasses.fields(BuildSettings)}
    return BuildSettings(**{**{k: v for k, v in graph.nx.graph["settings"].items() if k in names},
                            **overrides})


def parse_overrides(text: str | None) -> dict:
    """``"class_test=paired,correction=bh"`` -> BuildSettings keywords (numbers converted)."""
    out = {}
    for item in filter(None, (text or "").split(",")):
        key, _, value = item.partition("=")
        for cast in (int, float):
            try:
                value = cast(value)
                break
            except ValueError:
                pass
        out[key.strip()] = value
    return out


def disjoint_graphs(model, graph: CausalGraph, bundle: DataBundle, seed: int,
                    overrides: dict | None = None) -> tuple:
    """Class graphs (the committed graph's settings, no global effects) from two disjoint
    halves of the training split."""
    perm = np.random.default_rng(seed).permutation(len(bundle.fit))
    halves = [np.sort(perm[: len(perm) // 2]), np.sort(perm[len(perm) // 2:])]
    out = []
    for h in halves:
        half = DataBundle(spec=f"{bundle.spec}[half]", fit=bundle.fit.subset(h), eval=bundle.eval)
        s = _settings(graph, **{**(overrides or {}), "global_effects": False})
        out.append(GraphBuilder(model, s).build(half))
    return tuple(out)


def plot(name: str, curve: list[dict], rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    methods = list(dict.fromkeys(p["method"] for p in curve))
    for ax, key, title in ((axes[0], "suff_acc", "sufficiency: class accuracy, only the top units kept"),
                           (axes[1], "nec_drop_own", "necessity: class accuracy drop, top units cut")):
        for m in methods:
            pts = [p for p in curve if p["method"] == m]
            fr = sorted({p["fraction"] for p in pts})
            ys = [np.mean([p[key] for p in pts if p["fraction"] == f]) for f in fr]
            xs = [np.mean([p["size"] for p in pts if p["fraction"] == f]) for f in fr]
            ax.plot(xs, ys, marker="o", label=m)
        g = [r for r in rows if r["method"] == "graph" and r["units"]]
        if g:
            ax.scatter([np.mean([r["size"] for r in g])], [np.nanmean([r[key] for r in g])],
                       marker="*", s=200, c="k", label="class graph", zorder=5)
        ax.set_xlabel("fraction of the covered layers' units")
        ax.set_title(title, fontsize=9)
        ax.set_ylim(-0.05, 1.05)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{name}: class-graph faithfulness (mean over classes, held-out images)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def summarise(name: str, rows: list[dict], jaccard: dict[int, float] | None, seconds: float) -> list[dict]:
    out = []
    for m in dict.fromkeys(r["method"] for r in rows):
        rs = [r for r in rows if r["method"] == m]
        ne = [r for r in rs if r["units"]]   # classes with a non-empty graph
        mean = lambda k, rr=ne: float(np.nanmean([r[k] for r in rr])) if rr else float("nan")  # noqa: E731
        row = {"model": name, "method": m, "classes": len(rs), "empty_graphs": len(rs) - len(ne),
               "units_mean": float(np.mean([r["units"] for r in rs])),
               "size_covered": mean("size"), "size_all": float(np.mean([r["size_all"] for r in rs])),
               "reach_first_layer": sum(bool(r["reaches_first_layer"]) for r in rs),
               "clean_acc": float(np.mean([r["clean_acc"] for r in rs])),
               "suff_acc": mean("suff_acc"), "suff_margin": mean("suff_margin"),
               "nec_drop_own": float(np.mean([r["nec_drop_own"] for r in rs])),
               "nec_drop_other": float(np.mean([r["nec_drop_other"] for r in rs])),
               "jaccard": (float(np.nanmean(list(jaccard.values()))) if jaccard and m == "graph"
                           else float("nan")),
               "seconds": seconds if m == "graph" else float("nan")}
        out.append(row)
    return out


def earlier_rows(out: Path, suffix: str, names: list[str]) -> dict[str, list[dict]]:
    """The rows of the models *not* in ``names`` from an earlier run's CSV files (per-class rows,
    curve, summary), so that measuring one model adds it to the tables instead of replacing them."""
    kept = {}
    for key, stem in (("rows", ""), ("curve", "_curve"), ("summary", "_summary")):
        rows = read_csv(out / f"graph_faithfulness{suffix}{stem}.csv")
        kept[key] = [r for r in rows if r["model"] not in names]
    return kept


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="mnist", choices=("mnist", "fashion"))
    ap.add_argument("--models", default=None, help="comma-separated zoo names (default: every "
                    "zoo model of the data that has a committed graph)")
    ap.add_argument("--graphs", default=None, help="folder of NAME.json graphs")
    ap.add_argument("--per-class", type=int, default=50, help="held-out test images per class")
    ap.add_argument("--other-per-class", type=int, default=10,
                    help="held-out images of each other class for the necessity drop on others")
    ap.add_argument("--rank-per-class", type=int, default=10,
                    help="training images per class for the Captum control rankings")
    ap.add_argument("--steps", type=int, default=8, help="LayerConductance steps")
    ap.add_argument("--fractions", default="0.05,0.1,0.2,0.5")
    ap.add_argument("--no-jaccard", action="store_true", help="skip the disjoint-draw rebuilds")
    ap.add_argument("--values", default="mean", choices=("mean", "zero"),
                    help="how units are switched off (outputs get a _zero suffix for zero)")
    ap.add_argument("--build", default=None, metavar="KEY=VAL,...",
                    help="rebuild each graph with the committed settings changed by these "
                         "BuildSettings (e.g. class_test=paired,correction=bh) and measure that "
                         "one; outputs get a suffix naming the change")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="output folder (default benchmarks/results)")
    args = ap.parse_args(argv)
    out = Path(args.out) if args.out else RESULTS
    out.mkdir(parents=True, exist_ok=True)
    zoo = ZOO if args.data == "mnist" else FASHION
    graphs = Path(args.graphs) if args.graphs else RESULTS / "graphs"   # zoo names carry the data
    names = args.models.split(",") if args.models else [n for n in zoo if (graphs / f"{n}.json").is_file()]
    bundle = load_data(args.data)
    fractions = [float(f) for f in args.fractions.split(",") if f]
    overrides = parse_overrides(args.build)
    variant = ("" if args.values == "mean" else "_zero") + "".join(f"_{k}-{v}" for k, v in overrides.items())
    suffix = ("" if args.data == "mnist" else f"_{args.data}") + variant
    all_rows, all_curve, summary = [], [], []
    kept = earlier_rows(out, suffix, names)
    for name in names:
        t0 = time.perf_counter()
        model = load_zoo_model(name).eval()
        graph = CausalGraph.load(graphs / f"{name}.json")
        if overrides:
            graph = GraphBuilder(model, _settings(graph, **overrides)).build(
                bundle, model_spec=f"zoo:{name}")
        classes = graph.classes()
        ranks = captum_rankings(model, graph, bundle, classes, args.rank_per_class, args.seed, args.steps)
        rep = graph_faithfulness(model, graph, bundle, per_class=args.per_class,
                                 other_per_class=args.other_per_class, seed=args.seed,
                                 rankings=ranks, fractions=fractions, values=args.values)
        jac = None
        if not args.no_jaccard:
            a, b = disjoint_graphs(model, graph, bundle, args.seed, overrides)
            jac = {c: class_jaccard(a, b, c) for c in classes}
        seconds = time.perf_counter() - t0
        rows = [{"model": name, **r, "jaccard": (jac or {}).get(r["class"], float("nan"))
                 if r["method"] == "graph" else float("nan")} for r in rep.to_rows()]
        curve = [{"model": name, **p} for p in rep.curve]
        all_rows += rows
        all_curve += curve
        summary += summarise(name, rows, jac, seconds)
        plot(name, curve, rows, out / f"graph_faithfulness{variant}_{name}.png")   # names carry the data
        # each model as it finishes, after the other models' rows of an earlier run
        write_csv(f"graph_faithfulness{suffix}.csv", kept["rows"] + all_rows, out)
        write_csv(f"graph_faithfulness{suffix}_summary.csv", kept["summary"] + summary, out)
        print(markdown_table([r for r in summary if r["model"] == name]), flush=True)
    write_csv(f"graph_faithfulness{suffix}_curve.csv", kept["curve"] + all_curve, out)
    order = {n: i for i, n in enumerate(zoo)}
    summary = sorted(kept["summary"] + summary, key=lambda r: order.get(r["model"], len(order)))
    merged = sorted({r["model"] for r in kept["summary"]}, key=lambda n: order.get(n, len(order)))
    md = (f"# Class-graph faithfulness ({args.data})\n\nMachine: {machine()}. "
          f"`python benchmarks/graph_faithfulness.py --data {args.data}"
          f"{' --models ' + args.models if args.models else ''}"
          f"{' --values zero' if args.values == 'zero' else ''}"
          f"{' --build ' + args.build if args.build else ''}`: {args.per_class} held-out test "
          f"images per class ({args.other_per_class} of each other class for the necessity drop "
          f"on the others), {args.values} ablation (reference: the graph's calibration draw from the "
          f"training split), controls at equal size per layer (Captum on {args.rank_per_class} "
          "training images per class). Means over classes; size, sufficiency and margin over "
          "the classes whose graph is non-empty (an empty graph claims nothing: `empty_graphs`). "
          "`size_covered`: graph units / units of the layers the graph covers; `size_all`: / all "
          "units; `jaccard`: class graphs from two disjoint halves of the training split."
          + (f" Rows of {', '.join(merged)}: from an earlier run into the same files (kept from "
             "its CSV files)." if merged else "") + "\n\n"
          + markdown_table(summary) + "\n")
    atomic_write_text(out / f"graph_faithfulness{suffix}.md", md)
    return 0


if __name__ == "__main__":
    sys.exit(main())

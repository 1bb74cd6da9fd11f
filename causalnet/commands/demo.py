"""``causalnet demo``: the main job on the bundled default model (what `make demo` runs).

Evaluates the bundled ResNet-20 on the MNIST test set, builds and saves its causal graph
(reused on a second run when the saved graph matches the model and settings), and prints how
faithful each class graph is on held-out test images (sufficiency and necessity, against a
random set of the same size).
"""

from __future__ import annotations

import time
from importlib.metadata import entry_points
from pathlib import Path

from ..cli import add_common_options, command_parser

DEMO_MODEL = "zoo:resnet20"


def _build_or_reuse(out: Path, quiet: bool, fast: bool) -> Path:
    from ..builder import BuildSettings, GraphBuilder
    from ..data import load_data
    from ..errors import CausalnetInputError
    from ..graph import CausalGraph
    from ..models import load_model

    model = load_model(DEMO_MODEL)
    settings = BuildSettings(screen=fast)
    if out.is_file():
        try:
            old = CausalGraph.load(out)
            old.check_model(model)
            if old.nx.graph["settings"].get("screen") == fast:
                print(f"causal graph up to date: {out} (delete it to rebuild)")
                return out
        except CausalnetInputError:
            pass
    print(f"building the causal graph of {DEMO_MODEL} (10 classes x {settings.samples_per_class} "
          f"images, global effects on {settings.calibration_per_class}/class)"
          + (" in fast mode" if fast else ""))
    start = time.perf_counter()
    builder = GraphBuilder(model, settings, show_progress=not quiet,
                           checkpoint=out.with_name(out.name + ".ckpt.json"))
    graph = builder.build(load_data("mnist"), model_spec=DEMO_MODEL)
    graph.save(out)
    s = graph.summary()
    print(f"wrote {out} in {time.perf_counter() - start:.0f} s: {s['units']} units, {s['edges']} edges; "
          + ", ".join(f"{k} {v}" for k, v in s["categories"].items() if k != "none"))
    for c, info in sorted(s["classes"].items()):
        print(f"  class {c}: {info['units']} causal units, {info['edges']} edges")
    return out


FAITHFULNESS_PER_CLASS = 50


def _print_faithfulness(graph_path: Path) -> None:
    """Each class graph's sufficiency and necessity on held-out MNIST test images
    (:func:`causalnet.faithfulness.graph_faithfulness`, mean ablation), next to a random unit
    set of the same size in the same layers."""
    from ..data import load_data
    from ..faithfulness import graph_faithfulness
    from ..graph import CausalGraph
    from ..models import load_model

    report = graph_faithfulness(load_model(DEMO_MODEL), CausalGraph.load(graph_path), load_data("mnist"),
                                per_class=FAITHFULNESS_PER_CLASS, other_per_class=10,
                                controls=("random",), fractions=())
    rows = {(r["class"], r["method"]): r for r in report.rows}
    print(f"class graphs on {FAITHFULNESS_PER_CLASS} held-out test images per class (mean ablation; "
          "`causalnet bench graphs` compares them with Captum's rankings):")
    print("  sufficiency: class accuracy with only the graph's units on in the layers it covers; "
          "necessity: the change in accuracy points of the class and of the others with the graph's "
          "units off")

    def lost(frac: float) -> str:   # signed change in points, never "-0.0"
        return f"{-100 * frac + 0.0:+.1f}"

    for c in sorted({c for c, _ in rows}):
        g, r = rows[(c, "graph")], rows[(c, "random")]
        if not g["units"]:
            print(f"  class {c}: empty graph (claims nothing)")
            continue
        print(f"  class {c}: {g['units']} units ({g['size']:.0%} of {g['layers_covered']} layer(s)); "
              f"sufficiency {g['suff_acc']:.0%} (random set {r['suff_acc']:.0%}); necessity "
              f"{lost(g['nec_drop_own'])} own / {lost(g['nec_drop_other'])} others "
              f"(random {lost(r['nec_drop_own'])} / {lost(r['nec_drop_other'])})")


def _later_steps(context: dict) -> None:
    """Steps other packages add to the demo (entry-point group ``causalnet.demo_steps``, run in
    name order), so the demo grows with them without causalnet importing them."""
    for ep in sorted(entry_points(group="causalnet.demo_steps"), key=lambda e: e.name):
        ep.load()(context)


def _run(args) -> int:
    from .evaluate import run_eval

    out_dir = Path(args.out)
    print(f"== causalnet demo: bundled ResNet-20 on MNIST (outputs in {out_dir}/) ==")
    run_eval(DEMO_MODEL, "mnist:test", quiet=args.quiet)
    graph_path = _build_or_reuse(out_dir / "resnet20_graph.json", args.quiet, args.fast)
    _print_faithfulness(graph_path)
    _later_steps({"out_dir": out_dir, "graph": graph_path, "model_spec": DEMO_MODEL,
                  "data_spec": "mnist", "quiet": args.quiet})
    return 0


def register(subparsers) -> None:
    p = command_parser(subparsers, "demo", "run the main job on the bundled ResNet-20 and MNIST",
                       "causalnet demo --out demo_out")
    p.add_argument("--out", default="demo_out", help="folder for the demo's files")
    p.add_argument("--fast", action="store_true", help="build the graph in fast (screened) mode")
    add_common_options(p)
    p.set_defaults(func=_run)

"""``causalnet demo``: the main job on the bundled default model (what `make demo` runs).

Evaluates the bundled ResNet-20 on the MNIST test set, then builds and saves its causal graph
(reused on a second run when the saved graph matches the model and settings).
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

"""Build the causal graph of every zoo model (the `causalnet build` defaults: all classes,
100 images per class graph, 20 per class for the global effects, zero ablation) and tabulate
units, layers, class-graph sizes, categories and build time.

Run: ``python benchmarks/zoo_graphs.py [--data mnist|fashion] [--fast] [--models lenet5,resnet20]``;
writes ``benchmarks/results/zoo_graphs[_fashion][_fast].{csv,md}`` and the graphs under
``benchmarks/results/graphs/``. ``--data fashion`` defaults to the trained ``fashion_*`` models.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import torch  # noqa: E402

from benchmarks._common import RESULTS, machine, markdown_table, write_csv  # noqa: E402
from causalnet.builder import BuildSettings, GraphBuilder  # noqa: E402
from causalnet.data import load_data  # noqa: E402
from causalnet.fileio import atomic_write_text  # noqa: E402
from causalnet.zoo import load_zoo_model, zoo_names  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fast", action="store_true", help="fast (screened) mode")
    ap.add_argument("--data", default="mnist", choices=["mnist", "fashion"],
                    help="dataset the models were trained on (samples from its train split)")
    ap.add_argument("--models", default=None,
                    help="comma-separated zoo names (default: every trained model of --data)")
    args = ap.parse_args(argv)
    data = load_data(args.data)
    models = args.models.split(",") if args.models else zoo_names(args.data, trained=True)
    rows = []
    out_dir = RESULTS / "graphs"
    suffix = ("" if args.data == "mnist" else f"_{args.data}") + ("_fast" if args.fast else "")
    for name in models:
        model = load_zoo_model(name)
        builder = GraphBuilder(model, BuildSettings(screen=args.fast))
        start = time.perf_counter()
        graph = builder.build(data, model_spec=f"zoo:{name}")
        seconds = time.perf_counter() - start
        graph.save(out_dir / f"{name}{'_fast' if args.fast else ''}.json")  # names carry the dataset
        s = graph.summary()
        per_class = s["classes"]
        cats = s["categories"]
        rows.append({
            "model": name, "units": s["units"], "layers (groups)": len(graph.layer_names()),
            "class graph units (min/mean/max)": "{}/{:.1f}/{}".format(
                min(v["units"] for v in per_class.values()),
                sum(v["units"] for v in per_class.values()) / len(per_class),
                max(v["units"] for v in per_class.values())),
            "class graph edges (min/mean/max)": "{}/{:.1f}/{}".format(
                min(v["edges"] for v in per_class.values()),
                sum(v["edges"] for v in per_class.values()) / len(per_class),
                max(v["edges"] for v in per_class.values())),
            "critical": cats.get("critical", 0), "neutral": cats.get("neutral", 0),
            "detrimental": cats.get("detrimental", 0),
            "global_s": round(builder.timings["global_effects"], 1),
            "class_graphs_s": round(builder.timings["class_graphs"], 1),
            "total_s": round(seconds, 1), "threads": torch.get_num_threads()})
        print(rows[-1], flush=True)
    # rows of models not rebuilt this time are kept from the last run, in the zoo's order
    previous = RESULTS / f"zoo_graphs{suffix}.csv"
    if previous.exists():
        with open(previous, newline="") as f:
            kept = [r for r in csv.DictReader(f) if r["model"] not in models]
        order = zoo_names(args.data)
        rows = sorted(kept + rows, key=lambda r: order.index(r["model"]) if r["model"] in order else 99)
    write_csv(f"zoo_graphs{suffix}.csv", rows)
    title = "MNIST" if args.data == "mnist" else "Fashion-MNIST"
    md = (f"# Causal graphs of the {title} zoo models{' (fast mode)' if args.fast else ''}\n\n"
          f"Machine (of this run; `threads`: the torch threads of each model's run): {machine()}. Settings: `causalnet build` defaults (all 10 classes, N=100 "
          "correctly classified images per class graph, 20 images per class for global effects, "
          "zero ablation, alpha 0.05, no correction).\n\n" + markdown_table(rows) +
          f"\n\nCommand: `python benchmarks/zoo_graphs.py --data {args.data}"
          f"{' --fast' if args.fast else ''}`\n")
    atomic_write_text(RESULTS / f"zoo_graphs{suffix}.md", md)
    return 0


if __name__ == "__main__":
    sys.exit(main())

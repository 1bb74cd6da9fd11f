"""``causalnet audit``: a report a reviewer can read, from a causal graph (and optionally the
model and data, for the measured sections)."""

from __future__ import annotations

import time
from pathlib import Path

from ..cli import add_common_options, command_parser
from ..data import DATA_SPEC_HELP
from ..models import MODEL_SPEC_HELP


def _settings(args):
    from ..audit import AuditSettings

    return AuditSettings(top=args.top, max_errors=args.max_errors, reference_per_class=args.reference,
                         group_samples=args.group_samples, seed=args.seed)


def default_out(graph_path: str | Path, fmt: str) -> Path:
    graph_path = Path(graph_path)
    stem = graph_path.name[: -len(graph_path.suffix)] if graph_path.suffix else graph_path.name
    return graph_path.with_name(f"{stem}_audit.{fmt}")


def run_audit(args) -> int:
    from ..audit import audit, write_report
    from ..errors import CausalnetInputError
    from ..graph import CausalGraph

    if (args.model is None) != (args.data is None):
        raise CausalnetInputError("the measured sections need both --model and --data (or give neither "
                                  "for a graph-only audit)")
    from ..fileio import check_writable

    out = Path(args.out) if args.out else default_out(args.graph, args.format)
    check_writable(out)
    graph = CausalGraph.load(args.graph)
    model = data = None
    if args.model:
        from ..data import load_data
        from ..models import load_model

        model = load_model(args.model, trust=args.trust)
        graph.check_model(model)
        data = load_data(args.data)
    start = time.perf_counter()
    report = audit(graph, model, data, settings=_settings(args))
    write_report(report, out, args.format)
    if not args.quiet:
        _print_headline(report)
    print(f"audit report written to {out} ({time.perf_counter() - start:.1f} s)")
    return 0


def _print_headline(report: dict) -> None:
    s = report["summary"]
    print(f"{s['units']} units: {s['categories'].get('critical', 0)} critical, "
          f"{s['categories'].get('detrimental', 0)} detrimental; {report['shared']['n_units']} shared by 2+ classes")
    if "errors" in report:
        e = report["errors"]
        print(f"accuracy {e['accuracy']}; {e['n_errors']} errors, {e.get('fixable_by_one_unit', 0)} of "
              f"{e.get('analysed', 0)} analysed flip back when one unit is mean-ablated")
    for d in report.get("subgroups", {}).get("directions", []):
        if d["n_flagged"]:
            j = d["joint_ablation"]
            acc = "; ".join(f"{g} {v['before']} -> {v['after']}" for g, v in j.items() if g != "units")
            print(f"{d['n_flagged']} units favour {d['favoured']} over {d['hurt']} inputs "
                  f"(ablated together: {acc})")


def register(subparsers) -> None:
    from ..audit import FORMATS

    p = command_parser(subparsers, "audit", "audit a model's decisions from its causal graph",
                       "causalnet audit graph.json --model zoo:resnet20_biased --data biased_mnist:clean "
                       "--format html")
    p.add_argument("graph", help="causal graph (from `causalnet build`)")
    p.add_argument("--model", help=f"the graph's model, for the measured sections: {MODEL_SPEC_HELP}")
    p.add_argument("--data", help=f"dataset spec, with --model: {DATA_SPEC_HELP}")
    p.add_argument("--format", default="md", choices=FORMATS, help="report format")
    p.add_argument("--out", help="report file (default: GRAPH_audit.FORMAT next to the graph)")
    p.add_argument("--top", type=int, default=8, help="units listed per table")
    p.add_argument("--max-errors", type=int, default=200, help="misclassified inputs analysed at most")
    p.add_argument("--reference", type=int, default=20,
                   help="clean images per class (fit split) whose means mean ablation uses")
    p.add_argument("--group-samples", type=int, default=300, help="inputs per subgroup (data with subgroups)")
    p.add_argument("--seed", type=int, default=0)
    add_common_options(p)
    p.set_defaults(func=run_audit)


def demo_step(context: dict) -> None:
    """`causalnet demo`'s audit step: the graph-only audit report of the demo's ResNet-20."""
    from ..audit import audit, write_report
    from ..graph import CausalGraph

    graph = CausalGraph.load(context["graph"])
    out = Path(context["out_dir"]) / "resnet20_audit.md"
    write_report(audit(graph), out, "md")
    print(f"ResNet-20 audit report written to {out}")

"""``causalnet info GRAPH``: what a saved causal graph holds."""

from __future__ import annotations

from ..cli import command_parser


def _run(args) -> int:
    from ..graph import CausalGraph

    graph = CausalGraph.load(args.graph)
    meta = graph.nx.graph
    s = graph.summary()
    model = meta.get("model", {})
    print(f"{args.graph}: causal graph of {model.get('spec')} ({model.get('architecture')}), "
          f"fingerprint {str(model.get('fingerprint'))[:23]}, data {meta.get('data', {}).get('spec')}")
    print(f"  {s['units']} units in {len(graph.layer_names())} layers, {s['edges']} edges; "
          f"categories: " + ", ".join(f"{k} {v}" for k, v in s["categories"].items()))
    for c, info in sorted(s["classes"].items()):
        print(f"  class {c}: {info['units']} causes, {info['edges']} edges")
    return 0


def register(subparsers) -> None:
    p = command_parser(subparsers, "info", "summarise a saved causal graph",
                       "causalnet info graph.json")
    p.add_argument("graph", help="graph file (.json or .graphml)")
    p.set_defaults(func=_run)

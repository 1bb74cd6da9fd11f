"""``causalnet render GRAPH``: pictures of a saved causal graph.

Registered through the ``causalnet.commands`` entry point (``render = "viz.cli:register"``), so
causalnet itself never imports viz. Writes, next to the graph unless ``--out`` says otherwise:
the layered drawing (svg, png, pdf or dot; ``GRAPH-STEM[.classC].FORMAT``), the interactive
HTML explorer (``--format html`` or ``--html OUT``) or the units x classes heatmap
(``--heatmap``: ``GRAPH-STEM.heatmap.png``), and prints each path written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from causalnet.cli import command_parser
from causalnet.errors import CausalnetInputError

from .layout import DEFAULT_TOP
from .render import COLOR_BY, FORMATS

EXAMPLE = "causalnet render graph.json --class 3 --format png"


def _out_path(graph_path: str, suffix: str, cls: int | None) -> Path:
    """Default output: the graph's path with its suffix replaced (``.class3`` for a class)."""
    path = Path(graph_path)
    tag = f".class{cls}" if cls is not None else ""
    return path.with_name(f"{path.stem}{tag}.{suffix}")


def _drawing_format(args: argparse.Namespace) -> str:
    """--format, else --out's suffix, else svg; a clash between the two is an input error."""
    from .render import output_format

    if args.out is None:
        return args.format or "svg"
    if args.format is None:
        return output_format(args.out, None)
    suffix = Path(args.out).suffix.lstrip(".").lower()
    if suffix in FORMATS and suffix != args.format:
        raise CausalnetInputError(f"--format {args.format} but --out {args.out} ends in "
                                  f".{suffix}; give one or make them agree")
    return args.format


def _run(args: argparse.Namespace) -> int:
    from causalnet.fileio import check_writable
    from causalnet.graph import CausalGraph

    from .layout import check_class

    for dest, what in ((args.out, "--out"), (args.html, "--html")):
        if dest is not None:
            check_writable(dest, what=what)
    graph = CausalGraph.load(args.graph)
    cls = check_class(graph, args.cls)
    if args.top < 1:
        raise CausalnetInputError(f"--top must be at least 1, got {args.top}")
    written: list[Path] = []
    if args.heatmap:
        from .plots import heatmap

        fmt = args.format or (Path(args.out).suffix.lstrip(".").lower() if args.out else "png")
        if fmt not in ("png", "svg", "pdf"):
            raise CausalnetInputError(f"--heatmap writes png, svg or pdf, not {fmt!r}")
        out = Path(args.out) if args.out else _out_path(args.graph, f"heatmap.{fmt}", None)
        written.append(heatmap(graph, out, fmt=fmt))
    else:
        if args.html is not None:
            from .html import write_html

            written.append(write_html(graph, args.html, top=args.top, cls=cls))
        if args.html is None or args.out is not None or args.format not in (None, "html"):
            from .render import render

            fmt = _drawing_format(args)
            out = Path(args.out) if args.out else _out_path(args.graph, fmt, cls)
            written.append(render(graph, out, cls=cls, top=args.top, color_by=args.color_by,
                                  fmt=fmt, only_class=args.only_class))
    for path in written:
        print(path)
    return 0


def register(subparsers) -> None:
    """Add ``causalnet render`` to the CLI."""
    p = command_parser(subparsers, "render",
                       "draw a causal graph (svg/png/pdf/dot), an HTML explorer or a heatmap",
                       EXAMPLE)
    p.add_argument("graph", help="graph file (.json or .graphml) written by `causalnet build`")
    p.add_argument("--class", dest="cls", type=int, default=None, metavar="C",
                   help="highlight class C's causal graph (and draw its units first)")
    p.add_argument("--only-class", action="store_true",
                   help="draw only class C's subgraph (needs --class)")
    p.add_argument("--top", type=int, default=DEFAULT_TOP, metavar="K",
                   help='units drawn per layer; the rest become one "LAYER (+N more)" node')
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="output format (default: --out's suffix, else svg; png for --heatmap)")
    p.add_argument("--color-by", choices=COLOR_BY, default="category",
                   help="node colour: category (critical red, neutral grey, detrimental blue) "
                        "or effect (class effect of --class, else log xi)")
    p.add_argument("--out", default=None, metavar="F",
                   help="output file (default: the graph's name with the format's suffix)")
    p.add_argument("--heatmap", action="store_true",
                   help="write the units x classes heatmap of class effects instead")
    p.add_argument("--html", default=None, metavar="OUT",
                   help="write the interactive HTML explorer to OUT (shortcut for "
                        "--format html --out OUT)")
    p.set_defaults(func=_run)


def demo_step(context: dict) -> None:
    """`causalnet demo`'s render step: the demo graph as SVG and as the HTML explorer."""
    from causalnet.graph import CausalGraph

    from .html import write_html
    from .render import render

    graph_path = Path(context["graph"])
    graph = CausalGraph.load(graph_path)
    svg = render(graph, graph_path.with_suffix(".svg"))
    html = write_html(graph, graph_path.with_suffix(".html"))
    print(f"rendered the causal graph: {svg} (SVG), {html} (interactive explorer, open in a browser)")

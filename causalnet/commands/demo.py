"""``causalnet demo``: the main job on the bundled default model (what `make demo` runs)."""

from __future__ import annotations

from ..cli import add_common_options, command_parser


def _run(args) -> int:
    from .evaluate import run_eval

    print("== causalnet demo: bundled ResNet-20 on the MNIST test set ==")
    run_eval("zoo:resnet20", "mnist:test", quiet=args.quiet)
    return 0


def register(subparsers) -> None:
    p = command_parser(subparsers, "demo", "run the main job on the bundled ResNet-20 and MNIST",
                       "causalnet demo")
    add_common_options(p)
    p.set_defaults(func=_run)

"""The ``causalnet`` command line: one entry point, subcommands discovered by entry point.

Each package registers its subcommands in the ``causalnet.commands`` entry-point group (see
pyproject.toml) with a ``register(subparsers)`` function, so ``causalnet prune`` works without
causalnet importing pruning/. Exit codes: 0 success, 2 bad input (one-line reason), 1 failure.
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib.metadata import entry_points

from .errors import CausalnetError

EPILOG = """examples:
  causalnet zoo list
  causalnet eval --model zoo:resnet20 --data mnist:test
  causalnet build --model zoo:resnet20 --data mnist --out graph.json
run `causalnet COMMAND --help` for each command's options."""


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default where it says something: not for flags (False), for options
    without one (None), or where the help already names it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default in (None, False) or "default" in text:
            return text
        return super()._get_help_string(action)


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """Options every command that loads models shares."""
    parser.add_argument("--trust", action="store_true",
                        help="allow loading files that need full unpickling (can run code: only "
                             "for files you trust)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def apply_common_options(args: argparse.Namespace) -> None:
    import torch

    threads = getattr(args, "threads", None)
    if threads is not None:
        if threads < 1:
            from .errors import CausalnetInputError

            raise CausalnetInputError(f"--threads must be a positive integer, got {threads}")
        torch.set_num_threads(threads)


def command_parser(subparsers, name: str, help: str, example: str) -> argparse.ArgumentParser:
    """A subcommand parser with the shared formatter and an example in its help."""
    return subparsers.add_parser(name, help=help, description=f"{help}\n\nexample:\n  {example}",
                                 formatter_class=_Formatter)


def _broken_command(name: str, exc: Exception):
    def run(args):
        raise CausalnetError(f"the '{name}' command could not be loaded: {exc}")
    return run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="causalnet", formatter_class=_Formatter, epilog=EPILOG,
        description="Explain and repair trained PyTorch vision models through causal interventions.")
    from . import __version__

    parser.add_argument("--version", action="version", version=f"causalnet {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    seen = set()
    for ep in sorted(entry_points(group="causalnet.commands"), key=lambda e: e.name):
        if ep.name in seen:
            continue
        seen.add(ep.name)
        try:
            ep.load()(subparsers)
        except Exception as exc:  # a broken plugin must not take the whole CLI down
            p = subparsers.add_parser(ep.name, help=f"(unavailable: {exc})")
            p.set_defaults(func=_broken_command(ep.name, exc))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        apply_common_options(args)
        return int(args.func(args) or 0)
    except CausalnetError as exc:
        if args.debug or os.environ.get("CAUSALNET_DEBUG"):
            raise
        print(f"causalnet {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

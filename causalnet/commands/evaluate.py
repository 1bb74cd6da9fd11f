"""``causalnet eval``: a model's accuracy on a dataset's evaluation split."""

from __future__ import annotations

import time

from ..cli import add_common_options, command_parser
from ..data import DATA_SPEC_HELP
from ..models import MODEL_SPEC_HELP


def run_eval(model_spec: str, data_spec: str, *, trust: bool = False, quiet: bool = False) -> float:
    from ..data import load_data
    from ..evaluate import accuracy
    from ..fingerprint import model_fingerprint
    from ..models import load_model

    model = load_model(model_spec, trust=trust)
    data = load_data(data_spec)
    start = time.perf_counter()
    acc = accuracy(model, data.eval, show_progress=not quiet)
    seconds = time.perf_counter() - start
    print(f"{model_spec} on {data.eval.name} ({len(data.eval):,} images): "
          f"accuracy {100 * acc:.2f}% [{seconds:.1f} s, fingerprint {model_fingerprint(model)[:19]}]")
    return acc


def _run(args) -> int:
    run_eval(args.model, args.data, trust=args.trust, quiet=args.quiet)
    return 0


def register(subparsers) -> None:
    p = command_parser(subparsers, "eval", "top-1 accuracy of a model on a dataset's evaluation split",
                       "causalnet eval --model zoo:resnet20 --data mnist:test")
    p.add_argument("--model", required=True, help=f"model spec: {MODEL_SPEC_HELP}")
    p.add_argument("--data", default="mnist:test", help=f"dataset spec: {DATA_SPEC_HELP}")
    add_common_options(p)
    p.set_defaults(func=_run)

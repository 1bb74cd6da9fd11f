"""A quick look at the joint class walk on a few classes of one zoo model: per-layer kept units,
build time, and sufficiency / necessity on held-out test images against an equal-size random
control (:func:`causalnet.graph_faithfulness`). The full table is ``graph_faithfulness.py
--build walk=joint``; this probe is for choosing settings.

Run: ``python benchmarks/joint_walk_probe.py --model vgg11_bn --data mnist --classes 0,3
[--keep 0.95] [--margin-share 0.5] [--intervention zero]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import torch  # noqa: E402

import causalnet.joint_walk as jw  # noqa: E402
from causalnet.builder import build_graph  # noqa: E402
from causalnet.data import load_data  # noqa: E402
from causalnet.faithfulness import class_units, graph_faithfulness  # noqa: E402
from causalnet.models import load_model  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="zoo name, e.g. vgg11_bn")
    ap.add_argument("--data", default="mnist")
    ap.add_argument("--classes", default="0,3")
    ap.add_argument("--keep", type=float, default=0.95, help="walk_keep")
    ap.add_argument("--margin-share", type=float, default=jw.MARGIN_SHARE)
    ap.add_argument("--intervention", default="zero", choices=["zero", "mean"])
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    jw.MARGIN_SHARE = args.margin_share
    model = load_model(f"zoo:{args.model}").eval()
    data = load_data(args.data)
    classes = [int(c) for c in args.classes.split(",")]
    t = time.perf_counter()
    g = build_graph(model, data, global_effects=False, classes=classes, walk="joint",
                    walk_keep=args.keep, intervention=args.intervention)
    print(f"build: {time.perf_counter() - t:.1f} s for {len(classes)} classes")
    for c in classes:
        print(c, {k: len(v) for k, v in class_units(g, c).items()})
    rep = graph_faithfulness(model, g, data, values=args.intervention, controls=("random",), fractions=())
    for row in rep.summary():
        print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()
               if k in ("method", "units", "size", "suff_acc", "suff_margin", "nec_drop_own",
                        "nec_drop_other")})
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``causalnet zoo list|train``: the shipped reference models."""

from __future__ import annotations

from ..cli import command_parser


def _list(args) -> int:
    from ..zoo import load_card
    from ..zoo.registry import ALL_ENTRIES

    print(f"{'name':<20} {'data':<13} {'test acc':>9} {'bar':>6} {'params':>9} {'MACs':>12} "
          f"{'train s':>8}  description")
    for name, entry in ALL_ENTRIES.items():
        card = load_card(name)
        data = entry.recipe.dataset
        if card is None:
            print(f"{name:<20} {data:<13} {'(not trained)':>9}  {entry.description}")
            continue
        print(f"{name:<20} {data:<13} {100 * card['test_accuracy']:>8.2f}% {100 * entry.min_accuracy:>5.1f}% "
              f"{card['params']:>9,} {card['macs']:>12,} {card['train_seconds']:>8.0f}  {entry.description}")
    return 0


def _train(args) -> int:
    from ..zoo.registry import package_weights_folder, zoo_entry
    from ..zoo.train import train_zoo_model

    zoo_entry(args.name)  # validate before any work
    out = package_weights_folder() if args.into_package else args.out
    card = train_zoo_model(args.name, out, show_progress=not args.quiet, epochs=args.epochs,
                           threads=args.threads, dataset=args.data,
                           resume=not args.no_resume)
    print(f"{args.name}: test accuracy {100 * card['test_accuracy']:.2f}% "
          f"(bar {100 * card['min_accuracy']:.1f}%), {card['params']:,} params, "
          f"{card['macs']:,} MACs, trained in {card['train_seconds']:.0f} s")
    print(f"wrote {out}/{args.name}.safetensors and {args.name}.json")
    return 0


def register(subparsers) -> None:
    p = command_parser(subparsers, "zoo", "list or retrain the shipped reference models",
                       "causalnet zoo list")
    sub = p.add_subparsers(dest="zoo_command", metavar="ACTION", required=True)
    lp = sub.add_parser("list", help="show the zoo with each checkpoint's card")
    lp.set_defaults(func=_list)
    tp = sub.add_parser("train", help="reproduce a checkpoint from its recipe (seeded, CPU)",
                        description="example:\n  causalnet zoo train resnet20 --out ./zoo_retrained")
    tp.add_argument("name", help="zoo model name (see `causalnet zoo list`)")
    tp.add_argument("--out", default="zoo_retrained", help="folder for NAME.safetensors and NAME.json")
    tp.add_argument("--into-package", action="store_true",
                    help="overwrite the shipped checkpoint (maintainers)")
    tp.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    tp.add_argument("--data", default=None,
                    help="train on this dataset spec instead of the recipe's (recorded on the card); "
                         "the fashion_* entries already train on `fashion`")
    tp.add_argument("--no-resume", action="store_true",
                    help="start over even if OUT/NAME.train-state.safetensors holds finished epochs")
    tp.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    tp.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    tp.set_defaults(func=_train)

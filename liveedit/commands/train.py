"""`liveedit train`: the same as `python training/train.py` (both stages; see its --help)."""
from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train the model (both stages; same as python training/train.py)",
                              description="Train the generation branch, then the editing branch. All arguments "
                                          "are passed to training/train.py: `liveedit train --help-train` lists them.",
                              add_help=True)
    p.add_argument("--help-train", action="store_true", help="show training/train.py's options")
    p.add_argument("train_args", nargs=argparse.REMAINDER, help="arguments for training/train.py")
    p.set_defaults(func=run)


def run(args) -> int:
    from training.train import main  # noqa: PLC0415 (heavy imports only when training)
    return main(["--help"] if args.help_train else list(args.train_args))

"""`liveedit eval`: the evaluation tables (docs/RESULTS.md), same as `python training/eval.py`."""
from __future__ import annotations

import argparse


def register(subparsers) -> None:
    from training.eval import add_arguments  # noqa: PLC0415  (numpy/scipy only; the model loads in run)

    p = subparsers.add_parser("eval", help="evaluation tables: quality, iterative editing, ablations",
                              description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import sys  # noqa: PLC0415

    from training.eval import run  # noqa: PLC0415

    args.argv = sys.argv[2:] if len(sys.argv) > 1 and sys.argv[1] == "eval" else []
    run(args)
    return 0

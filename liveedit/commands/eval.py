"""`liveedit eval`: the evaluation report (docs/RESULTS.md).

First the section that counts: whole held-out songs (the corpus's soundfont and one the model never
heard) danced through the exact path of `liveedit generate` and `liveedit serve`
(liveedit/offline/longform.py). Then the paper-style tables on isolated 5 s corpus windows
(training/eval.py), a diagnostic.
"""
from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    from training.eval import add_arguments  # noqa: PLC0415  (numpy/scipy only; the model loads in run)

    p = subparsers.add_parser("eval", help="evaluation: whole songs through the rolling path, then paper-style tables",
                              description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=_run)


def longform_section(dm, args: argparse.Namespace, log) -> dict:
    """The long-form section for `training.eval.run`, with the eval command's sampling settings."""
    from liveedit.offline.longform import LongformConfig, evaluate  # noqa: PLC0415

    cfg = LongformConfig(per_family=args.longform_songs, seconds=args.longform_seconds, steps=args.steps,
                         music_guidance=args.music_guidance, seed=args.seed, progress=not args.quiet)
    return evaluate(dm, cfg, img_dir=Path(args.img_dir), log=log)


def _run(args: argparse.Namespace) -> int:
    import sys  # noqa: PLC0415

    from training.eval import run  # noqa: PLC0415

    args.argv = sys.argv[2:] if len(sys.argv) > 1 and sys.argv[1] == "eval" else []
    run(args, longform=longform_section)
    return 0

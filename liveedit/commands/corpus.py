"""`liveedit corpus --out DIR`: build the procedural dance/edit corpus (same as training/make_corpus.py)."""
from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "corpus", help="build the procedural training corpus (songs, dances, edit chains)",
        description="Composes songs with exact beats, dances on them with beat-aligned moves, and writes "
                    "multi-turn edit chains (seed dance + verified edits with their text and measured "
                    "attribute changes) in the layout of docs/corpus.md. Parallel workers, progress bar; "
                    "prints the time taken and the size on disk.")
    from training.make_corpus import add_arguments  # noqa: PLC0415
    add_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from training.make_corpus import run as build  # noqa: PLC0415
    return build(args)

"""`liveedit` command line: one sub-command per module in `liveedit.commands`.

Each module exposes `register(subparsers)`, which adds its parser and sets `func` (a callable
taking the parsed namespace and returning an exit code). Modules are imported only when their
sub-command list is built, so `liveedit --help` stays quick and a broken optional dependency in one
command does not take the others down.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# Order is the order shown in --help.
COMMAND_MODULES = (
    "serve",     # the live engine
    "generate",  # offline: a dance for a whole song
    "edit",      # offline: one editing iteration on a dance file
    "history",   # offline: list / restore the iterations stored in a dance file
    "export",    # offline: BVH / glTF
    "render",    # offline: mp4 / gif
    "beats",     # the beats the live tracker finds in a song
    "corpus",    # training data: the procedural corpus
    "train",     # training: both stages (same as python training/train.py)
    "eval",      # evaluation tables
    "bench",     # benchmarks: model speed, live engine
)


def optional_module(name: str):
    """Import `name`, or return None when that module itself is not installed (an import error
    inside it still raises, so a broken command is not silently hidden)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return None
        raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="liveedit",
        description="Live music-to-dance engine: dances to music and takes edits in words.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = optional_module(f"liveedit.commands.{name}")
        if module is not None:  # None: command not built in this installation
            module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

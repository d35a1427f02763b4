"""`liveedit bench <target>`: benchmarks on this machine.

Each target is a module `liveedit.bench.<target>` with `add_arguments(parser)` and `run(args) -> int`
(its docstring's first line is the help text): `model` (window compute time of the network) and
`live` (beat tracking, frame jitter, edit latency, clients held), `train` (training steps a second)
and `fuzz` (seeded malformed OSC and WebSocket input against a running engine), `viewer` (the avatar in
headless Chromium: page load, frames drawn a second, foot sliding). A new target needs only its module
and a line in TARGETS.
"""
from __future__ import annotations

from liveedit.cli import optional_module

TARGETS = ("model", "live", "train", "fuzz", "viewer")


def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="benchmarks: model speed, live engine, training speed",
                              description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="target", metavar="TARGET", required=True)
    for name in TARGETS:
        module = optional_module(f"liveedit.bench.{name}")
        if module is None:
            continue  # target not built in this installation
        doc = (module.__doc__ or name).strip().splitlines()[0]
        tp = sub.add_parser(name, help=doc, description=module.__doc__)
        add = getattr(module, "add_arguments", None)
        if add is not None:
            add(tp)
        tp.set_defaults(func=module.run)

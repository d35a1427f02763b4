"""`liveedit history dance.npz [--restore K -o out.npz]`: list or restore a dance's iterations."""
from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "history", help="list a dance file's iterations, or restore one",
        description="List the iterations stored in a dance file (the initial prediction, each edit, each "
                    "restore). With --restore K -o OUT, write a copy whose current dance is iteration K; the "
                    "restore is appended to the history, so nothing is lost.")
    p.add_argument("dance", help="dance file (.npz)")
    p.add_argument("--restore", type=int, metavar="K", default=None, help="iteration to make current again")
    p.add_argument("-o", "--output", default=None, help="file to write with --restore (.npz)")
    p.add_argument("--json", action="store_true", help="print the history as JSON")
    p.add_argument("--force", action="store_true", help="allow -o to be the input file (replaced atomically)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from liveedit.offline.errors import run_command  # noqa: PLC0415

    def body() -> int:
        from dataclasses import asdict  # noqa: PLC0415

        from liveedit.offline import dancefile  # noqa: PLC0415
        from liveedit.offline.errors import OfflineError, check_output_path  # noqa: PLC0415

        if args.restore is not None and not args.output:
            raise OfflineError("--restore needs -o OUT.npz")
        if args.output and args.restore is None:
            raise OfflineError("-o is only used with --restore K")
        dance = dancefile.load(args.dance)
        if args.restore is not None:
            out = check_output_path(args.output, [args.dance], args.force)
            if out.suffix.lower() != ".npz":
                raise OfflineError(f"{out}: dance files end in .npz")
            dance.restore(args.restore)
            dancefile.save(dance, out)
            print(f"wrote {out}: iteration {args.restore} is current again (as iteration {len(dance.history) - 1})")
            return 0
        if args.json:
            print(json.dumps([asdict(it) for it in dance.history], indent=2))
            return 0
        m = dance.meta
        print(f"{args.dance}: {dance.num_frames} frames ({dance.duration:.2f} s), {len(dance.beat_times)} beats, "
              f"song {m.get('song', '?')}, model {m.get('checkpoint', '?')}")
        last = len(dance.history) - 1
        for k, it in enumerate(dance.history):
            mark = "*" if k == last else " "
            print(f"{mark} {k:3d}  {it.created}  {it.describe()}")
        return 0

    return run_command("history", body)

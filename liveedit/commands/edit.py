"""`liveedit edit dance.npz "swing arms wider" -o dance2.npz`: one editing iteration."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "edit", help="edit a dance file with a text prompt (one iteration)",
        description="One editing iteration, as in DanceEditor: the initial prediction stays the reference and "
                    "the current dance is edited, window by window, only inside [--start, --end] with smooth "
                    "cross-fades at the edges. The result is appended to the file's history "
                    "(see `liveedit history`). See docs/offline.md.")
    p.add_argument("dance", help="dance file (.npz) from `liveedit generate` or an earlier edit")
    p.add_argument("prompt", help='what to change, e.g. "swing arms wider"')
    p.add_argument("-o", "--output", required=True, help="dance file to write (.npz)")
    p.add_argument("--start", type=float, default=None, help="span start, seconds (default 0)")
    p.add_argument("--end", type=float, default=None, help="span end, seconds (default: the end)")
    p.add_argument("--strength", type=float, default=2.0, help="edit strength = text guidance (0 = no edit; 2.0)")
    p.add_argument("--blend", type=float, default=0.5, help="cross-fade at each span edge, seconds (0.5)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--steps", type=int, default=10, help="diffusion sampling steps per window (default 10)")
    p.add_argument("--checkpoint", default=None,
                   help="model checkpoint file (default: the one the dance was generated with if it was "
                        "chosen with --checkpoint and is still there, else the shipped one); "
                        "'random' = tiny untrained model")
    p.add_argument("--force", action="store_true", help="allow -o to be the input file (replaced atomically)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from liveedit.offline.errors import run_command  # noqa: PLC0415

    def body() -> int:
        from liveedit.offline import dancefile  # noqa: PLC0415
        from liveedit.offline.edit import check_options, check_prompt, edit_dance, span_frames  # noqa: PLC0415
        from liveedit.offline.errors import OfflineError, check_output_path  # noqa: PLC0415
        from liveedit.offline.generate import load_model  # noqa: PLC0415

        out = check_output_path(args.output, [args.dance], args.force)
        if out.suffix.lower() != ".npz":
            raise OfflineError(f"{out}: dance files end in .npz")
        prompt = check_prompt(args.prompt)  # before the slow model load
        dance = dancefile.load(args.dance)
        span_frames(dance, args.start, args.end)  # validate before the slow model load
        check_options(args.strength, args.steps, args.blend)
        checkpoint = args.checkpoint
        if checkpoint is None:
            made_with = dance.meta.get("checkpoint_file")
            if made_with == "random" or (made_with and Path(made_with).is_file()):
                checkpoint = made_with
                print(f"liveedit edit: using the model the dance was made with: {made_with}", file=sys.stderr)
        model, ckpt = load_model(checkpoint)
        edit_dance(dance, model, prompt, start=args.start, end=args.end, strength=args.strength,
                   steps=args.steps, seed=args.seed, blend=args.blend, progress=not args.quiet)
        dance.meta.setdefault("edit_checkpoints", []).append(ckpt)
        dancefile.save(dance, out)
        it = dance.history[-1]
        print(f"wrote {out}: iteration {len(dance.history) - 1}: {it.describe()}")
        return 0

    return run_command("edit", body)

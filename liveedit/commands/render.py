"""`liveedit render dance.npz --audio SONG -o dance.mp4 [--gif]`."""
from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "render", help="render a dance file to a video with the music (mp4) or a GIF",
        description="Render a stick-figure video of the dance with a floor, beat flashes and a beat strip, "
                    "with the song muxed in (H.264 + AAC). -o x.gif writes only a GIF; --gif writes x.gif "
                    "beside x.mp4. The audio defaults to the song recorded in the dance file.")
    p.add_argument("dance", help="dance file (.npz)")
    p.add_argument("-o", "--output", required=True, help="video to write: .mp4 or .gif")
    p.add_argument("--audio", default=None, help="song to mux in (default: the dance's own song, if present)")
    p.add_argument("--no-audio", action="store_true", help="silent video")
    p.add_argument("--gif", action="store_true", help="also write a GIF beside the mp4")
    p.add_argument("--size", type=int, default=480, help="frame size in pixels (square, default 480)")
    p.add_argument("--style", choices=("stick", "avatar"), default="stick",
                   help="stick: the stick figure (matplotlib); avatar: the viewer's avatar drawn by headless "
                        "Chromium (needs Debian's chromium and pip install playwright)")
    p.add_argument("--avatar", default=None, metavar="FILE",
                   help="with --style avatar: a .vrm (0.x or 1.0) or humanoid .glb to draw instead of the "
                        "built-in avatar")
    p.add_argument("--iteration", type=int, default=None, metavar="K", help="render history iteration K")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    from liveedit.offline.errors import run_command  # noqa: PLC0415

    def body() -> int:
        from liveedit.offline import dancefile  # noqa: PLC0415
        from liveedit.offline.errors import check_output_path  # noqa: PLC0415
        from liveedit.offline.render import render  # noqa: PLC0415

        out = check_output_path(args.output, [args.dance, args.audio], False)
        dance = dancefile.load(args.dance)
        motion = dance.current if args.iteration is None else dance.motion_of(args.iteration)
        audio = None if args.no_audio else args.audio
        if audio is None and not args.no_audio:
            song = dance.meta.get("song")
            if song and Path(song).exists():
                audio = song
            elif out.suffix.lower() != ".gif":
                print(f"liveedit render: note: the dance's song ({song or 'unknown'}) is not here; "
                      "rendering without audio (use --audio SONG)", file=sys.stderr)
        written = render(motion, dance.fps, dance.beat_times, out, audio=audio, gif=args.gif,
                         size=args.size, progress=not args.quiet, style=args.style, avatar=args.avatar)
        print("wrote " + ", ".join(str(p) for p in written))
        return 0

    return run_command("render", body)

"""`liveedit generate SONG -o dance.npz`: a seamless dance for a whole song."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from liveedit.core.scheduler import SchedulerConfig

HOP, CONTEXT = SchedulerConfig.hop, SchedulerConfig.context


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "generate", help="make a dance for a whole song (offline)",
        description="Make a dance for a whole song: wav, mp3, flac, ogg, or MIDI (rendered with the bundled "
                    "General MIDI soundfont). Beats come from a SONG.json sidecar with 'beat_times' when there "
                    "is one, from the MIDI tempo map for MIDI files, otherwise from the live engine's beat "
                    "tracker. The dance is made window by window with the live engine's continuation, so it "
                    "has no seams. See docs/offline.md.")
    p.add_argument("song", help="audio or MIDI file")
    p.add_argument("-o", "--output", required=True, help="dance file to write (.npz)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0); same seed, same dance")
    p.add_argument("--steps", type=int, default=10, help="diffusion sampling steps per window (default 10)")
    p.add_argument("--checkpoint", default=None,
                   help="model checkpoint file (default: the shipped one); 'random' = tiny untrained model")
    p.add_argument("--music-guidance", type=float, default=2.0, help="classifier-free guidance on music (2.0)")
    p.add_argument("--sampler", choices=("dpm2", "ddim"), default="dpm2",
                   help="dpm2: DPM-Solver++(2M) over steps even in log-SNR (default; livelier, closer to the "
                        "data); ddim: plain DDIM over even steps (the sampler before it, for comparison)")
    p.add_argument("--dynamics", type=float, default=1.0, metavar="STRENGTH",
                   help="how far the dance follows the music's energy, calmer in a breakdown and livelier at a "
                        "drop (default 1; 0 = the network's own dynamics; docs/MODEL.md: Dynamics)")
    p.add_argument("--hop", type=int, default=HOP, help=f"frames between windows (default {HOP}, as live)")
    p.add_argument("--context", type=int, default=CONTEXT,
                   help=f"known frames each window continues from (default {CONTEXT}, as live)")
    p.add_argument("--force", action="store_true", help="allow -o to replace the song file's path")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from liveedit.offline.errors import run_command  # noqa: PLC0415

    def body() -> int:
        from liveedit.offline import dancefile  # noqa: PLC0415
        from liveedit.offline.errors import OfflineError, check_output_path  # noqa: PLC0415
        from liveedit.offline.generate import generate_dance, load_model, load_song  # noqa: PLC0415

        out = check_output_path(args.output, [args.song], args.force)
        if out.suffix.lower() != ".npz":
            raise OfflineError(f"{out}: dance files end in .npz")
        if not 1 <= args.context <= 120:
            raise OfflineError(f"--context must be 1..120 frames, got {args.context}")
        if not 1 <= args.hop <= 150 - args.context:
            raise OfflineError(f"--hop must be 1..{150 - args.context} frames with --context {args.context}, got {args.hop}")
        if args.steps < 1:
            raise OfflineError(f"--steps must be at least 1, got {args.steps}")
        if not 0.0 <= args.dynamics <= 2.0:
            raise OfflineError(f"--dynamics must be 0..2, got {args.dynamics}")
        t0 = time.perf_counter()
        song = load_song(args.song)  # bad input fails here, before the slow model load
        model, ckpt = load_model(args.checkpoint)
        if hasattr(model, "generate_sampling"):
            from model.diffusion import SAMPLERS  # noqa: PLC0415

            model.generate_sampling = SAMPLERS[args.sampler]
        if hasattr(model, "dynamics"):
            model.dynamics = args.dynamics
        dance = generate_dance(song, model, ckpt, steps=args.steps, seed=args.seed,
                               music_guidance=args.music_guidance, hop=args.hop, context=args.context,
                               progress=not args.quiet)
        # Remember an explicitly chosen model, so `liveedit edit` uses the same one by default.
        if args.checkpoint is not None:
            dance.meta["checkpoint_file"] = (args.checkpoint if args.checkpoint == "random"
                                             else str(Path(args.checkpoint).resolve()))
        dancefile.save(dance, out)
        dt = time.perf_counter() - t0
        print(f"wrote {out}: {dance.num_frames} frames ({dance.duration:.2f} s at {dance.fps} fps), "
              f"{len(dance.beat_times)} beats ({dance.meta['beat_source']}), model {ckpt}, "
              f"{dt:.1f} s ({dance.duration / max(dt, 1e-9):.1f} s of dance per second)")
        return 0

    return run_command("generate", body)

"""`liveedit beats SONG`: the beats the live engine would find in a song, one a line (or --json).

By default the song goes through the engine's own causal tracker (liveedit.tracker.live_beats): the
onset envelope and beat grid fed 10 ms of audio at a time, beats read off the 30 fps output clock, so
each time is what the engine predicted using only the audio heard before it. `--offline` uses the
whole song at once (librosa's beat tracker), for comparison or for files prepared ahead of a show.

Text output: a comment header, then `time  beat|DOWNBEAT  bpm` per beat. Downbeats are the bar lines
the live tracker finds (liveedit/core/meter.py: 2 (6/8), 3 or 4 beats a bar, and which beat is one, from the
audio heard so far), so the bar length can change while the tracker settles.
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "beats", help="print the beats (and downbeats, tempo) the live engine finds in a song",
        description="Print the beat times the live engine's causal tracker finds in an audio file, as the "
                    "engine would see them live: one beat a line (time in seconds, DOWNBEAT on the bar lines "
                    "it finds, tempo in BPM). --json for tools; --offline to use the whole song at once.")
    p.add_argument("song", help="audio file (.wav, .flac, .ogg; .mp3 and others through ffmpeg when available)")
    p.add_argument("--json", action="store_true", help="print one JSON object (beats, downbeats, tempo) instead")
    p.add_argument("--offline", action="store_true",
                   help="track the whole song at once (librosa beat_track) instead of causally")
    p.add_argument("--aubio", action="store_true",
                   help="feed aubio's causal beats to the grid as hints, as `liveedit serve --aubio` does")
    p.set_defaults(func=run)


def _offline_beats(mono: np.ndarray, rate: int) -> list[dict]:
    import warnings  # noqa: PLC0415

    import librosa  # noqa: PLC0415

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, frames = librosa.beat.beat_track(y=mono, sr=rate, hop_length=512, units="frames")
    times = librosa.frames_to_time(frames, sr=rate, hop_length=512)
    out = []
    for i, t in enumerate(times):
        # tempo at a beat: from the intervals around it
        near = np.diff(times[max(0, i - 2):i + 3])
        bpm = 60.0 / float(np.median(near)) if near.size else 0.0
        out.append({"t": round(float(t), 4), "beat": i, "downbeat": i % 4 == 0, "bpm": round(bpm, 2),
                    "source": "offline"})
    return out


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except BrokenPipeError:   # `liveedit beats song.wav | head`: the reader left, nothing is wrong
        sys.stderr.close()
        return 0


def _run(args: argparse.Namespace) -> int:
    from liveedit.io.audio import AudioSourceError, load_audio_file, resample  # noqa: PLC0415

    def fail(msg: str) -> int:
        print(f"liveedit beats: error: {msg}", file=sys.stderr)
        return 2

    try:
        data, rate = load_audio_file(args.song)
    except AudioSourceError as exc:
        return fail(str(exc))
    if data.size == 0 or rate <= 0:
        return fail(f"{args.song} holds no audio samples")
    mono = data.mean(axis=1).astype(np.float32)
    if not np.all(np.isfinite(mono)):
        return fail(f"{args.song} holds samples that are not finite numbers")
    duration = mono.size / rate
    if args.offline:
        beats = _offline_beats(mono, rate)
        mode = "offline (librosa beat_track, whole song)"
    else:
        from liveedit.tracker import SAMPLE_RATE, live_beats  # noqa: PLC0415

        beats = live_beats(resample(mono, rate), SAMPLE_RATE, use_aubio=args.aubio)
        mode = "causal (the live engine's beat grid" + (", aubio hints)" if args.aubio else ")")
    times = np.asarray([b["t"] for b in beats])
    tempo = 60.0 / float(np.median(np.diff(times))) if times.size > 1 else None
    if args.json:
        print(json.dumps({
            "song": args.song, "mode": "offline" if args.offline else "causal", "duration": round(duration, 4),
            "tempo": None if tempo is None else round(tempo, 2),
            "beats_per_bar": beats[-1].get("beats_per_bar", 4) if beats else 4,
            "first_beat": beats[0]["t"] if beats else None,
            "beats": beats, "downbeats": [b["t"] for b in beats if b["downbeat"]],
        }))
        return 0
    print(f"# {args.song}: {duration:.2f} s, {len(beats)} beats, {mode}")
    if tempo is not None:
        print(f"# median tempo {tempo:.1f} BPM, {beats[-1].get('beats_per_bar', 4)} beats a bar; "
              f"first beat at {beats[0]['t']:.3f} s")
    print("# time_s  beat|DOWNBEAT  bpm")
    for b in beats:
        print(f"{b['t']:.3f}  {'DOWNBEAT' if b['downbeat'] else 'beat'}  {b['bpm']:.1f}")
    if not beats:
        print("liveedit beats: no beat found (too short, or no pulse the tracker could lock to)", file=sys.stderr)
    return 0

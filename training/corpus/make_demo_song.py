"""Recreate the bundled demo song: liveedit/assets/demo.flac, demo.json (exact beats, sections), demo.mid.

    python training/corpus/make_demo_song.py            # writes liveedit/assets/demo.*
    python training/corpus/make_demo_song.py --out DIR  # somewhere else

A 48 s pop song at 120 BPM in 4-bar sections: intro, verse, chorus, drumless breakdown, chorus (the
return), outro; drums, finger bass, electric piano chords, strings and an alto sax melody. It is the
same generator as the training corpus (seed 2, style "pop"), rendered at 22050 Hz rather than the
model's 15360 Hz so it sounds brighter through speakers; everything that analyses it resamples.

After writing, the script checks the audio: peak and RMS level (not clipped, not silent) and the beat
F-measure (mir_eval, 70 ms window) of librosa's offline beat tracker against the exact beats.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from training.corpus.song_render import render_midi  # noqa: E402
from training.corpus.songs import load_song, make_song, save_song  # noqa: E402

DEMO_SEED = 2
DEMO_STYLE = "pop"
DEMO_DURATION = 48.0
DEMO_BPM = 120.0
DEMO_SAMPLE_RATE = 22050
DEMO_PEAK = 0.85
ASSETS = Path(__file__).resolve().parents[2] / "liveedit" / "assets"


def make_demo(out_dir: Path = ASSETS) -> Path:
    """Write demo.flac/.json/.mid into `out_dir`; returns the FLAC path."""
    song = make_song(DEMO_SEED, DEMO_STYLE, duration=DEMO_DURATION, bpm=DEMO_BPM, breakdown=True,
                     tempo_change="none", render=False)
    audio = render_midi(song.midi, DEMO_SAMPLE_RATE, duration=DEMO_DURATION)
    fade = int(0.5 * DEMO_SAMPLE_RATE)  # a gentle end rather than a cut
    audio[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    audio *= DEMO_PEAK / float(np.max(np.abs(audio)))
    song.audio, song.sample_rate, song.song_id = audio.astype(np.float32), DEMO_SAMPLE_RATE, "demo"
    song.meta["made_by"] = "training/corpus/make_demo_song.py"
    save_song(song, out_dir)
    return Path(out_dir) / "demo.flac"


def check_demo(out_dir: Path = ASSETS) -> dict:
    """Level and beat-tracking checks on the written demo."""
    import librosa  # noqa: PLC0415
    import mir_eval  # noqa: PLC0415

    song = load_song(out_dir, "demo")
    y = song.audio
    _, tracked = librosa.beat.beat_track(y=y, sr=song.sample_rate, hop_length=512, units="time")
    ref = mir_eval.beat.trim_beats(song.beat_times)
    f = mir_eval.beat.f_measure(ref, mir_eval.beat.trim_beats(np.asarray(tracked)))
    return {
        "duration_s": round(song.duration, 3), "sample_rate": song.sample_rate,
        "peak": round(float(np.max(np.abs(y))), 3),
        "rms_dbfs": round(20 * np.log10(float(np.sqrt(np.mean(y.astype(np.float64) ** 2)))), 1),
        "clipped_samples": int(np.sum(np.abs(y) >= 0.999)),
        "beats": len(song.beat_times), "librosa_beat_f_measure": round(float(f), 3),
        "sections": [s["kind"] for s in song.sections],
        "flac_bytes": (Path(out_dir) / "demo.flac").stat().st_size,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ASSETS, help="output folder (default liveedit/assets)")
    ap.add_argument("--no-check", action="store_true", help="skip the beat-tracking check")
    args = ap.parse_args(argv)
    path = make_demo(args.out)
    print(f"wrote {path}")
    if not args.no_check:
        for k, v in check_demo(args.out).items():
            print(f"  {k}: {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

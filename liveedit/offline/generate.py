"""Song -> dance: `liveedit generate SONG -o dance.npz`.

A song of any length (wav, mp3, flac, ogg, or a MIDI file rendered with FluidSynth and the General
MIDI soundfont bundled in pretty_midi) is read at 15360 Hz, its beats are found (exact beats from a
`.json` sidecar or the MIDI file's tempo map when there is one, otherwise the live engine's beat
tracker), its 35-d features computed by `model.music`, and the dance made window by window by
continuation (see `rolling`), so the whole song is one seamless dance.
"""
from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from liveedit.offline import rolling
from liveedit.offline.dancefile import Dance
from liveedit.offline.errors import OfflineError
from model.motion import FPS
from model.music import import_pretty_midi

SAMPLE_RATE = 15360  # model.music works at 15360 Hz, hop 512 -> exactly 30 feature frames a second
MIDI_SUFFIXES = {".mid", ".midi", ".kar"}
RANDOM_CHECKPOINT = "random"  # --checkpoint random: the tiny randomly initialised model (development)


@dataclass
class Song:
    path: Path
    audio: np.ndarray        # (N,) float32 mono at SAMPLE_RATE
    beat_times: np.ndarray   # (B,) seconds
    beat_source: str         # "sidecar" | "midi" | "tracker"
    sha256: str

    @property
    def duration(self) -> float:
        return len(self.audio) / SAMPLE_RATE


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _render_midi(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """MIDI file -> (audio at SAMPLE_RATE, exact beat times from its tempo map)."""
    pretty_midi = import_pretty_midi()

    try:
        pm = pretty_midi.PrettyMIDI(str(path))
    except Exception as exc:  # pretty_midi raises many types (OSError, ValueError, mido errors...)
        raise OfflineError(f"{path}: not a readable MIDI file ({exc})") from exc
    if pm.get_end_time() <= 0:
        raise OfflineError(f"{path}: the MIDI file has no notes")
    try:
        audio = pm.fluidsynth(fs=SAMPLE_RATE)  # bundled TimGM6mb soundfont; output peak-normalised
    except Exception as exc:
        raise OfflineError(f"{path}: rendering MIDI with FluidSynth failed ({exc}); is libfluidsynth3 installed?") from exc
    return np.asarray(audio, np.float32), np.asarray(pm.get_beats(), np.float64)


def _load_audio(path: Path) -> np.ndarray:
    from model.music import load_audio  # noqa: PLC0415

    try:
        audio = np.asarray(load_audio(str(path)), np.float32)
    except (ValueError, FileNotFoundError) as exc:  # load_audio's own messages name the file already
        raise OfflineError(str(exc)) from exc
    except Exception as exc:  # soundfile / audioread / librosa errors all mean "cannot read this"
        raise OfflineError(f"{path}: cannot read audio ({type(exc).__name__}: {exc})") from exc
    if audio.ndim != 1 or len(audio) == 0:
        raise OfflineError(f"{path}: no audio samples in the file")
    return audio


def _sidecar_beats(path: Path) -> np.ndarray | None:
    """Exact beats from `song.json` or `song.wav.json` (`{"beat_times": [...]}`), if present."""
    for side in (path.with_suffix(".json"), path.with_name(path.name + ".json")):
        if side.exists():
            try:
                beats = json.loads(side.read_text())["beat_times"]
                return np.asarray(beats, np.float64).reshape(-1)
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise OfflineError(f"{side}: beat sidecar is not JSON with a 'beat_times' list ({exc})") from exc
    return None


def track_beats(audio: np.ndarray) -> np.ndarray:
    """Beat times (s) of mono audio at SAMPLE_RATE, by the live engine's causal beat grid."""
    from liveedit.core.beats import track_beats as engine_track_beats  # noqa: PLC0415

    return np.asarray(engine_track_beats(audio), np.float64)


def load_song(path: str | Path) -> Song:
    """Read a song file, with its beats; OfflineError for anything unreadable."""
    path = Path(path)
    if not path.exists():
        raise OfflineError(f"{path}: no such file")
    if path.is_dir():
        raise OfflineError(f"{path}: is a folder, not a song file")
    beats = _sidecar_beats(path)
    source = "sidecar"
    if path.suffix.lower() in MIDI_SUFFIXES:
        audio, midi_beats = _render_midi(path)
        if beats is None:
            beats, source = midi_beats, "midi"
    else:
        audio = _load_audio(path)
    if len(audio) < SAMPLE_RATE // FPS * 2:
        raise OfflineError(f"{path}: the song is too short ({len(audio) / SAMPLE_RATE:.3f} s)")
    if beats is None:
        beats, source = track_beats(audio), "tracker"
    duration = len(audio) / SAMPLE_RATE
    beats = np.sort(beats[(beats >= 0) & (beats < duration)])
    return Song(path=path, audio=audio, beat_times=beats, beat_source=source, sha256=file_sha256(path))


def music_features(song: Song) -> np.ndarray:
    """(T, 35) features at 30 fps, from the one extractor shared with training and the live engine."""
    from model.music import extract_features  # noqa: PLC0415

    feats = np.asarray(extract_features(song.audio, song.beat_times), np.float32)
    if feats.ndim != 2 or feats.shape[1] != 35 or len(feats) == 0:
        raise RuntimeError(f"model.music.extract_features returned {feats.shape}, expected (T, 35)")
    return feats


def load_model(checkpoint: str | None) -> tuple[Any, str]:
    """The dance model and an id for the file's metadata.

    checkpoint None: the shipped default, or, if none ships, the tiny random model with a loud
    notice. "random": the tiny random model on purpose. Anything else: that checkpoint file.
    """
    try:  # torch and the network: imported only when a command needs the model
        from model.pipeline import DEFAULT_CHECKPOINT, CheckpointError, DanceModel  # noqa: PLC0415
    except ImportError as exc:
        raise OfflineError(f"the dance model cannot be imported ({exc})") from exc

    if checkpoint == RANDOM_CHECKPOINT:
        return DanceModel.tiny_random(seed=0), "tiny-random(seed=0)"
    path = Path(checkpoint) if checkpoint is not None else Path(DEFAULT_CHECKPOINT)
    if checkpoint is not None and not path.is_file():
        raise OfflineError(f"{checkpoint}: no such checkpoint file")
    try:
        model = DanceModel.load(checkpoint)
    except FileNotFoundError:
        if checkpoint is not None:
            raise OfflineError(f"{checkpoint}: no such checkpoint file") from None
        bar = "!" * 78
        print(f"{bar}\n! NOTICE: no trained checkpoint ships with this installation ({path});\n"
              f"! using a tiny RANDOMLY INITIALISED model: the dance will not be meaningful.\n"
              f"! Train one with `python training/train.py`, or pass --checkpoint FILE.\n{bar}", file=sys.stderr)
        return DanceModel.tiny_random(seed=0), "tiny-random(seed=0) (no checkpoint shipped)"
    except (CheckpointError, OSError, ValueError, KeyError, RuntimeError) as exc:
        raise OfflineError(f"{path}: cannot load checkpoint ({exc})") from exc
    return model, f"{path.name} sha256:{file_sha256(path)[:16]}"


def generate_motion(model: Any, music: np.ndarray, beat_times: np.ndarray, *, steps: int = 10,
                    seed: int | None = 0, music_guidance: float = 2.0, hop: int = rolling.HOP,
                    context: int = rolling.CONTEXT, live_lead: int | None = None,
                    late_energy: bool = True, progress: bool = True) -> np.ndarray:
    """A seamless dance (T, 151) for music features (T, 35), window by window by continuation.

    live_lead: None (offline: every window hears the real music of all its frames), or the frames
    between the audio heard and the end of a window's known frames, as `liveedit serve` has them:
    each window then hears the music only up to `cursor - live_lead` and gets the rest extrapolated
    from the beats heard so far (`rolling.live_music`), exactly what the live engine feeds the model.
    late_energy: live only, each frame's energy is corrected when it is played by the music heard
    by then, as `liveedit serve` does (`late_energy_pass`; needs a model with an energy envelope).
    """
    window = int(getattr(model, "window", rolling.WINDOW))
    T = len(music)
    plan = rolling.plan(0, T, rolling.beat_frames(beat_times, FPS), window=window, hop=hop, context=context)
    total = plan[-1].end  # the last window may run past the song: extrapolated music, cut after
    music_ext = rolling.extend_music(music, total, beat_times, FPS)  # (total, 35)
    buffer = np.zeros((total, 151), np.float32)
    envelope = getattr(model, "energy", None) if float(getattr(model, "dynamics", 0.0) or 0.0) > 0 else None
    late = live_lead is not None and late_energy and envelope is not None
    expected_then = np.zeros(total)   # (total,) per frame: the speed its window's energy gain aimed at
    if late:
        from model.dynamics import expected_speed  # noqa: PLC0415

    def step(start: int, mus: np.ndarray, known: np.ndarray, mask: np.ndarray) -> np.ndarray:
        # A distinct, reproducible seed per window (same seed + same song = same dance).
        win_seed = None if seed is None else (seed * 100003 + start) % 2**31
        if live_lead is not None:
            heard_end = max(0, start + int(mask.sum()) - live_lead)
            mus = rolling.live_music(music, beat_times, heard_end, start, window, FPS)
        if late:   # the window's new frames replace the earlier ones from its cursor on
            cursor = start + int(mask.sum())
            expected_then[cursor:start + window] = expected_speed(envelope, mus)[cursor - start:]
        return np.asarray(model.generate(mus, known=known if mask.any() else None,
                                         known_mask=mask if mask.any() else None, steps=steps,
                                         music_guidance=music_guidance, seed=win_seed), np.float32)

    rolling.run(step, music_ext, buffer, plan, desc="generate", progress=progress)
    if late:
        buffer[:T] = late_energy_pass(buffer[:T], music, beat_times, expected_then[:T], envelope)
    return buffer[:T]


def late_energy_pass(dance: np.ndarray, music: np.ndarray, beat_times: np.ndarray, expected_then: np.ndarray,
                     envelope: Any) -> np.ndarray:
    """What `liveedit serve` does to each frame as it plays it (model.dynamics.LateEnergy): its
    energy corrected from what its window heard to what has been heard by its play time, with the
    audio heard up to the playhead. dance: (T, 151) as committed, music: (T, 35) the song's
    features, expected_then: (T,) the speed each frame's window aimed at. -> (T, 151)

    The correction is applied to the committed dance in one go; live, each frame is scaled about
    the frames committed at the time it is played (the same but for later windows' cross-fades in
    the next 0.8 s)."""
    from model.dynamics import LATE_EVERY, LateEnergy, scale_quick_motion  # noqa: PLC0415

    T = len(dance)
    beats = np.sort(np.asarray(beat_times, np.float64)) * FPS   # beat frames
    follower = LateEnergy(envelope)
    gains = np.ones(T)
    for f in range(T):
        if f % LATE_EVERY == 0 and f > 0:
            heard = beats[beats < f]
            period = float(np.median(np.diff(heard[-8:]))) if len(heard) >= 3 else None
            follower.hear(music[:f], period)
        gains[f] = follower.gain(float(expected_then[f]) if expected_then[f] > 0 else None)
    return scale_quick_motion(dance, gains)


def generate_dance(song: str | Path | Song, model: Any, checkpoint_id: str, *, steps: int = 10,
                   seed: int | None = 0, music_guidance: float = 2.0, hop: int = rolling.HOP,
                   context: int = rolling.CONTEXT, progress: bool = True) -> Dance:
    """Make the dance for a song (a path, or a Song from `load_song`); returns it, not yet saved."""
    if steps < 1:
        raise OfflineError(f"--steps must be at least 1, got {steps}")
    if not isinstance(song, Song):
        song = load_song(song)
    from model.pipeline import describe_sampling  # noqa: PLC0415

    music = music_features(song)
    motion = generate_motion(model, music, song.beat_times, steps=steps, seed=seed,
                             music_guidance=music_guidance, hop=hop, context=context, progress=progress)
    meta = {
        "song": str(song.path.resolve()),
        "song_sha256": song.sha256,
        "song_duration": song.duration,
        "beat_source": song.beat_source,
        "checkpoint": checkpoint_id,
        "seed": seed,
        "steps": steps,
        "music_guidance": music_guidance,
        "sampler": describe_sampling(model),
        "dynamics": float(getattr(model, "dynamics", 0.0)) if getattr(model, "energy", None) is not None else 0.0,
        "hop": hop,
        "context": context,
    }
    return Dance.new(motion, song.beat_times, music, meta, seed=seed, steps=steps)

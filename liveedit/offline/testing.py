"""Test doubles for the offline workflow: a fake model and synthetic songs.

`FakeDanceModel` is a deterministic stand-in with DanceModel's generate/edit signatures; it is not
a dance model. It makes smooth motion (joint rotations swaying at a tempo set by the music's
beat channel) that continues exactly from the last known frame, and starts from a seed-dependent random
pose when there are no known frames. So code that forgets to pass known frames makes visible jumps
at window seams, which is what the offline tests look for. `edit` adds a prompt-dependent offset,
scaled by `text_guidance`, to the current dance.
"""
from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np

from model.music import import_pretty_midi
from model.skeleton import STANDING_PELVIS_HEIGHT

IDENTITY_6D = np.array([1, 0, 0, 0, 1, 0], np.float32)


class FakeDanceModel:
    window = 150

    def __init__(self, amplitude: float = 0.08):
        self.amplitude = amplitude
        self.calls: list[dict] = []

    def _pattern(self, music: np.ndarray, t0: int) -> np.ndarray:
        """(150, 151) smooth offsets: every channel sways at a tempo set by the window's beat count."""
        n = len(music)
        t = np.arange(n, dtype=np.float64) + t0
        beats_per_s = float(np.sum(music[:, -1])) / (n / 30.0)
        freq = 0.5 * max(beats_per_s, 1.0)  # one sway every two beats
        phase = 2 * np.pi * freq * t / 30.0
        ch = np.arange(151)
        out = self.amplitude * np.sin(phase[:, None] + 0.37 * ch[None, :])
        out[:, 0:4] = 0.0
        out[:, 4:7] *= 0.5
        return out

    def generate(self, music, known=None, known_mask=None, steps=10, music_guidance=2.0, seed=None):
        music = np.asarray(music, np.float32)
        assert music.shape == (150, 35), music.shape
        self.calls.append({"op": "generate", "known": None if known_mask is None else int(np.sum(known_mask)),
                           "steps": steps, "seed": seed})
        pattern = self._pattern(music, 0)
        if known_mask is not None and np.any(known_mask):
            last = int(np.flatnonzero(known_mask)[-1])
            base = np.asarray(known, np.float64)[last] - pattern[last]
        else:
            rng = np.random.default_rng(seed)
            base = np.zeros(151)
            base[7:] = np.tile(IDENTITY_6D, 24) + rng.normal(0.0, 0.3, 144)
            base[4:7] = [rng.normal(0, 0.5), STANDING_PELVIS_HEIGHT, rng.normal(0, 0.5)]
        out = (base[None, :] + pattern).astype(np.float32)
        out[:, 0:4] = 1.0
        if known_mask is not None:
            m = np.asarray(known_mask, bool)
            out[m] = np.asarray(known, np.float32)[m]
        return out

    def edit(self, music, initial, current, prompt, known=None, known_mask=None, steps=10,
             text_guidance=2.0, seed=None):
        assert np.shape(initial) == (150, 151) and np.shape(current) == (150, 151)
        if not prompt:
            raise ValueError("empty prompt")
        self.calls.append({"op": "edit", "prompt": prompt, "known": None if known_mask is None else int(np.sum(known_mask)),
                           "steps": steps, "seed": seed, "strength": text_guidance})
        rng = np.random.default_rng(zlib.crc32(prompt.encode()))
        delta = np.zeros(151)
        delta[7 + 6 * 16: 7 + 6 * 22] = rng.normal(0.0, 0.1, 36)  # shoulders, elbows, wrists
        out = (np.asarray(current, np.float64) + text_guidance * delta[None, :]).astype(np.float32)
        if known_mask is not None:
            m = np.asarray(known_mask, bool)
            out[m] = np.asarray(known, np.float32)[m]
        return out


def write_test_song(path: str | Path, seconds: float = 4.0, bpm: float = 120.0, sidecar: bool = True,
                    sample_rate: int = 22050) -> np.ndarray:
    """A WAV with a kick drum on every beat over a soft tone; returns the beat times.

    With `sidecar`, also writes `<stem>.json` with the exact `beat_times`, as the corpus does.
    """
    import soundfile as sf  # noqa: PLC0415

    path = Path(path)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    beats = np.arange(0.0, seconds, 60.0 / bpm)
    audio = 0.1 * np.sin(2 * np.pi * 440.0 * t)
    n = int(0.15 * sample_rate)
    kick = 0.6 * np.sin(2 * np.pi * 60.0 * t[:n]) * np.exp(-t[:n] * 30.0)
    for b in beats:
        i = int(b * sample_rate)
        m = min(n, len(audio) - i)
        audio[i:i + m] += kick[:m]
    sf.write(str(path), audio.astype(np.float32), sample_rate)
    if sidecar:
        path.with_suffix(".json").write_text(json.dumps({"beat_times": beats.tolist()}))
    return beats


def write_test_midi(path: str | Path, seconds: float = 4.0, bpm: float = 120.0) -> None:
    """A MIDI file with a drum kick on every beat and a held piano chord."""
    pretty_midi = import_pretty_midi()

    pm = pretty_midi.PrettyMIDI(initial_tempo=bpm)
    drums = pretty_midi.Instrument(0, is_drum=True)
    piano = pretty_midi.Instrument(0)
    for b in np.arange(0.0, seconds, 60.0 / bpm):
        drums.notes.append(pretty_midi.Note(110, 36, float(b), float(b) + 0.1))
    for pitch in (60, 64, 67):
        piano.notes.append(pretty_midi.Note(70, pitch, 0.0, seconds))
    pm.instruments += [drums, piano]
    pm.write(str(path))

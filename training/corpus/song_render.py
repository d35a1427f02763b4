"""Render a `pretty_midi.PrettyMIDI` to mono audio with FluidSynth and a General MIDI soundfont.

The soundfont is TimGM6mb.sf2, the one that ships inside the `pretty_midi` package (Tim Brechbill 2004,
later work by David Bolton; GPL-2; Debian packages it as timgm6mb-soundfont). liveedit does not
vendor it: it is read from the installed pretty_midi. Any other GM .sf2 (e.g. Debian's
fluid-soundfont-gm, /usr/share/sounds/sf2/FluidR3_GM.sf2) can be passed instead.

Why not `PrettyMIDI.fluidsynth()` itself: it renders every instrument in a separate pass over the whole
song on one MIDI channel, keeps only the left channel and has no per-part mix. Here all parts play
at once on their own channels (drums on channel 10) in a single pass, with per-part volume and reverb
sends, and the stereo output is downmixed. Same synthesiser, same soundfont, fewer passes.

The synthesiser runs at twice the target rate and a polyphase low-pass filter brings it down, so the
hi-hats do not alias (FluidSynth's sample interpolation has no anti-alias filter of its own).
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from model.music import import_fluidsynth, import_pretty_midi

SOUNDFONT_NAME = "TimGM6mb.sf2"
SOUNDFONT_LICENCE = "GPL-2 (TimGM6mb by Tim Brechbill and David Bolton, as shipped in pretty_midi)"
DRUM_CHANNEL = 9
MAX_CHANNELS = 16


@lru_cache(maxsize=1)
def default_soundfont() -> Path:
    """Path of the GM soundfont bundled inside `pretty_midi`."""
    pretty_midi = import_pretty_midi()

    path = Path(os.path.dirname(pretty_midi.__file__)) / SOUNDFONT_NAME
    if not path.exists():
        raise FileNotFoundError(f"the soundfont {path} that pretty_midi ships is missing; reinstall pretty_midi")
    return path


def _channel_plan(instruments) -> list[int]:
    """MIDI channel for each instrument: drums share channel 10, the others get 0..15 minus 9."""
    free = [c for c in range(MAX_CHANNELS) if c != DRUM_CHANNEL]
    plan = []
    for inst in instruments:
        if inst.is_drum:
            plan.append(DRUM_CHANNEL)
        elif free:
            plan.append(free.pop(0))
        else:
            raise ValueError(f"more than {MAX_CHANNELS - 1} melodic instruments; cannot give each a MIDI channel")
    return plan


def render_midi(pm, sample_rate: int, duration: float | None = None, soundfont: str | Path | None = None,
                oversample: int = 2, gain: float = 0.25) -> np.ndarray:
    """Synthesise `pm` to float32 mono at `sample_rate`, `duration` seconds long (default: to the end).

    Returns the raw synthesiser level (not normalised); values stay well inside [-1, 1] at the default
    gain for a handful of parts.
    """
    fluidsynth = import_fluidsynth()

    render_sr = int(sample_rate * oversample)
    if duration is None:
        duration = pm.get_end_time() + 1.0
    n_total = int(round(duration * render_sr))
    sf_path = str(soundfont or default_soundfont())

    # Events as (sample, order, callable-args); note-offs sort before note-ons at the same sample so a
    # repeated pitch is re-struck rather than cut.
    channels = _channel_plan(pm.instruments)
    events: list[tuple[int, int, str, int, int, int]] = []
    for inst, ch in zip(pm.instruments, channels):
        for cc in inst.control_changes:
            events.append((int(round(cc.time * render_sr)), 0, "cc", ch, cc.number, cc.value))
        for note in inst.notes:
            start = int(round(note.start * render_sr))
            if start >= n_total:
                continue
            events.append((start, 2, "on", ch, note.pitch, note.velocity))
            events.append((int(round(note.end * render_sr)), 1, "off", ch, note.pitch, 0))
    events.sort()

    # Chorus off: it costs about a third of the synthesis time and adds little at this sample rate.
    synth = fluidsynth.Synth(gain=gain, samplerate=float(render_sr), **{"synth.chorus.active": 0})
    try:
        sfid = synth.sfload(sf_path)
        if sfid < 0:
            raise RuntimeError(f"FluidSynth could not load the soundfont {sf_path}")
        for inst, ch in zip(pm.instruments, channels):
            if inst.is_drum:
                if synth.program_select(ch, sfid, 128, inst.program) == -1:
                    synth.program_select(ch, sfid, 128, 0)
            else:
                synth.program_select(ch, sfid, 0, inst.program)
        out = np.zeros((n_total, 2), dtype=np.float32)
        pos = 0
        for sample, _, kind, ch, a, b in events:
            sample = min(sample, n_total)
            if sample > pos:
                out[pos:sample] = synth.get_samples(sample - pos).reshape(-1, 2)
                pos = sample
            if kind == "on":
                synth.noteon(ch, a, b)
            elif kind == "off":
                synth.noteoff(ch, a)
            else:
                synth.cc(ch, a, b)
        if pos < n_total:
            out[pos:] = synth.get_samples(n_total - pos).reshape(-1, 2)
    finally:
        synth.delete()

    mono = out.mean(axis=1) / 32768.0  # (n_total,)
    if oversample != 1:
        from scipy.signal import resample_poly  # noqa: PLC0415

        mono = resample_poly(mono, 1, oversample)
    n_out = int(round(duration * sample_rate))
    mono = np.asarray(mono[:n_out], dtype=np.float32)
    if len(mono) < n_out:
        mono = np.pad(mono, (0, n_out - len(mono)))
    return mono

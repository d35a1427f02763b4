"""Procedural songs with exact beats: a style grammar writes MIDI, FluidSynth renders it.

    song = make_song(seed=7, style="funk", duration=30.0)
    song.audio          # float32 mono at 15360 Hz
    song.beat_times     # every beat, seconds, exact (from the tempo map the MIDI was written with)
    save_song(song, Path("out"))   # out/<id>.flac + out/<id>.json + out/<id>.mid

A song is a sequence of sections (intro, verse, chorus, breakdown, bridge, outro) of 2, 4 or 8 bars in
4/4. Each section has an energy in [0, 1] that decides which drum layers and parts play and how hard;
breakdowns have no drums. Some songs change tempo (a jump at a section boundary or a ramp over one
section); the tempo map is stored in the MIDI file and the beats follow it exactly.

Exactness: every beat lasts a whole number of microseconds, because a MIDI tempo event stores
microseconds per quarter note as an integer. Beat i starts at sum(period_us[:i]) / 1e6, and the
MIDI file written by `save_song` reproduces these times (pretty_midi's get_beats agrees to < 1 us).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from model.music import SAMPLE_RATE, import_pretty_midi
from training.corpus.song_render import SOUNDFONT_LICENCE, SOUNDFONT_NAME, render_midi
from training.corpus.song_styles import (
    BPM_MAX, BPM_MIN, CRASH, KICK, SCALES, SNARE, STYLE_SPECS, STYLES, StyleSpec,
)


__all__ = ["Song", "make_song", "save_song", "load_song", "STYLES", "SAMPLE_RATE", "SECTION_KINDS"]

MIDI_RESOLUTION = 480          # ticks per quarter note
STEPS_PER_BAR = 16             # 16th-note grid
FORMAT_VERSION = 1
EXPLICIT_BPM_RANGE = (40.0, 240.0)

SECTION_ENERGY: dict[str, tuple[float, float]] = {
    "intro": (0.25, 0.4), "verse": (0.45, 0.65), "chorus": (0.8, 1.0),
    "breakdown": (0.1, 0.3), "bridge": (0.4, 0.6), "outro": (0.3, 0.45),
}
SECTION_KINDS: tuple[str, ...] = tuple(SECTION_ENERGY)

# Which parts play in which section ("maybe" is decided once per song).
ROLE_ON: dict[str, dict[str, bool | str]] = {
    "intro": {"bass": False, "comp": True, "pad": True, "lead": False},
    "verse": {"bass": True, "comp": True, "pad": False, "lead": "maybe"},
    "chorus": {"bass": True, "comp": True, "pad": True, "lead": True},
    "breakdown": {"bass": "maybe", "comp": False, "pad": True, "lead": True},
    "bridge": {"bass": True, "comp": False, "pad": True, "lead": False},
    "outro": {"bass": True, "comp": True, "pad": False, "lead": False},
}
DRUM_CHAR_LEVEL = {"X": 1.0, "x": 0.8, "o": 0.45}


@dataclass
class Song:
    song_id: str
    style: str
    audio: np.ndarray            # (n,) float32 mono at sample_rate
    sample_rate: int
    beat_times: np.ndarray       # (B,) seconds, every beat inside the song
    downbeat_times: np.ndarray   # (D,) seconds, bar starts
    bpm: float                   # tempo of the first beat
    sections: list[dict]         # start, end, kind, energy, has_drums (+ bars)
    midi: "object | None" = None  # pretty_midi.PrettyMIDI
    meta: dict = field(default_factory=dict)  # key, mode, programs, tempo map, seed ...

    @property
    def duration(self) -> float:
        return len(self.audio) / float(self.sample_rate)


# ----------------------------------------------------------------------------------------- tempo map

class TempoMap:
    """Per-beat periods in whole microseconds; time is linear inside a beat (as in a MIDI file)."""

    def __init__(self, periods_us: np.ndarray):
        self.periods_us = np.asarray(periods_us, dtype=np.int64)                    # (B,)
        self.starts = np.concatenate([[0], np.cumsum(self.periods_us)]) / 1e6       # (B+1,) seconds

    def time_at(self, beat: float) -> float:
        """Seconds at a (fractional) beat position."""
        i = min(int(math.floor(beat)), len(self.periods_us) - 1)
        return float(self.starts[i] + (beat - i) * self.periods_us[i] / 1e6)

    def bpm_at_beat(self, i: int) -> float:
        return 60e6 / float(self.periods_us[i])


def _period_us(bpm: float) -> int:
    return int(round(60e6 / bpm))


def _plan_tempo(rng: np.random.Generator, bpm0: float, n_beats: int, change: str, change_beat: int,
                ramp_beats: int) -> TempoMap:
    p0 = _period_us(bpm0)
    if change == "none":
        return TempoMap(np.full(n_beats, p0))
    factor = float(rng.choice([0.85, 0.9, 1.1, 1.18]))
    target = bpm0 * factor
    if not BPM_MIN <= target <= BPM_MAX:
        target = bpm0 / factor
    bpms = np.full(n_beats, bpm0)
    idx = np.arange(n_beats)
    if change == "jump":
        bpms[idx >= change_beat] = target
    else:  # ramp: linear in bpm over ramp_beats beats, then hold
        frac = np.clip((idx - change_beat + 1) / ramp_beats, 0.0, 1.0)
        bpms = bpm0 + (target - bpm0) * frac
    return TempoMap(np.array([_period_us(b) for b in bpms]))


# ----------------------------------------------------------------------------------------- structure

def _plan_kinds(n_sections: int, breakdown: bool) -> list[str]:
    if n_sections == 1:
        return ["chorus"]
    if n_sections == 2:
        return ["chorus", "breakdown"] if breakdown else ["verse", "chorus"]
    kinds = ["intro"] if n_sections >= 5 else []
    outro = n_sections >= 6
    n_body = n_sections - len(kinds) - int(outro)
    body = [("verse", "chorus")[i % 2] for i in range(n_body)]
    if n_body >= 6:
        body[n_body - 2] = "bridge" if body[n_body - 2] == "verse" else body[n_body - 2]
    if breakdown:
        # A drumless breakdown near the middle, then the chorus comes back.
        b = min(max(1, n_body // 2), n_body - 2) if n_body >= 3 else n_body - 1
        body[b] = "breakdown"
        if b + 1 < n_body:
            body[b + 1] = "chorus"
    kinds += body
    if outro:
        kinds.append("outro")
    return kinds


# ----------------------------------------------------------------------------------------- harmony

class Harmony:
    def __init__(self, key: int, mode: str, sevenths: bool):
        self.key, self.mode, self.sevenths = key, mode, sevenths
        self.scale = SCALES[mode]

    def degree_pc(self, degree: int) -> int:
        return (self.key + self.scale[degree % 7]) % 12

    def degree_pitch(self, degree: int, base: int = 60) -> int:
        """Pitch of a scale degree (any integer) counted from the tonic in the octave of `base`."""
        return base + self.key + 12 * (degree // 7) + self.scale[degree % 7]

    def chord_pcs(self, root_degree: int) -> list[int]:
        degs = [root_degree, root_degree + 2, root_degree + 4] + ([root_degree + 6] if self.sevenths else [])
        return [self.degree_pc(d) for d in degs]


def _place(pc: int, low: int) -> int:
    """Lowest pitch >= low with pitch class pc."""
    return low + (pc - low) % 12


# ----------------------------------------------------------------------------------------- composer

class _Composer:
    """Writes the notes of one song into pretty_midi instruments."""

    def __init__(self, rng: np.random.Generator, spec: StyleSpec, tempo: TempoMap, harmony: Harmony):
        pretty_midi = import_pretty_midi()

        self.pm_mod = pretty_midi
        self.rng, self.spec, self.tempo, self.h = rng, spec, tempo, harmony
        self.parts: dict[str, object] = {}

    def part(self, role: str, program: int, is_drum: bool = False):
        inst = self.pm_mod.Instrument(program=program, is_drum=is_drum, name=role)
        self.parts[role] = inst
        return inst

    def t(self, bar: int, step: float, swing: bool = True) -> float:
        """Seconds at a 16th step of a bar; odd 16ths are delayed by the style's swing."""
        if swing and self.spec.swing and int(step) % 2 == 1 and step == int(step):
            step = step + self.spec.swing
        return self.tempo.time_at(bar * 4 + step / 4.0)

    def vel(self, level: float) -> int:
        return int(np.clip(round(level * 127 + self.rng.normal(0, 4)), 1, 127))

    def note(self, role: str, pitch: int, start: float, end: float, velocity: int) -> None:
        if end - start < 0.01:
            end = start + 0.01
        self.parts[role].notes.append(self.pm_mod.Note(velocity=velocity, pitch=int(pitch), start=start, end=end))

    @staticmethod
    def _hit_lengths(pattern: str, gate: float) -> list[tuple[int, float]]:
        """(step, length in steps) of every onset in a bar pattern; '-' extends the previous note."""
        out = []
        n = len(pattern)
        for i, c in enumerate(pattern):
            if c in ".-":
                continue
            j = i + 1
            while j < n and pattern[j] == "-":
                j += 1
            if j > i + 1:
                length = float(j - i)  # held: exact
            else:
                k = j
                while k < n and pattern[k] == ".":
                    k += 1
                length = max(1.0, float(k - i)) * gate
            out.append((i, length))
        return out


def _lead_motif(rng: np.random.Generator, spec: StyleSpec, density: float) -> list[tuple[int, int, int]]:
    """Two bars of melody: (slot, length in slots, scale-degree offset from the chord root)."""
    n_slots = 32 // spec.lead_step
    slots_per_beat = max(1, 4 // spec.lead_step)
    onsets = [0]
    for s in range(1, n_slots - 1):
        on_beat = s % slots_per_beat == 0
        if rng.random() < (min(0.9, density + 0.3) if on_beat else density):
            onsets.append(s)
    motif = []
    prev = int(rng.choice([0, 2, 4]))
    for k, s in enumerate(onsets):
        nxt = onsets[k + 1] if k + 1 < len(onsets) else n_slots
        length = min(nxt - s, 2 * slots_per_beat + 1)
        if s % slots_per_beat == 0:
            # chord tones on the beat, moving to the nearest one more often than leaping
            cands = np.array([0, 2, 4, 7, -3])
            w = 1.0 / (1.0 + np.abs(cands - prev))
            deg = int(rng.choice(cands, p=w / w.sum()))
        else:
            deg = prev + int(rng.choice([-2, -1, 1, 2]))
        deg = int(np.clip(deg, -3, 9))
        motif.append((s, length, deg))
        prev = deg
    return motif


def _compose(rng: np.random.Generator, spec: StyleSpec, tempo: TempoMap,
             sections: list[dict], section_bars_idx: list[tuple[int, int]]):
    """Fill a PrettyMIDI with drums, bass, comping, pad and lead for the given sections."""
    pretty_midi = import_pretty_midi()

    h = Harmony(int(rng.integers(12)), str(rng.choice(spec.modes)), spec.sevenths)
    c = _Composer(rng, spec, tempo, h)
    programs = {
        "bass": int(rng.choice(spec.bass_programs)), "comp": int(rng.choice(spec.comp_programs)),
        "pad": int(rng.choice(spec.pad_programs)), "lead": int(rng.choice(spec.lead_programs)),
    }
    kit = spec.drum_kits[int(rng.integers(len(spec.drum_kits)))]
    prog_verse = spec.progressions[int(rng.integers(len(spec.progressions)))]
    prog_chorus = spec.progressions[int(rng.integers(len(spec.progressions)))]
    bars_per_chord = int(rng.choice(spec.bars_per_chord))
    bass_pat = {k: spec.bass_patterns[int(rng.integers(len(spec.bass_patterns)))] for k in ("verse", "chorus")}
    comp_pat = {k: spec.comp_patterns[int(rng.integers(len(spec.comp_patterns)))] for k in ("verse", "chorus")}
    maybe = {"lead": rng.random() < 0.35, "bass": rng.random() < 0.5}
    motifs = {"chorus": _lead_motif(rng, spec, spec.lead_density),
              "verse": _lead_motif(rng, spec, spec.lead_density * 0.6)}
    levels = {"drums": 110, "bass": 104, "comp": 80, "pad": 70, "lead": 92}
    reverb = {"drums": 25, "bass": 8, "comp": 40, "pad": 80, "lead": 55}

    c.part("drums", 0, is_drum=True)
    for role in ("bass", "comp", "pad", "lead"):
        c.part(role, programs[role])
    for role, inst in c.parts.items():
        vol = int(np.clip(levels[role] + rng.integers(-8, 9), 40, 127))
        for num, val in ((7, vol), (10, 64), (91, reverb[role])):
            inst.control_changes.append(pretty_midi.ControlChange(number=num, value=val, time=0.0))

    for si, (sec, (b0, b1)) in enumerate(zip(sections, section_bars_idx)):
        kind, energy = sec["kind"], sec["energy"]
        on = {r: (maybe[r] if v == "maybe" else v) for r, v in ROLE_ON[kind].items()}
        pat_kind = "chorus" if kind in ("chorus", "outro") else "verse"
        prog = prog_chorus if kind in ("chorus", "breakdown") else prog_verse
        nxt = sections[si + 1] if si + 1 < len(sections) else None
        e_scale = 0.7 + 0.3 * energy
        for bar in range(b0, b1):
            rel = bar - b0
            degree = prog[(rel // bars_per_chord) % len(prog)]
            chord_start_bar = rel % bars_per_chord == 0
            # --- drums
            if sec["has_drums"]:
                fill = bar == b1 - 1 and nxt is not None and nxt["has_drums"] and nxt["kind"] in ("chorus", "verse") \
                    and b1 - b0 >= 2
                for layer in kit:
                    if energy + 1e-9 < layer.min_energy:
                        continue
                    pat = layer.pattern
                    off = (rel % (len(pat) // STEPS_PER_BAR)) * STEPS_PER_BAR
                    for step in range(STEPS_PER_BAR):
                        ch = pat[off + step]
                        if ch == "." or (fill and step >= 12):
                            continue
                        st = c.t(bar, step)
                        c.note("drums", layer.key, st, st + 0.1, c.vel(DRUM_CHAR_LEVEL[ch] * layer.level * 0.85 * e_scale))
                if fill:
                    for k, step in enumerate(range(12, 16)):
                        st = c.t(bar, step, swing=False)
                        c.note("drums", SNARE, st, st + 0.1, c.vel((0.5 + 0.12 * k) * e_scale))
                    st = c.t(bar, 12, swing=False)
                    c.note("drums", KICK, st, st + 0.1, c.vel(0.8 * e_scale))
                if rel == 0 and kind == "chorus":
                    st = c.t(bar, 0)
                    c.note("drums", CRASH, st, st + 0.5, c.vel(0.75 * e_scale))
            # --- bass
            root_pc = h.degree_pc(degree)
            bass_root = _place(root_pc, 33)
            if on["bass"]:
                if kind == "breakdown":
                    if chord_start_bar:
                        end_bar = min(bar + bars_per_chord, b1)
                        c.note("bass", bass_root, c.t(bar, 0), c.t(end_bar - 1, 15.5, swing=False),
                               c.vel(0.55 * e_scale))
                else:
                    for step, length in c._hit_lengths(bass_pat[pat_kind], spec.bass_gate):
                        sym = bass_pat[pat_kind][step]
                        pitch = {"R": bass_root, "F": bass_root + 7, "O": bass_root + 12,
                                 "T": _place(h.degree_pc(degree + 2), bass_root)}[sym]
                        if pitch > 52:
                            pitch -= 12
                        st = c.t(bar, step)
                        c.note("bass", pitch, st, c.t(bar, min(step + length, 16.0), swing=False),
                               c.vel(0.78 * e_scale))
            # --- comping
            if on["comp"]:
                if spec.power_chords:
                    r = _place(root_pc, 45)
                    voicing = [r, r + 7, r + 12]
                else:
                    voicing = sorted(_place(pc, 53) for pc in h.chord_pcs(degree))
                for step, length in c._hit_lengths(comp_pat[pat_kind], spec.comp_gate):
                    st = c.t(bar, step)
                    en = c.t(bar, min(step + length, 16.0), swing=False)
                    for p in voicing:
                        c.note("comp", p, st, en, c.vel(0.62 * e_scale))
            # --- pad: one held chord per chord change
            if on["pad"] and chord_start_bar:
                end_bar = min(bar + bars_per_chord, b1)
                voicing = sorted(_place(pc, 57) for pc in h.chord_pcs(degree)[:3])
                for p in voicing:
                    c.note("pad", p, c.t(bar, 0), c.t(end_bar - 1, 15.8, swing=False), c.vel(0.5 + 0.15 * energy))
            # --- lead: the motif, moved to each chord, repeated every two bars
            if on["lead"] and not (kind == "verse" and not maybe["lead"]):
                motif = motifs["verse" if kind == "verse" else "chorus"]
                half = rel % 2
                vary = rel % 4 == 3
                for k, (slot, length, off) in enumerate(motif):
                    step = slot * spec.lead_step - half * STEPS_PER_BAR
                    if not 0 <= step < STEPS_PER_BAR:
                        continue
                    if vary and k >= len(motif) - 2:
                        off = off + int(rng.choice([-2, -1, 1, 2]))
                    pitch = h.degree_pitch(degree + off, 60)
                    while pitch < 62:
                        pitch += 12
                    while pitch > 86:
                        pitch -= 12
                    st = c.t(bar, step)
                    en = c.t(bar, min(step + length * spec.lead_step * 0.9, 16.0), swing=False)
                    lvl = 0.6 if kind == "breakdown" else 0.72
                    c.note("lead", pitch, st, en, c.vel(lvl * e_scale))

    meta = {"key": int(h.key), "mode": h.mode, "programs": programs,
            "drum_kit": int(spec.drum_kits.index(kit)), "bars_per_chord": bars_per_chord}
    return [inst for inst in c.parts.values() if inst.notes], meta


# ----------------------------------------------------------------------------------------- MIDI file

def _tick_scale(period_us: int) -> float:
    """Seconds per tick such that pretty_midi writes exactly `period_us` as the tempo event.

    pretty_midi writes int(6e7 / (60 / (tick_scale * resolution))), which truncates; nudge the float
    up until that expression gives the intended integer.
    """
    ts = period_us / (1e6 * MIDI_RESOLUTION)
    for _ in range(8):
        if int(6e7 / (60.0 / (ts * MIDI_RESOLUTION))) == period_us:
            return ts
        ts = float(np.nextafter(ts, np.inf))
    raise AssertionError(f"cannot represent a tempo of {period_us} us per beat")


def _build_midi(tempo: TempoMap, instruments: list, total_beats: int):
    pretty_midi = import_pretty_midi()

    pm = pretty_midi.PrettyMIDI(resolution=MIDI_RESOLUTION, initial_tempo=tempo.bpm_at_beat(0))
    scales = []
    last = None
    for i, p in enumerate(tempo.periods_us):
        if p != last:
            scales.append((i * MIDI_RESOLUTION, _tick_scale(int(p))))
            last = p
    pm._tick_scales = scales  # pretty_midi has no public API for tempo changes
    pm._update_tick_to_time((total_beats + 8) * MIDI_RESOLUTION)
    pm.time_signature_changes = [pretty_midi.TimeSignature(4, 4, 0.0)]
    pm.instruments = instruments
    return pm


# ----------------------------------------------------------------------------------------- public API

def make_song(seed: int, style: str | None = None, duration: float = 30.0, bpm: float | None = None, *,
              tempo_change: str | None = None, breakdown: bool | None = None, render: bool = True,
              peak: float | None = None) -> Song:
    """Compose and render one song, deterministic for (seed, style, duration, bpm, options).

    style: one of STYLES (random if None); bpm: tempo of the first section (random in the style's
    range if None). tempo_change: "none", "jump", "ramp" or None (random: about 30 % of songs change
    tempo). breakdown: force a drumless breakdown section on/off (random if None). render=False skips
    the synthesiser (audio is silence) for callers that only need beats and sections. peak: output peak
    level (random in [0.55, 0.9] if None, so the corpus covers several loudnesses).
    """
    if duration <= 0 or not math.isfinite(duration):
        raise ValueError(f"song duration must be a positive number of seconds, got {duration}")
    rng = np.random.default_rng(int(seed))
    drawn_style = STYLES[int(rng.integers(len(STYLES)))]  # drawn always, so the stream does not depend on it
    style = drawn_style if style is None else style
    if style not in STYLE_SPECS:
        raise ValueError(f"unknown style {style!r}; choose one of {', '.join(STYLES)}")
    spec = STYLE_SPECS[style]
    drawn_bpm = float(rng.uniform(*spec.bpm_range))
    if bpm is None:
        bpm = drawn_bpm
    elif not EXPLICIT_BPM_RANGE[0] <= bpm <= EXPLICIT_BPM_RANGE[1]:
        raise ValueError(f"bpm must be within {EXPLICIT_BPM_RANGE}, got {bpm}")
    bpm = 60e6 / _period_us(float(bpm))  # a whole number of microseconds per beat (see module doc)

    drawn_change = str(rng.choice(["jump", "ramp", "none"], p=[0.15, 0.15, 0.7]))
    change = drawn_change if tempo_change is None else tempo_change
    if change not in ("none", "jump", "ramp"):
        raise ValueError(f"tempo_change must be 'none', 'jump' or 'ramp', got {tempo_change!r}")

    est_bars = duration * bpm / 240.0
    section_bars = 2 if est_bars < 10 else (4 if est_bars < 40 else 8)
    est_sections = max(1, int(est_bars // section_bars))
    if est_sections >= 2:
        change_beat = int(rng.integers(1, est_sections)) * section_bars * 4
    else:
        change_beat = max(1, int(est_bars // 2)) * 4
    # Enough beats for any tempo the plan can reach (factor <= 1.18 up or down).
    max_beats = int(math.ceil(est_bars * 1.4 + 2)) * 4 + 4
    tempo = _plan_tempo(rng, bpm, max_beats, change, change_beat, ramp_beats=section_bars * 4)

    beat_all = tempo.starts[:-1]
    n_beats = int(np.searchsorted(beat_all, duration - 1e-9, side="left"))  # beats strictly before the end
    n_bars = int(math.ceil(n_beats / 4))
    n_sections = int(math.ceil(n_bars / section_bars))
    drawn_breakdown = bool(rng.random() < (0.45 if n_sections >= 3 else 0.2))
    has_breakdown = drawn_breakdown if breakdown is None else bool(breakdown)
    kinds = _plan_kinds(n_sections, has_breakdown)

    sections, bar_ranges = [], []
    for k, kind in enumerate(kinds):
        b0, b1 = k * section_bars, min((k + 1) * section_bars, n_bars)
        lo, hi = SECTION_ENERGY[kind]
        drums = kind != "breakdown" and not (kind == "intro" and rng.random() < 0.3)
        sections.append({
            "start": float(tempo.starts[b0 * 4]), "end": float(min(tempo.starts[b1 * 4], duration)),
            "kind": kind, "energy": round(float(rng.uniform(lo, hi)), 3), "has_drums": bool(drums),
            "bars": b1 - b0,
        })
        bar_ranges.append((b0, b1))

    instruments, meta = _compose(rng, spec, tempo, sections, bar_ranges)
    pm = _build_midi(tempo, instruments, n_bars * 4)

    if render:
        audio = render_midi(pm, SAMPLE_RATE, duration=duration)
        fade = min(len(audio), int(0.03 * SAMPLE_RATE))
        if fade:
            audio[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
        top = float(np.max(np.abs(audio))) if len(audio) else 0.0
        target = float(rng.uniform(0.55, 0.9)) if peak is None else float(peak)
        if top > 0:
            audio = (audio * (target / top)).astype(np.float32)
    else:
        audio = np.zeros(int(round(duration * SAMPLE_RATE)), dtype=np.float32)

    beat_times = beat_all[:n_beats].astype(np.float64)
    tempo_changes = [[float(tempo.starts[i]), float(60e6 / p)] for i, p in enumerate(tempo.periods_us[:n_beats])
                     if i == 0 or p != tempo.periods_us[i - 1]]
    meta.update({"seed": int(seed), "tempo_change": change, "tempo_changes": tempo_changes,
                 "soundfont": SOUNDFONT_NAME, "soundfont_licence": SOUNDFONT_LICENCE})
    return Song(
        song_id=f"song_{int(seed):06d}_{style}", style=style, audio=audio, sample_rate=SAMPLE_RATE,
        beat_times=beat_times, downbeat_times=beat_times[::4].copy(), bpm=float(bpm), sections=sections,
        midi=pm, meta=meta,
    )


def save_song(song: Song, directory: Path) -> None:
    """Write <id>.flac (16-bit mono), <id>.json (beats, sections, style, bpm, meta) and <id>.mid."""
    import soundfile as sf  # noqa: PLC0415

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    audio = np.clip(np.asarray(song.audio, dtype=np.float32), -1.0, 1.0)
    sf.write(directory / f"{song.song_id}.flac", audio, song.sample_rate, subtype="PCM_16")
    info = {
        "format_version": FORMAT_VERSION, "song_id": song.song_id, "style": song.style,
        "sample_rate": song.sample_rate, "num_samples": len(audio), "duration": song.duration,
        "bpm": song.bpm, "beat_times": [float(t) for t in song.beat_times],
        "downbeat_times": [float(t) for t in song.downbeat_times], "sections": song.sections,
        "audio": f"{song.song_id}.flac", "midi": f"{song.song_id}.mid" if song.midi is not None else None,
        "meta": song.meta,
    }
    (directory / f"{song.song_id}.json").write_text(json.dumps(info, indent=1))
    if song.midi is not None:
        song.midi.write(str(directory / f"{song.song_id}.mid"))


def load_song(directory: Path, song_id: str, sample_rate: int | None = None) -> Song:
    """Read a song written by `save_song` (the .mid is optional).

    sample_rate: resample the audio to this rate if the file has another one (the bundled demo is
    stored at 22050 Hz; pass SAMPLE_RATE to get the model's rate). None keeps the file's rate.
    """
    import soundfile as sf  # noqa: PLC0415

    directory = Path(directory)
    meta_path = directory / f"{song_id}.json"
    if not meta_path.exists():
        raise FileNotFoundError(f"no song description {meta_path}")
    try:
        info = json.loads(meta_path.read_text())
        audio_path = directory / info.get("audio", f"{song_id}.flac")
        beats = np.asarray(info["beat_times"], dtype=np.float64)
        downbeats = np.asarray(info["downbeat_times"], dtype=np.float64)
    except (ValueError, KeyError) as exc:
        raise ValueError(f"{meta_path} is not a song description: {exc}") from exc
    if not audio_path.exists():
        raise FileNotFoundError(f"{meta_path} names audio {audio_path}, which does not exist")
    audio, sr = sf.read(str(audio_path), dtype="float32", always_2d=False)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    if sample_rate is not None and int(sample_rate) != int(sr):
        from math import gcd  # noqa: PLC0415

        from scipy.signal import resample_poly  # noqa: PLC0415

        g = gcd(int(sample_rate), int(sr))
        audio = resample_poly(audio, int(sample_rate) // g, int(sr) // g).astype(np.float32)
        sr = int(sample_rate)
    midi = None
    midi_name = info.get("midi")
    if midi_name and (directory / midi_name).exists():
        pretty_midi = import_pretty_midi()

        midi = pretty_midi.PrettyMIDI(str(directory / midi_name))
    return Song(
        song_id=info.get("song_id", song_id), style=info.get("style", "unknown"), audio=audio,
        sample_rate=int(sr), beat_times=beats, downbeat_times=downbeats, bpm=float(info["bpm"]),
        sections=list(info.get("sections", [])), midi=midi, meta=dict(info.get("meta", {})),
    )

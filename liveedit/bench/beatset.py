"""A held-out beat-tracking set: songs with exact beats and bar lines that the tuning never saw.

Why a set of its own: the training corpus (training/corpus) writes 4/4 songs in eight styles with
TimGM6mb; the beat grid's constants were first tuned on some of those. The cases where a causal tracker
fails (issue 15) are other ones: syncopated patterns whose loudest hits are off the beat (reggaeton's
dembow, afrobeat), funk with ghost notes, 3/4 and 6/8, drum and bass at 160-180 BPM, drumless
breakdowns, tempo ramps and a drummer's drift. This module writes those as MIDI (one bar of pattern
per part, any meter) and renders them with another soundfont (Debian's FluidR3_GM), so neither the
instruments nor the patterns are the corpus's. It does not touch the corpus generator: its songs stay
byte-identical.

Everything is deterministic (seeded numpy generators, seeds 9000+ which the corpus never draws).
Beat times are exact: notes are placed at times computed from the same beat clock that gives the
annotations; with drift, each beat's period wanders and each note is also played a little early or
late (as a live drummer does), and the annotation is the underlying beat clock.

Annotations: `beats` (every beat), `downbeats` (bar starts), `meter` (beats per bar). 6/8 is
annotated at the dotted quarter (two beats a bar), the level people tap to.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

SAMPLE_RATE = 15360
FLUIDR3 = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")   # Debian: fluid-soundfont-gm
SEED0 = 9000

# General MIDI percussion keys (channel 10).
KICK, RIM, SNARE, CLAP = 36, 37, 38, 39
HAT, PEDAL_HAT, OPEN_HAT, CRASH, RIDE, RIDE_BELL = 42, 44, 46, 49, 51, 53
TAMB, COWBELL, MUTE_CONGA, OPEN_CONGA, LOW_CONGA, SHAKER, CLAVES = 54, 56, 62, 63, 64, 70, 75
LEVEL = {"X": 1.0, "x": 0.75, "o": 0.35}   # accent, normal, ghost


@dataclass(frozen=True)
class BeatSpec:
    """One song. Patterns are one bar of `meter * steps` grid steps ('X' 'x' 'o' hits, '.' rest;
    for bass 'R' root, 'F' fifth, 'O' octave, '-' hold; for comping 'x' chord, '-' hold)."""

    name: str
    bpm: float
    meter: int = 4                 # beats per bar
    steps: int = 4                 # grid steps per beat (4: 16ths; 3: triplet eighths / 6/8 eighths)
    drums: tuple[tuple[int, str, float], ...] = ()   # (GM key, pattern, level)
    bass: str = ""
    comp: str = ""
    bass_program: int = 33
    comp_program: int = 4
    pad_program: int = 89
    bpm_end: float | None = None   # tempo ramp (linear in BPM) from `ramp` beats (start, end)
    ramp: tuple[int, int] = (32, 48)
    drift: float = 0.0             # std of each beat period's random-walk step (fraction of the period)
    jitter: float = 0.0            # std of each note's timing error, seconds
    breaks: tuple[tuple[int, int], ...] = ()   # (first beat, number of beats) with no drums, no bass
    swing: float = 0.0             # delay of odd grid steps, fraction of a step
    seconds: float = 30.0
    mode: str = "minor"


@dataclass
class BeatSong:
    name: str
    audio: np.ndarray          # float32 mono at SAMPLE_RATE
    beats: np.ndarray          # every beat, seconds
    downbeats: np.ndarray      # bar starts, seconds
    meter: int
    breaks: list[tuple[float, float]] = field(default_factory=list)   # drumless spans, seconds
    spec: BeatSpec | None = None

    def tempo_at(self, t: float) -> float:
        """True tempo (BPM) at time t, from the neighbouring beats."""
        i = int(np.clip(np.searchsorted(self.beats, t), 1, len(self.beats) - 1))
        return 60.0 / float(self.beats[i] - self.beats[i - 1])


def _pattern(s: str, n: int, what: str) -> str:
    if len(s) != n:
        raise ValueError(f"{what} pattern {s!r} has {len(s)} steps, the bar has {n}")
    return s


def beat_set() -> list[BeatSpec]:
    """The held-out songs (about 30 s each)."""
    hats8 = "x.x.x.x.x.x.x.x."
    return [
        # Reggaeton: kick on every beat, the dembow 3-3-2 on the rim and stabs off the beat.
        BeatSpec("reggaeton dembow 95", 95, drums=((KICK, "X...X...X...X...", 1.0), (RIM, "...X..X....X..X.", 0.9),
                                                  (SHAKER, hats8, 0.4)),
                 bass="R..R....R..R....", comp="...x..x....x..x.", comp_program=81),
        BeatSpec("reggaeton sparse 100", 100, drums=((KICK, "X...X...X...X...", 0.9), (SNARE, "...X..X....X..X.", 1.0)),
                 bass="R.......R.......", comp="x---------------", comp_program=88, mode="minor"),
        # Afrobeat: open hats off the beat, bell pattern, syncopated kick and bass.
        BeatSpec("afrobeat 112", 112, drums=((KICK, "X.....x...X..x..", 0.9), (SNARE, "..o.X..o..o.X..o", 0.8),
                                            (OPEN_HAT, "..x...x...x...x.", 0.8), (COWBELL, "x.x.xx.x.xx.x.x.", 0.5),
                                            (SHAKER, "oxoxoxoxoxoxoxox", 0.4)),
                 bass="R..R..F...R.O...", comp=".x.x.x.x.x.x.x.x", comp_program=27, mode="dorian"),
        # Funk with ghost notes, slight swing.
        BeatSpec("funk ghost notes 102", 102, drums=((KICK, "X..x..x...X..x..", 1.0), (SNARE, "o..oX.oo.o.oX..o", 0.9),
                                                    (HAT, "xoxoxoxoxoxoxoxo", 0.7)),
                 bass="R..O..R.F..R.O..", comp=".x.x.x...x.x.x.x", comp_program=28, swing=0.12, mode="dorian"),
        # 3/4: a waltz (no drums: bass on 1, chords on 2 and 3) and a jazz waltz with ride.
        BeatSpec("waltz 3/4 150", 150, meter=3, bass="R...........", comp="....x...x...", comp_program=0,
                 mode="major"),
        BeatSpec("jazz waltz 3/4 132", 132, meter=3, steps=3,
                 drums=((RIDE, "x..x.xx.x", 0.7), (KICK, "X........", 0.6), (PEDAL_HAT, "...x..x..", 0.6)),
                 bass="R..F..O..", comp="...x-----", comp_program=0, mode="dorian"),
        # 6/8 at the dotted quarter: kick on 1, snare on 4, eighths on the hat.
        BeatSpec("6/8 ballad 72", 72, meter=2, steps=3,
                 drums=((KICK, "X.....", 1.0), (SNARE, "...X..", 0.9), (HAT, "xxxxxx", 0.6)),
                 bass="R..F..", comp="x.xx.x", comp_program=0, mode="major"),
        # Drum and bass: two-step at full tempo, one with a 16-beat drumless breakdown.
        BeatSpec("drum and bass 172", 172, drums=((KICK, "X.........X.....", 1.0), (SNARE, "....X.......X...", 1.0),
                                                 (HAT, hats8, 0.6), (SHAKER, "oxoxoxoxoxoxoxox", 0.3)),
                 bass="R---------F-----", comp="x---------------", comp_program=89),
        BeatSpec("drum and bass 176 + break", 176, drums=((KICK, "X.....X...X.....", 1.0), (SNARE, "....X.......X..o", 1.0),
                                                         (RIDE, hats8, 0.5)),
                 bass="R-----R---F-----", comp="x---------------", comp_program=81, breaks=((32, 16),),
                 seconds=30.0),
        BeatSpec("drum and bass 164", 164, drums=((KICK, "X.......X.x.....", 1.0), (SNARE, "....X.......X...", 1.0),
                                                 (HAT, "xxxxxxxxxxxxxxxx", 0.4)),
                 bass="R-------R---O---", comp="x-------x-------", comp_program=4),
        # Drumless breakdowns of 16 beats in the middle of steady songs.
        BeatSpec("house 124 + break", 124, drums=((KICK, "X...X...X...X...", 1.0), (CLAP, "....X.......X...", 0.8),
                                                 (OPEN_HAT, "..x...x...x...x.", 0.7)),
                 bass="..R...R...R...R.", comp="..x...x...x...x.", comp_program=4, breaks=((24, 16),)),
        BeatSpec("hip-hop 90 + break", 90, drums=((KICK, "X......x..x.....", 1.0), (SNARE, "....X.......X...", 1.0),
                                                 (HAT, hats8, 0.7)),
                 bass="R......R..R.....", comp="x-------x-------", comp_program=0, swing=0.25, breaks=((16, 16),)),
        # Tempo ramps.
        BeatSpec("pop ramp 96->124", 96, bpm_end=124, ramp=(16, 32),
                 drums=((KICK, "X.......X.x.....", 1.0), (SNARE, "....X.......X...", 0.9), (HAT, hats8, 0.7)),
                 bass="R.R.R.R.R.R.R.R.", comp="x---x---x---x---", comp_program=0, mode="major"),
        BeatSpec("rock ramp 138->112", 138, bpm_end=112, ramp=(24, 48),
                 drums=((KICK, "X.....X.X.......", 1.0), (SNARE, "....X.......X...", 1.0), (HAT, hats8, 0.7)),
                 bass="R.R.R.R.R.R.R.R.", comp="x.x.x.x.x.x.x.x.", comp_program=29, mode="mixolydian"),
        # A live band's drift: the beat period wanders and every note is a little early or late.
        BeatSpec("rock drift 120", 120, drift=0.006, jitter=0.008,
                 drums=((KICK, "X.....X.X.......", 1.0), (SNARE, "....X.......X...", 1.0), (RIDE, hats8, 0.6)),
                 bass="R...R...R.R.R...", comp="x-------x-------", comp_program=29, mode="major"),
        BeatSpec("soul drift 94", 94, drift=0.008, jitter=0.010, swing=0.2,
                 drums=((KICK, "X.....x...x.....", 1.0), (SNARE, "....X..o....X...", 0.9), (HAT, hats8, 0.6),
                        (TAMB, "....x.......x...", 0.5)),
                 bass="R.....R.F...O...", comp="..x...x...x...x.", comp_program=4, mode="dorian"),
    ]


def tuning_set() -> list[BeatSpec]:
    """Songs for tuning the tracker's constants, kept apart from `beat_set` so that it stays held out:
    other patterns in the same families, other tempi, rendered with the corpus soundfont (TimGM6mb)."""
    hats8 = "x.x.x.x.x.x.x.x."
    return [
        BeatSpec("t dembow 90", 90, drums=((KICK, "X...X...X...X...", 1.0), (SNARE, "...x..x....x..x.", 0.8),
                                          (HAT, "x.xxx.xxx.xxx.xx", 0.4)),
                 bass="R..R..R.R..R..R.", comp="...x..x.........", comp_program=80),
        BeatSpec("t dembow 104 clap", 104, drums=((KICK, "X...X...X...X...", 0.8), (CLAP, "...X..X....X..X.", 1.0),
                                                 (OPEN_HAT, "..x...x...x...x.", 0.5)),
                 bass="R.....R.R.....R.", comp="x.....x.x.....x.", comp_program=81),
        BeatSpec("t afro 104", 104, drums=((KICK, "X......x..X.....", 0.9), (RIM, "..x..x....x..x..", 0.7),
                                          (OPEN_HAT, "..x...x...x...x.", 0.7), (CLAVES, "x..x..x...x.x...", 0.6),
                                          (MUTE_CONGA, ".xx..xx..xx..xx.", 0.5)),
                 bass="R...R..F..R...O.", comp="..x..x..x..x..x.", comp_program=26, mode="mixolydian"),
        BeatSpec("t funk 96", 96, drums=((KICK, "X.x...x..xX.....", 1.0), (SNARE, ".o..X.o..o.oX.o.", 0.9),
                                        (HAT, "x.xxx.xxx.xxx.xx", 0.6)),
                 bass="R.RO..R...R.F.O.", comp="x..x..x.x..x.x..", comp_program=27, swing=0.08, mode="dorian"),
        BeatSpec("t waltz 3/4 168", 168, meter=3, drums=((PEDAL_HAT, "....x...x...", 0.5),),
                 bass="R...........", comp="....x...x...", comp_program=24, mode="minor"),
        BeatSpec("t waltz 3/4 108", 108, meter=3, bass="R.......F...", comp="....x-..x-..", comp_program=48,
                 mode="major"),
        BeatSpec("t 3/4 ballad 84", 84, meter=3, steps=2, drums=((KICK, "X.....", 0.8), (SNARE, "..x.x.", 0.5),
                                                               (HAT, "xxxxxx", 0.4)),
                 bass="R...F.", comp="x.x.x.", comp_program=0, mode="major"),
        BeatSpec("t 6/8 86", 86, meter=2, steps=3, drums=((KICK, "X..X..", 0.9), (RIM, "...x..", 0.8),
                                                        (SHAKER, "xoxxox", 0.5)),
                 bass="R.FR..", comp="..x..x", comp_program=24, mode="minor"),
        BeatSpec("t dnb 170", 170, drums=((KICK, "X.........X.....", 1.0), (SNARE, "....X..o....X...", 1.0),
                                         (HAT, "xoxoxoxoxoxoxoxo", 0.5)),
                 bass="R-------F-------", comp="x---------------", comp_program=90),
        BeatSpec("t dnb 178 + break", 178, drums=((KICK, "X.X.......X.....", 1.0), (SNARE, "....X.......X...", 1.0),
                                                 (RIDE, "xxxxxxxxxxxxxxxx", 0.4)),
                 bass="R---------R-----", comp="x-------x-------", comp_program=91, breaks=((40, 16),)),
        BeatSpec("t dnb 160", 160, drums=((KICK, "X.....X.........", 1.0), (SNARE, "....X.......X...", 1.0),
                                         (SHAKER, hats8, 0.6)),
                 bass="R---------------", comp="x---------------", comp_program=89),
        BeatSpec("t jungle 168", 168, drums=((KICK, "X.X.......X.....", 1.0), (SNARE, "....X..o.oX.X..o", 0.9),
                                            (HAT, hats8, 0.5), (RIDE, "..x...x...x...x.", 0.4)),
                 bass="R-------R---F---", comp="x---------------", comp_program=91),
        BeatSpec("t liquid 174", 174, drums=((KICK, "X.........X.....", 0.9), (SNARE, "....X.......X...", 0.9),
                                            (RIDE, hats8, 0.5), (TAMB, "....x.......x...", 0.4)),
                 bass="R---------------", comp="x---x---x---x---", comp_program=4, mode="dorian"),
        BeatSpec("t footwork 160", 160, drums=((KICK, "X..X..X...X..X..", 1.0), (CLAP, "....X.......X...", 0.8),
                                              (HAT, "x.xxx.xxx.xxx.xx", 0.4)),
                 bass="R..R..R...R..R..", comp="x.....x.........", comp_program=81),
        BeatSpec("t hardcore 170", 170, drums=((KICK, "X...X...X...X...", 1.0), (CLAP, "....X.......X...", 0.7),
                                              (OPEN_HAT, "..x...x...x...x.", 0.6)),
                 bass="..R...R...R...R.", comp="x-------x-------", comp_program=80),
        BeatSpec("t techno 130 + break", 130, drums=((KICK, "X...X...X...X...", 1.0), (HAT, "..x...x...x...x.", 0.8),
                                                    (CLAP, "....X.......X...", 0.6)),
                 bass="..R...R...R...R.", comp="x--.............", comp_program=81, breaks=((32, 16),)),
        BeatSpec("t boom bap 86 + break", 86, drums=((KICK, "X.......X.x.....", 1.0), (SNARE, "....X.......X...", 1.0),
                                                    (HAT, hats8, 0.6)),
                 bass="R.......R.....F.", comp="x-------x-------", comp_program=4, swing=0.3, breaks=((16, 16),)),
        BeatSpec("t ramp 110->140", 110, bpm_end=140, ramp=(16, 40),
                 drums=((KICK, "X...X...X...X...", 1.0), (SNARE, "....X.......X...", 0.9), (HAT, hats8, 0.7)),
                 bass="R.R.R.R.R.R.R.R.", comp="x---x---x---x---", comp_program=0, mode="major"),
        BeatSpec("t ramp 126->100", 126, bpm_end=100, ramp=(16, 40),
                 drums=((KICK, "X.....X.X.......", 1.0), (SNARE, "....X.......X...", 1.0), (HAT, hats8, 0.7)),
                 bass="R...R...R...R...", comp="x.x.x.x.x.x.x.x.", comp_program=30, mode="minor"),
        BeatSpec("t drift 100", 100, drift=0.008, jitter=0.01,
                 drums=((KICK, "X.......X.x.....", 1.0), (SNARE, "....X.......X...", 1.0), (HAT, hats8, 0.6)),
                 bass="R.......R...F...", comp="x---x---x---x---", comp_program=0, mode="major"),
        BeatSpec("t drift 128", 128, drift=0.006, jitter=0.006,
                 drums=((KICK, "X...X...X...X...", 1.0), (SNARE, "....X.......X...", 0.8), (RIDE, hats8, 0.6)),
                 bass="R.R.R.R.R.R.R.R.", comp="..x...x...x...x.", comp_program=29, mode="mixolydian"),
        BeatSpec("t ballad 76", 76, bass="R.......R.......", comp="x.x.x.x.x.x.x.x.", comp_program=0, mode="major"),
    ]


# ------------------------------------------------------------------------------------------ beat clock
def _beat_times(spec: BeatSpec, rng: np.random.Generator) -> np.ndarray:
    """Times of beats 0..B (B beats cover the song plus a bar), seconds."""
    n = int(spec.seconds * max(spec.bpm, spec.bpm_end or 0) / 60.0) + 2 * spec.meter + 2
    idx = np.arange(n, dtype=np.float64)
    bpm = np.full(n, float(spec.bpm))
    if spec.bpm_end is not None:
        a, b = spec.ramp
        bpm = spec.bpm + (spec.bpm_end - spec.bpm) * np.clip((idx - a) / max(1, b - a), 0.0, 1.0)
    period = 60.0 / bpm
    if spec.drift:
        # Random walk of the period, pulled back towards the nominal tempo (a drummer drifts, then
        # corrects), bounded to +-6 %.
        dev = 0.0
        devs = np.empty(n)
        for i in range(n):
            dev = 0.9 * dev + rng.normal(0.0, spec.drift)
            dev = float(np.clip(dev, -0.06, 0.06))
            devs[i] = dev
        period = period * (1.0 + devs)
    start = 0.35   # the first beat a little after the start, as in a recording
    return start + np.concatenate([[0.0], np.cumsum(period)])


def _time_of(beats: np.ndarray, pos: float) -> float:
    i = min(int(math.floor(pos)), beats.size - 2)
    return float(beats[i] + (pos - i) * (beats[i + 1] - beats[i]))


# ------------------------------------------------------------------------------------------ composing
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10), "dorian": (0, 2, 3, 5, 7, 9, 10),
          "mixolydian": (0, 2, 4, 5, 7, 9, 10)}
PROGRESSIONS = ((0, 5, 3, 4), (0, 3, 5, 4), (0, 6, 5, 4), (0, 4, 5, 3))


def _chord(scale: tuple[int, ...], key: int, degree: int) -> list[int]:
    return [key + scale[(degree + k) % 7] + 12 * ((degree + k) // 7) for k in (0, 2, 4)]


def compose(spec: BeatSpec, seed: int):
    """-> (pretty_midi.PrettyMIDI, beats, downbeats, break spans)."""
    from model.music import import_pretty_midi  # noqa: PLC0415

    pretty_midi = import_pretty_midi()
    rng = np.random.default_rng(seed)
    beats = _beat_times(spec, rng)
    bar_steps = spec.meter * spec.steps
    for key_, pat, _ in spec.drums:
        _pattern(pat, bar_steps, f"drum {key_}")
    n_bars = int(math.ceil(spec.seconds / (beats[1] - beats[0]) / spec.meter)) + 1
    n_bars = min(n_bars, (beats.size - 2) // spec.meter)
    key = 45 + int(rng.integers(0, 7))
    scale = SCALES[spec.mode]
    prog = PROGRESSIONS[int(rng.integers(len(PROGRESSIONS)))]
    drums = pretty_midi.Instrument(program=0, is_drum=True, name="drums")
    bass = pretty_midi.Instrument(program=spec.bass_program, name="bass")
    comp = pretty_midi.Instrument(program=spec.comp_program, name="comp")
    pad = pretty_midi.Instrument(program=spec.pad_program, name="pad")
    breaks = [(b0, b0 + nb) for b0, nb in spec.breaks]

    def in_break(beat: float) -> bool:
        return any(b0 <= beat < b1 for b0, b1 in breaks)

    def at(bar: int, step: int) -> float:
        swing = spec.swing if step % 2 else 0.0
        t = _time_of(beats, bar * spec.meter + (step + swing) / spec.steps)
        return t + (float(rng.normal(0.0, spec.jitter)) if spec.jitter else 0.0)

    def vel(level: float) -> int:
        return int(np.clip(round(112 * level * rng.uniform(0.88, 1.0)), 1, 127))

    for bar in range(n_bars):
        degree = prog[bar % len(prog)]
        chord = _chord(scale, key + 12, degree)
        root = key - 12 + scale[degree % 7]
        bar_t0, bar_t1 = at(bar, 0), _time_of(beats, (bar + 1) * spec.meter)
        first_beat = bar * spec.meter
        if in_break(first_beat):
            # Breakdown: a held pad chord per bar, nothing else (the hardest case for a tracker).
            for p in chord:
                pad.notes.append(pretty_midi.Note(vel(0.6), p, bar_t0, bar_t1 - 0.02))
            continue
        if bar == 0 or in_break(first_beat - 1):
            drums.notes.append(pretty_midi.Note(vel(0.8), CRASH, bar_t0, bar_t0 + 0.3))
        for drum_key, pat, level in spec.drums:
            for s, ch in enumerate(pat):
                if ch in LEVEL:
                    t = at(bar, s)
                    drums.notes.append(pretty_midi.Note(vel(level * LEVEL[ch]), drum_key, t, t + 0.08))
        for part, pat, gate in ((bass, spec.bass, 0.9), (comp, spec.comp, 0.6)):
            if not pat:
                continue
            _pattern(pat, bar_steps, part.name)
            hits = [s for s, ch in enumerate(pat) if ch not in ".-"]
            for k, s in enumerate(hits):
                end_s = s + 1
                while end_s < bar_steps and pat[end_s] == "-":
                    end_s += 1
                t0 = at(bar, s)
                t1 = _time_of(beats, bar * spec.meter + (s + (end_s - s) * gate) / spec.steps)
                t1 = max(t1, t0 + 0.05)
                if part is bass:
                    pitch = root + {"R": 0, "F": 7, "O": 12, "T": 4}.get(pat[s], 0)
                    part.notes.append(pretty_midi.Note(vel(0.85), pitch, t0, t1))
                else:
                    for p in chord:
                        part.notes.append(pretty_midi.Note(vel(0.55), p, t0, t1))
    pm = pretty_midi.PrettyMIDI(resolution=480, initial_tempo=spec.bpm)
    pm.instruments = [i for i in (drums, bass, comp, pad) if i.notes]
    ref = beats[beats < spec.seconds - 0.05]
    down = ref[::spec.meter]
    spans = [(_time_of(beats, b0), _time_of(beats, b1)) for b0, b1 in breaks]
    return pm, ref, down, spans


# ------------------------------------------------------------------------------------------ rendering
def _cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "liveedit" / "beatset"


def render(spec: BeatSpec, seed: int, soundfont: Path | None = None, cache: bool = True) -> BeatSong:
    """Compose and render one song (cached on disk by spec, seed and soundfont: rendering FluidR3 songs
    takes about a second each, tracking them much less)."""
    sf = soundfont if soundfont is not None else (FLUIDR3 if FLUIDR3.exists() else None)
    pm, beats, down, spans = compose(spec, seed)
    tag = hashlib.sha1(json.dumps([asdict(spec), seed, str(sf), 1]).encode()).hexdigest()[:16]
    path = _cache_dir() / f"{tag}.npy"
    audio = None
    if cache and path.exists():
        try:
            audio = np.load(path)
        except (OSError, ValueError):
            audio = None
    if audio is None:
        from training.corpus.song_render import render_midi  # noqa: PLC0415

        audio = render_midi(pm, SAMPLE_RATE, duration=spec.seconds, soundfont=sf)
        top = float(np.max(np.abs(audio))) or 1.0
        audio = (audio * (0.7 / top)).astype(np.float32)
        if cache:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp.npy")
                np.save(tmp, audio)
                tmp.replace(path)
            except OSError:
                pass
    return BeatSong(spec.name, audio, beats, down, spec.meter, spans, spec)


def beat_songs(names: list[str] | None = None, soundfont: Path | None = None) -> list[BeatSong]:
    """Render the held-out set (or the songs whose names contain one of `names`) with FluidR3_GM."""
    out = []
    for i, spec in enumerate(beat_set()):
        if names and not any(n.lower() in spec.name.lower() for n in names):
            continue
        out.append(render(spec, SEED0 + i, soundfont))
    return out


def tuning_songs() -> list[BeatSong]:
    """The tuning set, rendered with the corpus soundfont (seeds 9500+)."""
    from training.corpus.song_render import default_soundfont  # noqa: PLC0415

    return [render(spec, SEED0 + 500 + i, default_soundfont()) for i, spec in enumerate(tuning_set())]

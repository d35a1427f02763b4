"""The style grammar: per style a tempo range, harmony, drum kits, bass/comping patterns and GM programs.

Pattern strings are one bar of 16th-note steps (16 characters) or two bars (32):
  drums:   'X' accent, 'x' normal, 'o' ghost, '.' rest
  bass:    'R' chord root, 'F' fifth, 'O' octave up, 'T' third, '-' hold the previous note, '.' rest
  comping: 'x' play the chord, '-' hold, '.' rest
Every drum layer has a `min_energy`: a section plays the layers whose threshold its energy reaches,
so a quiet intro gets kick and hats and a chorus the full kit.
"""
from __future__ import annotations

from dataclasses import dataclass

# General MIDI percussion keys (channel 10).
KICK, RIM, SNARE, CLAP, E_SNARE = 36, 37, 38, 39, 40
HAT, PEDAL_HAT, OPEN_HAT, CRASH, RIDE = 42, 44, 46, 49, 51
TAMB, COWBELL, HI_BONGO, LO_BONGO = 54, 56, 60, 61
MUTE_CONGA, OPEN_CONGA, LOW_CONGA, HI_TIMBALE, SHAKER, CLAVES = 62, 63, 64, 65, 70, 75

SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
}


@dataclass(frozen=True)
class DrumLayer:
    key: int            # GM percussion key
    pattern: str        # 16 or 32 steps
    min_energy: float = 0.0
    level: float = 1.0  # velocity scale


@dataclass(frozen=True)
class StyleSpec:
    name: str
    bpm_range: tuple[float, float]
    modes: tuple[str, ...]
    progressions: tuple[tuple[int, ...], ...]   # scale degrees (0 = tonic), one chord per bars_per_chord
    bars_per_chord: tuple[int, ...]
    sevenths: bool
    swing: float                                # delay of odd 16th steps, as a fraction of a 16th
    drum_kits: tuple[tuple[DrumLayer, ...], ...]
    bass_patterns: tuple[str, ...]
    comp_patterns: tuple[str, ...]
    comp_gate: float                            # fraction of the gap to the next hit a chord sounds
    bass_programs: tuple[int, ...]
    comp_programs: tuple[int, ...]
    pad_programs: tuple[int, ...]
    lead_programs: tuple[int, ...]
    lead_step: int = 2                          # melody grid in 16ths (2 = eighth notes)
    lead_density: float = 0.55                  # chance of an onset on a weak grid slot
    bass_gate: float = 0.85
    power_chords: bool = False                 # comping plays root-fifth-octave instead of the triad


L = DrumLayer
STYLE_SPECS: dict[str, StyleSpec] = {}


def _add(spec: StyleSpec) -> None:
    STYLE_SPECS[spec.name] = spec


_add(StyleSpec(
    name="house", bpm_range=(118, 128), modes=("minor", "dorian"),
    progressions=((0, 5, 2, 6), (0, 3, 5, 4), (0, 6, 5, 6), (0, 3)), bars_per_chord=(1, 2),
    sevenths=True, swing=0.0,
    drum_kits=(
        (L(KICK, "X...X...X...X..."), L(CLAP, "....X.......X...", 0.35), L(OPEN_HAT, "..x...x...x...x.", 0.2, 0.8),
         L(HAT, "x.oxx.oxx.oxx.ox", 0.7, 0.6), L(SHAKER, "oxoxoxoxoxoxoxox", 0.85, 0.5)),
        (L(KICK, "X...X...X...X..."), L(SNARE, "....x.......x...", 0.35, 0.8), L(CLAP, "....X.......X...", 0.6),
         L(HAT, "..x...x...x...x.", 0.0, 0.9), L(TAMB, "xoxoxoxoxoxoxoxo", 0.8, 0.5)),
    ),
    bass_patterns=("..R...R...R...R.", "..R..R.R..R...O.", "R.R...R.R.R...R."),
    comp_patterns=("..x...x...x...x.", "x..x..x...x..x..", "..x.....x.x....."),
    comp_gate=0.5,
    bass_programs=(38, 39, 33), comp_programs=(4, 5, 0, 16), pad_programs=(89, 90, 95, 50),
    lead_programs=(81, 80, 11, 98), bass_gate=0.6,
))
_add(StyleSpec(
    name="hiphop", bpm_range=(82, 98), modes=("minor", "dorian"),
    progressions=((0, 5), (0, 3, 5, 4), (0, 6, 5, 4), (0, 2, 3, 4)), bars_per_chord=(1, 2),
    sevenths=True, swing=0.28,
    drum_kits=(
        (L(KICK, "X......x..x.....", 0.0), L(SNARE, "....X.......X...", 0.3), L(HAT, "x.x.x.x.x.x.x.x.", 0.0, 0.8),
         L(OPEN_HAT, "..............x.", 0.7, 0.6), L(HAT, ".o.o.o.o.o.o.o.o", 0.85, 0.5)),
        (L(KICK, "X.........X..x..", 0.0), L(SNARE, "....X..o....X...", 0.3), L(HAT, "x.x.x.x.x.x.x.x.", 0.0, 0.8),
         L(RIM, "..x.........x...", 0.75, 0.6)),
    ),
    bass_patterns=("R......R..R.....", "R-------..F.R...", "R.....R...R..O.."),
    comp_patterns=("x---------------", "x-------x-------", "x-----x---------"),
    comp_gate=0.95,
    bass_programs=(33, 32, 38), comp_programs=(4, 0, 11, 5), pad_programs=(48, 89, 52),
    lead_programs=(73, 11, 66, 71), lead_density=0.45, bass_gate=0.9,
))
_add(StyleSpec(
    name="pop", bpm_range=(96, 124), modes=("major",),
    progressions=((0, 4, 5, 3), (0, 5, 3, 4), (5, 3, 0, 4), (0, 3, 5, 4)), bars_per_chord=(1,),
    sevenths=False, swing=0.0,
    drum_kits=(
        (L(KICK, "X.......X.x....."), L(SNARE, "....X.......X...", 0.3), L(HAT, "x.x.x.x.x.x.x.x.", 0.0, 0.8),
         L(TAMB, "....x.......x...", 0.75, 0.6), L(OPEN_HAT, "..............x.", 0.85, 0.6)),
        (L(KICK, "X...X...X...X..."), L(SNARE, "....X.......X...", 0.3), L(HAT, "xxxxxxxxxxxxxxxx", 0.6, 0.55),
         L(HAT, "x.x.x.x.x.x.x.x.", 0.0, 0.7), L(CLAP, "....x.......x...", 0.8, 0.7)),
    ),
    bass_patterns=("R.R.R.R.R.R.R.R.", "R---R---R.R.R---", "R.....R.R...F..."),
    comp_patterns=("x.x.x.x.x.x.x.x.", "x-----x---x-----", "x---x---x---x---"),
    comp_gate=0.8,
    bass_programs=(33, 34, 38), comp_programs=(0, 25, 4, 1), pad_programs=(48, 49, 89, 91),
    lead_programs=(80, 73, 65, 56), bass_gate=0.85,
))
_add(StyleSpec(
    name="funk", bpm_range=(96, 116), modes=("dorian", "mixolydian"),
    progressions=((0, 3), (0, 0, 3, 3), (0, 6, 3, 0)), bars_per_chord=(1,),
    sevenths=True, swing=0.1,
    drum_kits=(
        (L(KICK, "X..x..x...X..x.."), L(SNARE, "....X..o.o..X..o", 0.3), L(HAT, "xoxoxoxoxoxoxoxo", 0.0, 0.8),
         L(OPEN_HAT, "......x.........", 0.6, 0.6), L(COWBELL, "x...x...x...x...", 0.85, 0.5)),
        (L(KICK, "X.x...x..xX....."), L(SNARE, "....X.o.o..oX...", 0.3), L(HAT, "x.xxx.xxx.xxx.xx", 0.0, 0.75),
         L(TAMB, "..x...x...x...x.", 0.8, 0.5)),
    ),
    bass_patterns=("R..O..R.F..R.O..", "R.RO..R...R.F.O.", "R..R.O..R.F..O.R"),
    comp_patterns=("x..x..x.x..x.x..", ".x.x.x...x.x.x.x", "x.x..x.x..x.x.x."),
    comp_gate=0.35,
    bass_programs=(36, 37, 33), comp_programs=(27, 28, 4, 7), pad_programs=(61, 62, 18),
    lead_programs=(61, 56, 65, 17), lead_density=0.6, bass_gate=0.5,
))
_add(StyleSpec(
    name="latin", bpm_range=(90, 116), modes=("minor", "major"),
    progressions=((0, 3, 4, 0), (0, 5, 3, 4), (0, 4)), bars_per_chord=(1, 2),
    sevenths=False, swing=0.0,
    drum_kits=(
        # Dembow (reggaeton): kick on every beat, the 3-3-2 snare.
        (L(KICK, "X...X...X...X..."), L(RIM, "...x..x....x..x.", 0.3), L(SHAKER, "x.x.x.x.x.x.x.x.", 0.0, 0.6),
         L(OPEN_CONGA, "..x...x...x..x..", 0.6, 0.7), L(HAT, "xxxxxxxxxxxxxxxx", 0.85, 0.4)),
        # Son clave 3-2 with congas and cowbell.
        (L(CLAVES, "x..x..x...x.x..." + "..x.x...x..x..x.", 0.0, 0.8), L(KICK, "X.....x.X.....x.", 0.25),
         L(MUTE_CONGA, "..x...x...x...x.", 0.35, 0.7), L(OPEN_CONGA, "...x.xx....x.xx.", 0.35, 0.7),
         L(LOW_CONGA, "......x.......x.", 0.5, 0.8), L(COWBELL, "x.x.x.x.x.x.x.x.", 0.8, 0.5)),
    ),
    bass_patterns=("...R..F....R..F.", "R..R..F.R..R..F.", "R.....F.R.....F."),
    comp_patterns=("x.xx.x.x.xx.x.x.", "x..x..x.x..x..x.", "..x..x....x..x.."),
    comp_gate=0.5,
    bass_programs=(32, 33, 35), comp_programs=(24, 0, 25, 21), pad_programs=(48, 49, 52),
    lead_programs=(56, 73, 22, 65), bass_gate=0.7,
))
_add(StyleSpec(
    name="dnb_halftime", bpm_range=(160, 176), modes=("minor",),
    progressions=((0, 5, 2, 6), (0, 5), (0, 3, 5, 4)), bars_per_chord=(2,),
    sevenths=True, swing=0.0,
    drum_kits=(
        (L(KICK, "X.........x....."), L(SNARE, "........X.......", 0.3), L(HAT, "xoxoxoxoxoxoxoxo", 0.0, 0.7),
         L(RIDE, "x.x.x.x.x.x.x.x.", 0.7, 0.5), L(SNARE, "..............o.", 0.85, 0.6)),
        (L(KICK, "X.....X...x....."), L(SNARE, "........X.......", 0.3), L(HAT, "x.x.x.x.x.x.x.x.", 0.0, 0.8),
         L(SHAKER, "oxoxoxoxoxoxoxox", 0.75, 0.5)),
    ),
    bass_patterns=("R---------R-----", "R-------R---F---", "R-----------O---"),
    comp_patterns=("x---------------", "x-------x-------"),
    comp_gate=0.95,
    bass_programs=(38, 39, 87), comp_programs=(89, 4, 46), pad_programs=(89, 91, 95, 48),
    lead_programs=(81, 82, 99, 11), lead_step=4, lead_density=0.4, bass_gate=0.95,
))
_add(StyleSpec(
    name="lofi", bpm_range=(70, 88), modes=("major", "dorian"),
    progressions=((1, 4, 0, 0), (3, 2, 1, 0), (0, 5, 1, 4)), bars_per_chord=(1,),
    sevenths=True, swing=0.33,
    drum_kits=(
        (L(KICK, "X......x.x......"), L(SNARE, "....x.......x...", 0.3, 0.8), L(HAT, "x.x.x.x.x.x.x.x.", 0.0, 0.6),
         L(HAT, ".o.o.o.o.o.o.o.o", 0.7, 0.5)),
        (L(KICK, "X.....x...x....."), L(RIM, "....x.......x...", 0.3), L(SHAKER, "x.x.x.x.x.x.x.x.", 0.0, 0.5),
         L(OPEN_HAT, "......x.......x.", 0.8, 0.4)),
    ),
    bass_patterns=("R.....R...F.....", "R-------R.....O.", "R-----F---R-----"),
    comp_patterns=("x---------------", "x-----x---------", "x-------x---x---"),
    comp_gate=0.95,
    bass_programs=(32, 33), comp_programs=(4, 0, 11, 5), pad_programs=(89, 48, 52),
    lead_programs=(11, 73, 12, 26), lead_density=0.4, bass_gate=0.9,
))
_add(StyleSpec(
    name="rock", bpm_range=(110, 150), modes=("major", "mixolydian", "minor"),
    progressions=((0, 6, 3, 0), (0, 3, 4, 3), (0, 5, 3, 4)), bars_per_chord=(1, 2),
    sevenths=False, swing=0.0,
    drum_kits=(
        (L(KICK, "X.....X.X......."), L(SNARE, "....X.......X...", 0.3), L(HAT, "x.x.x.x.x.x.x.x.", 0.0, 0.8),
         L(RIDE, "x.x.x.x.x.x.x.x.", 0.8, 0.6)),
        (L(KICK, "X.X.....X.X....."), L(SNARE, "....X.......X...", 0.3), L(HAT, "xxxxxxxxxxxxxxxx", 0.0, 0.6),
         L(CRASH, "x...............", 0.9, 0.5)),
    ),
    bass_patterns=("R.R.R.R.R.R.R.R.", "R-R-R-R-R.R.F.O.", "R...R...R.R.R..."),
    comp_patterns=("x.x.x.x.x.x.x.x.", "x---x---x.x.x---", "x-------x-------"),
    comp_gate=0.85,
    bass_programs=(34, 33, 35), comp_programs=(29, 30, 27, 18), pad_programs=(48, 19, 61),
    lead_programs=(29, 30, 18, 81), bass_gate=0.8, power_chords=True,
))

STYLES: tuple[str, ...] = tuple(STYLE_SPECS)
BPM_MIN, BPM_MAX = 70.0, 180.0

"""Training-time phrasing generator: many more ways to say each edit than the corpus's own 10-12.

The corpus gives every edit type a fixed list of phrasings (training/corpus/edits.py). Performers say
the same things with other words: "hands" for arms, "legs" for knees, "way wider", "a bit lower",
"don't tuck the arms in" for "arms wider", fillers like "ok," or "please". This module composes such
phrasings from small tables, deterministically, so that training/data.TextCache can encode all of
them once before training:

* `SPECS[edit]`: `do` (imperative verb phrases, negatable), `say` (other forms: noun phrases,
  comparatives), `dont` (phrases X such that "don't X" asks for this edit) and `not_so` ("not so
  X" / "less X" asks for it). Placeholders in braces expand over the synonym tables `SYN` (body
  parts, verbs) and `{more}` over the intensifiers `MORE` ("a bit ", "way ", ...).
* negation of the opposite edit: "don't " + every `do` phrase of `OPPOSITE[edit]` without a
  comparative ("don't tuck your arms in" asks for wider arms; "don't spread them wider" does not).
* politeness and filler: every core phrase is wrapped by a few of `WRAPS` ("{} please", "ok, {}").
* edit types without a spec fall back to their corpus training phrasings with the wrappers.

    prompts = phrasings_for("arms_wider")                 # tuple of strings, always the same
    prompts = phrasings_for("steps_wider_cm", {"cm": 15})
    every = all_generated_prompts()                       # what TextCache pre-encodes

Never in the output, by construction of `_excluded_keys`: the corpus's held-out phrasings (the last
HELDOUT_PHRASINGS of every type) and the held-out user phrasings (training/corpus/user_phrasings.json),
compared after lower-casing and removing punctuation and filler words, so that "freeze the arms,
please" cannot slip through for "freeze the arms". The held-out texts are read only to exclude them.
"""
from __future__ import annotations

import itertools
import json
import re
import zlib
from functools import lru_cache
from pathlib import Path

from training.corpus.edits import EDIT_TYPES, HELDOUT_PHRASINGS

USER_PHRASINGS = Path(__file__).with_name("user_phrasings.json")

MAX_POSITIVE = 34   # per edit type (and slot value): phrasings that say the edit directly
MAX_NEGATED = 14    # per edit type: "don't <opposite>" / "not so ..." phrasings

# Intensifiers, placed before comparatives ("arms {more}wider" -> "arms way wider").
MORE = ("", "a bit ", "a little ", "way ", "much ", "a lot ", "slightly ", "even ", "so much ", "a touch ")

SYN: dict[str, tuple[str, ...]] = {
    "arms": ("arms", "hands", "wrists"),
    "the_arms": ("your arms", "the arms", "your hands", "your wrists"),
    "fists": ("fists", "hands", "arms"),
    "knees": ("knees", "legs"),
    "the_knees": ("your knees", "the knees", "your legs"),
    "feet": ("feet", "legs"),
    "the_feet": ("your feet", "the feet", "your legs"),
    "torso": ("upper body", "chest", "torso"),
    "the_torso": ("your upper body", "your chest", "the torso"),
    "moves": ("moves", "movements", "dancing"),
    "raise": ("raise", "lift", "bring up", "put up"),
    "lower": ("lower", "drop", "bring down"),
    "left": ("left",),
    "right": ("right",),
}

# Wrappers for politeness and filler; "{}" is the core phrase.
WRAPS = ("{}", "{} please", "ok, {}", "now {}", "{}, thanks", "alright, {}", "{} for me", "hey, {}",
         "and {}", "{} now")
# Words dropped when comparing with held-out phrasings (see _key).
FILLER = frozenset({"please", "ok", "okay", "now", "thanks", "alright", "hey", "and", "just", "for", "me", "can", "you"})

OPPOSITE_PAIRS = (
    ("more_energy", "less_energy"), ("double_time", "half_time"), ("get_lower", "stand_taller"),
    ("bigger_moves", "smaller_moves"), ("go_wild", "calm_down"), ("arms_wider", "arms_closer"),
    ("raise_arms", "lower_arms"), ("arms_faster", "arms_half_time"), ("bigger_arms", "still_arms"),
    ("lean_forward", "lean_back"), ("lean_left", "lean_right"), ("wider_stance", "narrower_stance"),
    ("more_bounce", "less_bounce"), ("kick_higher", "kick_lower"), ("add_kicks", "stop_kicks"),
    ("add_jumps", "stop_jumping"), ("add_turn", "stop_turning"), ("add_claps", "stop_clapping"),
    ("add_body_roll", "still_torso"), ("side_to_behind", "behind_to_side"),
)
OPPOSITE: dict[str, str] = {**dict(OPPOSITE_PAIRS), **{b: a for a, b in OPPOSITE_PAIRS}}


def _s(do=(), say=(), dont=(), not_so=()) -> dict[str, tuple[str, ...]]:
    return {"do": tuple(do), "say": tuple(say), "dont": tuple(dont), "not_so": tuple(not_so)}


SPECS: dict[str, dict[str, tuple[str, ...]]] = {
    # ---- whole dance
    "more_energy": _s(do=["dance with {more}more energy", "put {more}more power in", "push {more}harder",
                          "bring {more}more energy", "turn the energy up", "give me {more}more energy"],
                      say=["{more}more energy", "{more}more energetic", "{more}more power", "energy up", "{more}harder"],
                      dont=["hold back", "dance so lazily", "be so flat"], not_so=["lazy", "flat", "sleepy"]),
    "less_energy": _s(do=["dance {more}softer", "bring the energy down", "take the energy down", "relax {more}more",
                          "ease up", "dance {more}more gently"],
                      say=["{more}less energy", "{more}less power", "{more}softer", "{more}gentler", "energy down"],
                      dont=["push so hard", "go so hard", "go full out"], not_so=["intense", "hard", "aggressive"]),
    "double_time": _s(do=["go twice as fast", "dance double time", "double the tempo", "speed it up to double",
                          "move at double speed"],
                      say=["double time", "double speed", "twice the speed", "{more}faster, double time"],
                      dont=["drag", "dance so slowly"], not_so=["slow"]),
    "half_time": _s(do=["go half as fast", "dance half time", "halve the tempo", "slow it to half speed",
                        "move at half speed"],
                    say=["half time", "half speed", "half the tempo", "{more}slower, half time"],
                    dont=["rush", "dance so fast"], not_so=["fast", "rushed"]),
    "get_lower": _s(do=["get {more}lower", "bend {the_knees} {more}more", "sink {more}lower", "drop {more}lower",
                        "sit {more}lower", "bend down {more}more"],
                    say=["{more}lower", "{more}deeper knees", "{more}more knee bend", "low stance"],
                    dont=["stand up so straight", "stay so upright"], not_so=["tall", "upright", "straight-legged"]),
    "stand_taller": _s(do=["stand {more}taller", "straighten {the_knees}", "stand up {more}straighter", "rise up {more}taller",
                           "get up {more}higher"],
                       say=["{more}taller", "{more}straighter {knees}", "{more}less knee bend", "upright"],
                       dont=["crouch", "squat so low", "sink so low"], not_so=["low", "crouched", "bent"]),
    "bigger_moves": _s(do=["make the {moves} {more}bigger", "go {more}bigger", "dance {more}bigger",
                           "use {more}more space", "exaggerate the {moves}"],
                       say=["{more}bigger {moves}", "{more}bigger", "{more}larger {moves}"],
                       dont=["keep it so small", "hold back"], not_so=["small", "tiny", "tight"]),
    "smaller_moves": _s(do=["make the {moves} {more}smaller", "go {more}smaller", "dance {more}smaller",
                            "keep the {moves} {more}smaller", "tone the {moves} down"],
                        say=["{more}smaller {moves}", "{more}smaller", "{more}tighter {moves}"],
                        dont=["make it so big", "go so big"], not_so=["big", "huge", "wide"]),
    "go_wild": _s(do=["go nuts", "go all out", "lose it", "go crazy", "let it all out", "go off"],
                  say=["wild", "all out", "full energy", "crazy mode"],
                  dont=["hold back at all", "play it safe"], not_so=["careful", "tame"]),
    "calm_down": _s(do=["calm it down", "keep it chill", "relax", "mellow out", "keep it simple and calm"],
                    say=["chill", "calm", "mellow", "easy does it"],
                    dont=["go crazy", "go wild"], not_so=["wild", "crazy", "hectic"]),
    # ---- arms
    "arms_wider": _s(do=["open {the_arms} {more}wider", "spread {the_arms} {more}wider", "take {the_arms} out {more}wider",
                         "stretch {the_arms} out", "reach {more}wider with {the_arms}", "swing {the_arms} {more}wider"],
                     say=["{arms} {more}wider", "{more}wider {arms}", "{arms} out wide", "{arms} {more}further apart"],
                     dont=["keep {the_arms} so close", "hold {the_arms} in so tight"],
                     not_so=["close with {the_arms}", "narrow with {the_arms}", "tight with {the_arms}"]),
    "arms_closer": _s(do=["bring {the_arms} in", "tuck {the_arms} in", "pull {the_arms} in {more}closer",
                          "keep {the_arms} {more}closer to your body", "hold {the_arms} {more}closer"],
                      say=["{arms} {more}closer", "{arms} in", "{more}narrower {arms}", "{arms} {more}closer together"],
                      dont=["spread {the_arms} so wide", "swing {the_arms} out so wide"],
                      not_so=["wide with {the_arms}", "spread out with {the_arms}"]),
    "raise_arms": _s(do=["{raise} {the_arms} {more}higher", "{raise} {the_arms}", "get {the_arms} up {more}higher",
                         "reach up {more}higher", "hold {the_arms} up high"],
                     say=["{arms} {more}higher", "{arms} up", "{arms} up high", "{more}higher {arms}"],
                     dont=["keep {the_arms} so low", "let {the_arms} hang"], not_so=["low with {the_arms}"]),
    "lower_arms": _s(do=["{lower} {the_arms}", "keep {the_arms} {more}lower", "bring {the_arms} {more}lower",
                         "let {the_arms} sink {more}lower"],
                     say=["{arms} {more}lower", "{arms} down", "{more}lower {arms}"],
                     dont=["hold {the_arms} up so high", "reach up so high"], not_so=["high with {the_arms}"]),
    "raise_left_arm": _s(do=["{raise} your {left} arm", "{raise} the {left} hand", "hold the {left} arm up",
                             "get your {left} hand up"],
                         say=["{left} arm up", "{left} hand up", "{left} arm in the air", "{left} fist up"],
                         dont=["keep the {left} arm down"]),
    "raise_right_arm": _s(do=["{raise} your {right} arm", "{raise} the {right} hand", "hold the {right} arm up",
                              "get your {right} hand up"],
                          say=["{right} arm up", "{right} hand up", "{right} arm in the air", "{right} fist up"],
                          dont=["keep the {right} arm down"]),
    "arms_faster": _s(do=["move {the_arms} {more}faster", "speed up {the_arms}", "double the speed of {the_arms}",
                          "hurry {the_arms}"],
                      say=["{more}faster {arms}", "{arms} {more}faster", "{arms} {more}quicker", "{arms} double time"],
                      dont=["be so slow with {the_arms}"], not_so=["slow with {the_arms}"]),
    "arms_half_time": _s(do=["slow {the_arms} down", "move {the_arms} half as often", "halve the speed of {the_arms}"],
                         say=["{more}slower {arms}", "{arms} {more}slower", "{arms} half time", "half-time {arms}"],
                         dont=["rush {the_arms}"], not_so=["fast with {the_arms}", "busy with {the_arms}"]),
    "legs_slower": _s(do=["slow {the_feet} down", "step {more}slower", "take {the_feet} to half time",
                          "ease off the footwork"],
                      say=["{more}slower {feet}", "{feet} {more}slower", "{more}slower footwork", "half-time {feet}"],
                      dont=["rush {the_feet}", "rush the footwork"], not_so=["fast with {the_feet}"]),
    "bigger_arms": _s(do=["use {the_arms} {more}more", "make {the_arms} {more}bigger", "throw {the_arms} around",
                          "swing {the_arms} {more}bigger"],
                      say=["{more}bigger {arms}", "{more}more {arms}", "{arms} {more}bigger", "{more}more arm movement"],
                      dont=["keep {the_arms} so quiet"], not_so=["stiff with {the_arms}", "shy with {the_arms}"]),
    "still_arms": _s(do=["keep {the_arms} still", "stop moving {the_arms}", "rest {the_arms}", "hold {the_arms} still",
                         "let {the_arms} rest"],
                     say=["still {arms}", "no {arms}", "{arms} still", "quiet {arms}"],
                     dont=["move {the_arms} around", "wave {the_arms} around"], not_so=["busy with {the_arms}"]),
    # ---- torso
    "lean_forward": _s(do=["lean {more}forward", "tip {the_torso} {more}forward", "tilt {the_torso} forward",
                           "lean into it {more}more", "bend forward {more}more"],
                       say=["{more}more forward lean", "{the_torso} forward", "forward lean"],
                       dont=["lean back", "hang back"], not_so=["upright", "leaned back"]),
    "lean_back": _s(do=["lean {more}back", "tip {the_torso} {more}back", "tilt {the_torso} back", "sit back {more}more",
                        "pull {the_torso} back"],
                    say=["{more}more backward lean", "{the_torso} back", "backward lean"],
                    dont=["lean forward", "hunch over"], not_so=["hunched", "leaned forward"]),
    "lean_left": _s(do=["lean {more}more to the left", "lean to your left", "tip {the_torso} to the left",
                        "tilt {the_torso} left", "shift {the_torso} left"],
                    say=["{the_torso} to the left", "lean left", "left lean"], dont=["lean right"]),
    "lean_right": _s(do=["lean {more}more to the right", "lean to your right", "tip {the_torso} to the right",
                         "tilt {the_torso} right", "shift {the_torso} right"],
                     say=["{the_torso} to the right", "lean right", "right lean"], dont=["lean left"]),
    "add_sway": _s(do=["sway {the_torso}", "sway your hips", "rock your hips", "let your hips sway", "swing your hips"],
                   say=["hip sway", "some sway", "hips side to side", "swaying hips"]),
    "add_body_roll": _s(do=["roll {the_torso}", "roll through {the_torso}", "ripple {the_torso}", "do body waves"],
                        say=["body roll", "body rolls", "{torso} roll", "body wave"]),
    "add_shimmy": _s(do=["shake your shoulders", "shimmy", "shake the shoulders", "wiggle the shoulders"],
                     say=["shoulder shakes", "a shimmy", "shimmy shoulders"]),
    "still_torso": _s(do=["keep {the_torso} still", "hold {the_torso} still", "freeze {the_torso}", "stop rolling"],
                      say=["still {torso}", "steady {torso}", "{torso} still", "no {torso} movement"],
                      dont=["sway", "roll {the_torso}", "move {the_torso}"], not_so=["wobbly", "loose in the {torso}"]),
    # ---- legs
    "wider_stance": _s(do=["put {the_feet} {more}further apart", "spread {the_feet} {more}wider", "step {more}wider",
                           "widen your stance", "open {the_feet} {more}wider", "plant {the_feet} {more}wider"],
                       say=["{feet} {more}wider", "{more}wider stance", "{feet} {more}further apart", "{more}wider steps"],
                       dont=["keep {the_feet} so close", "keep {the_feet} together"],
                       not_so=["narrow with {the_feet}", "close with {the_feet}"]),
    "narrower_stance": _s(do=["bring {the_feet} {more}closer", "keep {the_feet} {more}closer together", "step {more}narrower",
                              "narrow your stance", "pull {the_feet} in"],
                          say=["{feet} {more}closer", "{more}narrower stance", "{feet} together", "{more}narrower steps"],
                          dont=["spread {the_feet} so wide", "step so wide"], not_so=["wide with {the_feet}"]),
    "more_bounce": _s(do=["bounce {more}more", "add {more}more bounce", "bounce your knees", "put {more}more bounce in it"],
                      say=["{more}more bounce", "{more}bouncier", "bouncy knees", "{more}more spring"],
                      dont=["stay so flat", "be so stiff"], not_so=["stiff", "flat"]),
    "less_bounce": _s(do=["stop bouncing", "bounce {more}less", "stay level", "smooth out the bounce", "keep it level"],
                      say=["{more}less bounce", "no bouncing", "{more}flatter", "{more}smoother, no bounce"],
                      dont=["bounce", "bounce so much"], not_so=["bouncy", "springy"]),
    "knees_higher": _s(do=["lift {the_knees} {more}higher", "bring {the_knees} up {more}higher", "pull {the_knees} up",
                           "drive {the_knees} up {more}higher", "raise the {left} knee {more}higher",
                           "pick up the {right} knee {more}higher"],
                       say=["{knees} {more}higher", "{more}higher {knees}", "{knees} up", "{more}more knee lift"],
                       dont=["keep {the_knees} so low"], not_so=["low with {the_knees}"]),
    "kick_higher": _s(do=["kick {more}higher", "get the kicks {more}higher", "lift the kicks {more}higher",
                          "kick your {feet} up {more}higher"],
                      say=["{more}higher kicks", "kicks {more}higher", "{more}bigger kicks"],
                      dont=["kick so low"], not_so=["low with the kicks", "small with the kicks"]),
    "kick_lower": _s(do=["kick {more}lower", "keep the kicks {more}lower", "bring the kicks down", "kick {more}smaller"],
                     say=["{more}lower kicks", "kicks {more}lower", "{more}smaller kicks"],
                     dont=["kick so high"], not_so=["high with the kicks", "big with the kicks"]),
    "jump_higher": _s(do=["jump {more}higher", "get {more}more air", "spring {more}higher", "hop {more}higher"],
                      say=["{more}higher jumps", "{more}bigger jumps", "{more}higher hops", "{more}more air"],
                      dont=["jump so low"], not_so=["low on the jumps"]),
    "add_kicks": _s(do=["kick your {feet} out", "throw in kicks", "kick on the beat", "kick forward", "start kicking"],
                    say=["kicks", "some kicks", "front kicks", "a few kicks"],
                    dont=["keep your {feet} down"]),
    "stop_kicks": _s(do=["stop kicking", "drop the kicks", "quit the kicks", "cut out the kicks"],
                     say=["no kicks", "no more kicks", "kicks out", "zero kicks"],
                     dont=["kick", "kick your {feet} out"]),
    "add_jumps": _s(do=["jump", "hop", "start jumping", "jump up and down", "hop on the beat", "jump on the beat",
                        "bounce off the floor"],
                    say=["jumps", "some hops", "jumping", "little jumps"],
                    dont=["stay on the floor", "keep your {feet} on the floor"]),
    "stop_jumping": _s(do=["stop jumping", "stop hopping", "stay on the ground", "keep your {feet} down",
                           "stay grounded"],
                       say=["no jumps", "no hops", "no more hopping", "{feet} on the ground"],
                       dont=["jump", "hop", "leave the ground"]),
    "add_turn": _s(do=["turn around", "spin", "spin around", "do a spin", "rotate", "do a full turn"],
                   say=["a spin", "a turn", "a twirl", "spins"], dont=["keep facing the front"]),
    "stop_turning": _s(do=["stop spinning", "stop turning", "face the front", "keep facing forward", "stay facing front"],
                       say=["no spins", "no turns", "no turning", "no twirls"], dont=["turn", "spin", "turn around"]),
    "add_claps": _s(do=["clap", "clap your hands", "clap on every beat", "clap along", "start clapping"],
                    say=["claps", "hand claps", "clapping on the beat"], dont=["keep your hands apart"]),
    "stop_clapping": _s(do=["stop clapping", "drop the claps", "quit the claps", "keep your hands apart"],
                        say=["no claps", "no more clapping", "claps out"], dont=["clap", "clap your hands"]),
    "add_punches": _s(do=["punch", "punch forward", "throw punches", "jab", "punch out in front", "throw your {fists} forward"],
                      say=["punches", "jabs", "some punches", "boxing arms"]),
    "side_to_behind": _s(do=["cross behind on the side steps", "do grapevines", "step behind instead of to the side"],
                         say=["grapevines", "behind steps", "cross-behind steps"], dont=["just step side to side"]),
    "behind_to_side": _s(do=["just step side to side", "step to the side instead", "do plain side steps"],
                         say=["side steps", "plain side steps", "no grapevines"], dont=["cross behind", "do grapevines"]),
}


def _key(text: str) -> str:
    """Comparison key: lower case, letters/digits only, filler words dropped."""
    words = re.findall(r"[a-z0-9]+", text.lower().replace("'", ""))
    return " ".join(w for w in words if w not in FILLER)


@lru_cache(maxsize=1)
def user_phrasings(path: str | Path = USER_PHRASINGS) -> tuple[dict, ...]:
    """The held-out user phrasing entries (evaluation only)."""
    return tuple(json.loads(Path(path).read_text())["entries"])


@lru_cache(maxsize=1)
def _excluded_keys() -> frozenset[str]:
    """Keys of every held-out phrasing: the corpus's and the user set's."""
    held = [p for et in EDIT_TYPES.values() for p in et.phrasings[len(et.phrasings) - HELDOUT_PHRASINGS:]]
    held += [e["text"] for e in user_phrasings()]
    keys = set()
    for p in held:  # slotted corpus phrasings: every slot value the corpus draws
        for filled in _fill_slots(p):
            keys.add(_key(filled))
    return frozenset(keys)


SLOT_VALUES: dict[str, tuple] = {"cm": (10, 15, 20), "deg": (15, 20, 25), "dir": ("left", "right")}


def _fill_slots(template: str) -> list[str]:
    names = [n for n in SLOT_VALUES if "{" + n + "}" in template]
    if not names:
        return [template]
    return [template.format(**dict(zip(names, vals))) for vals in itertools.product(*(SLOT_VALUES[n] for n in names))]


def _expand(template: str) -> list[str]:
    """Every filling of a template's synonym and intensifier placeholders."""
    names = re.findall(r"\{(\w+)\}", template)
    tables = [MORE if n == "more" else SYN[n] for n in names]
    out = []
    for vals in itertools.product(*tables):
        s = template
        for n, v in zip(names, vals):
            s = s.replace("{" + n + "}", v, 1)
        out.append(" ".join(s.split()))
    return out


def _sample(texts: set[str], n: int, salt: str) -> list[str]:
    """A deterministic, well-spread subset: the n texts with the smallest salted CRC."""
    return sorted(texts, key=lambda t: (zlib.crc32(f"{salt}|{t}".encode()), t))[:n]


def _wrapped(cores: list[str], salt: str) -> set[str]:
    """Each core phrase with two of the wrappers (chosen by its CRC), plus bare."""
    out = set()
    for c in cores:
        h = zlib.crc32(f"{salt}|{c}".encode())
        for w in {WRAPS[0], WRAPS[1 + h % (len(WRAPS) - 1)], WRAPS[1 + (h // 7) % (len(WRAPS) - 1)]}:
            out.add(w.format(c))
    return out


def _cores(edit: str) -> tuple[list[str], list[str]]:
    """(positive, negated) core phrases of an edit type, before wrapping."""
    spec = SPECS.get(edit)
    if spec is None:  # no spec: the corpus's training phrasings
        et = EDIT_TYPES[edit]
        return list(et.phrasings[:len(et.phrasings) - HELDOUT_PHRASINGS]), []
    pos = [p for t in spec["do"] + spec["say"] for p in _expand(t)]
    neg_src = list(spec["dont"])
    if edit in OPPOSITE:  # "don't <what the opposite edit asks>", but not "don't ... wider": that
        # only asks to stop widening, not to narrow
        neg_src += [t for t in SPECS[OPPOSITE[edit]]["do"] if "{more}" not in t]
    neg = []
    for t in neg_src:
        for p in _expand(t):
            neg += [f"don't {p}", f"no need to {p}", f"try not to {p}"]
    for t in spec["not_so"]:
        for p in _expand(t):
            neg += [f"not so {p}", f"less {p}"]
    return pos, neg


def phrasings_for(edit: str, slots: dict | None = None) -> tuple[str, ...]:
    """The generated phrasings of one edit type (and slot values, e.g. {"cm": 15}), in a fixed order."""
    return _phrasings(edit, tuple(sorted((slots or {}).items())))


@lru_cache(maxsize=None)
def _phrasings(edit: str, slots: tuple[tuple[str, object], ...]) -> tuple[str, ...]:
    if edit not in EDIT_TYPES:
        raise KeyError(f"unknown edit type {edit!r}")
    salt = edit + "|" + ",".join(f"{k}={v}" for k, v in (slots or ()))
    pos, neg = _cores(edit)
    if slots:
        pos = [p.format(**dict(slots)) for p in pos]
    excluded = _excluded_keys()
    keep = lambda texts: {t for t in texts if _key(t) not in excluded}  # noqa: E731
    chosen = _sample(keep(_wrapped(pos, salt)), MAX_POSITIVE, salt) + _sample(keep(_wrapped(neg, salt)), MAX_NEGATED, salt)
    return tuple(chosen)


def slot_combinations(edit: str) -> list[dict]:
    """Every slot filling the corpus draws for an edit type ([{}] when it has no slots)."""
    names = sorted({n for p in EDIT_TYPES[edit].phrasings for n in SLOT_VALUES if "{" + n + "}" in p})
    return [dict(zip(names, v)) for v in itertools.product(*(SLOT_VALUES[n] for n in names))] or [{}]


def all_generated_prompts() -> list[str]:
    """Every generated phrasing of every edit type and slot filling, sorted (what TextCache encodes)."""
    out = set()
    for edit in EDIT_TYPES:
        for slots in slot_combinations(edit):
            out.update(phrasings_for(edit, slots or None))
    return sorted(out)

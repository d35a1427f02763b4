"""Long-form evaluation: whole held-out songs danced through the product's own rolling path.

Isolated 5 s windows from scratch are a diagnostic; what a user sees is a whole song danced by
continuation. This module measures that, on songs the model never heard:

* **Songs.** Built here, deterministically, with the corpus's song generator on seeds the training
  corpus never uses (it takes song seeds 0..299; these start at 50,000). Two families:
  `corpus soundfont` (TimGM6mb, the training corpus's instruments) and `unseen soundfont`
  (Debian's FluidR3_GM, other instruments and mixes, tempi pushed to both ends of each style's
  range). Each song carries its exact beats and sections and two corpus dances made for it by the
  corpus's own choreographer (`make_program` + `synthesize`): the ground truth, and a second draw
  that gives the GT-vs-GT reference.
* **Dancing.** `generate`: the song goes through `liveedit.offline.generate` exactly as
  `liveedit generate song.flac` runs it without a beat sidecar: beats from the live engine's causal
  tracker, the one feature extractor, the rolling plan, continuation, cross-fades and
  post-processing. `serve`: the same, but each window hears the music only up to its playhead and
  gets the rest extrapolated from the beats heard so far, as `liveedit serve` feeds the model.
  Music dependence: the same song danced to another held-out song's music, and to silence, then
  scored against this song's true beats and dance.
* **Measures.** Per song and pooled: mean joint speed as a ratio to the ground truth's, the spread of
  that ratio over 5 s stretches (each stretch against the same stretch of the ground truth, so a
  calm breakdown is compared with a calm breakdown), seam spikes (99.5th percentile of the per-frame
  joint acceleration over its median), BAS against the true beats (Bailando's music-beat variant),
  PFC, and FID_k / FID_g / Div_k / Div_g over the 5 s clips of a family (per-song FID from a handful
  of clips would be noise, so it is pooled only), plus how much calmer breakdown sections are than
  the sections around them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from liveedit.offline import rolling
from liveedit.offline.generate import SAMPLE_RATE, generate_motion, track_beats
from model.motion import FPS

CLIP = 150                    # frames of a 5 s clip (the model's window, EDGE's PFC clip)
CORPUS_SEED0 = 50_000         # song seeds of the held-out families (the corpus uses 0..299)
UNSEEN_SEED0 = 60_000
FLUIDR3 = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")   # Debian: fluid-soundfont-gm
LIVE_LEAD = 12                # frames between the audio heard and the end of a live window's known
                              # frames: compute time (~0.1-0.3 s) + the engine's margin
STYLE_ORDER = ("hiphop", "house", "lofi", "rock", "pop", "funk", "latin", "dnb_halftime")


# ============================================================================ held-out songs
@dataclass
class HeldOutSong:
    name: str
    family: str                  # "corpus soundfont" | "unseen soundfont"
    style: str
    bpm: float
    audio: np.ndarray            # (n,) float32 mono at SAMPLE_RATE
    beat_times: np.ndarray       # (B,) exact beats, seconds
    sections: list[dict]         # start, end, kind, energy, has_drums
    gt: np.ndarray               # (T, 151) the corpus choreographer's dance for this song
    gt_alt: np.ndarray           # (T, 151) a second draw of it (GT-vs-GT reference)

    @property
    def frames(self) -> int:
        return len(self.gt)


def _corpus_dances(song, n_frames: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from training.corpus.moves import make_program, synthesize  # noqa: PLC0415

    out = []
    for k in range(2):
        rng = np.random.default_rng([seed, k])
        prog = make_program(rng, song.beat_times, 0, len(song.beat_times), style=song.style,
                            sections=song.sections, downbeat_times=song.downbeat_times)
        out.append(synthesize(prog, song.beat_times, n_frames, downbeat_times=song.downbeat_times).motion())
    return out[0], out[1]


def song_audio(seed: int, family: str, style: str, seconds: float, bpm: float | None = None):
    """One held-out song's composition (training.corpus.songs.Song) and its audio (float32 mono at
    SAMPLE_RATE), without the dances: what the beat benchmark scores the tracker on."""
    from training.corpus.song_render import render_midi  # noqa: PLC0415
    from training.corpus.songs import make_song as compose  # noqa: PLC0415

    unseen = family == "unseen soundfont"
    song = compose(seed, style=style, duration=seconds, bpm=bpm, breakdown=True if seed % 2 == 0 else None,
                   render=not unseen)
    if unseen:
        audio = render_midi(song.midi, SAMPLE_RATE, duration=seconds, soundfont=FLUIDR3)
        audio = (audio * (0.8 / max(1e-6, float(np.abs(audio).max())))).astype(np.float32)
    else:
        audio = np.asarray(song.audio, np.float32)
    return song, audio


def make_song(seed: int, family: str, style: str, seconds: float, bpm: float | None = None) -> HeldOutSong:
    """One held-out song with its beats, sections and corpus dances (deterministic in its arguments)."""
    song, audio = song_audio(seed, family, style, seconds, bpm)
    from model.music import num_frames  # noqa: PLC0415

    n_frames = num_frames(len(audio))   # the extractor's frame count
    gt, alt = _corpus_dances(song, n_frames, seed)
    return HeldOutSong(f"{song.style}_{seed}", family, song.style, float(song.bpm), audio,
                       np.asarray(song.beat_times, np.float64), list(song.sections), gt, alt)


def song_plan(per_family: int, seconds: float) -> list[tuple[int, str, str, float | None]]:
    """(seed, family, style, bpm) of each held-out song. The unseen family alternates the slow and
    fast ends of each style's tempo range (and goes 10% beyond it)."""
    from training.corpus.song_styles import STYLE_SPECS  # noqa: PLC0415

    plan = []
    for i in range(per_family):
        style = STYLE_ORDER[i % len(STYLE_ORDER)]
        plan.append((CORPUS_SEED0 + i, "corpus soundfont", style, None))
    for i in range(per_family if FLUIDR3.is_file() else 0):
        style = STYLE_ORDER[(i + 3) % len(STYLE_ORDER)]
        lo, hi = STYLE_SPECS[style].bpm_range
        bpm = lo * 0.9 if i % 2 == 0 else hi * 1.1
        plan.append((UNSEEN_SEED0 + i, "unseen soundfont", style, round(bpm, 1)))
    return plan


def heldout_songs(per_family: int = 6, seconds: float = 40.0, log: Callable[[str], None] = print) -> list[HeldOutSong]:
    if not FLUIDR3.is_file():
        log(f"longform: {FLUIDR3} is missing, so the unseen-soundfont songs are skipped "
            "(apt-get install fluid-soundfont-gm)")
    return [make_song(seed, fam, style, seconds, bpm) for seed, fam, style, bpm in song_plan(per_family, seconds)]


# ============================================================================ measures
def joint_speed(joints: np.ndarray) -> np.ndarray:
    """(T, 24, 3) -> (T-1,) mean joint speed in m/s."""
    return np.linalg.norm(np.diff(joints, axis=0), axis=-1).mean(-1) * FPS


def seam_spikes(joints: np.ndarray) -> float:
    """99.5th percentile of the per-frame mean joint acceleration over its median: how far the
    sharpest jolts stand out from the dance's ordinary motion (window seams show up here)."""
    acc = np.linalg.norm(np.diff(joints, n=2, axis=0), axis=-1).mean(-1)
    return float(np.percentile(acc, 99.5) / max(np.median(acc), 1e-9))


def clips_of(joints: np.ndarray, beat_times: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Non-overlapping 5 s clips of a whole dance with their beats (seconds from each clip's start)."""
    clips, beats = [], []
    for a in range(0, len(joints) - CLIP + 1, CLIP):
        clips.append(joints[a:a + CLIP])
        bt = beat_times[(beat_times >= a / FPS) & (beat_times < (a + CLIP) / FPS)] - a / FPS
        beats.append(bt)
    return clips, beats


def stretch_ratios(joints: np.ndarray, gt_joints: np.ndarray) -> np.ndarray:
    """Speed of every 5 s stretch over the ground truth's speed on the same stretch, (S,)."""
    v, g = joint_speed(joints), joint_speed(gt_joints)
    n = min(len(v), len(g)) // CLIP
    return np.array([v[i * CLIP:(i + 1) * CLIP].mean() / max(g[i * CLIP:(i + 1) * CLIP].mean(), 1e-6)
                     for i in range(n)])


def breakdown_calm(joints: np.ndarray, sections: Sequence[dict]) -> float | None:
    """1 - speed in drumless breakdowns / speed in the sections around them (None: no breakdown).
    0.3 means the breakdowns are 30% calmer."""
    v = joint_speed(joints)
    calm, around = [], []
    for k, sec in enumerate(sections):
        if sec.get("kind") != "breakdown":
            continue
        a, b = int(sec["start"] * FPS), min(int(sec["end"] * FPS), len(v))
        if b - a < FPS:
            continue
        calm.append(v[a:b].mean())
        for nb in (k - 1, k + 1):
            if 0 <= nb < len(sections) and sections[nb].get("kind") != "breakdown":
                c, d = int(sections[nb]["start"] * FPS), min(int(sections[nb]["end"] * FPS), len(v))
                if d - c >= FPS:
                    around.append(v[c:d].mean())
    if not calm or not around:
        return None
    return float(1.0 - np.mean(calm) / max(np.mean(around), 1e-6))


def song_measures(joints: np.ndarray, song: HeldOutSong, gt_joints: np.ndarray) -> dict[str, Any]:
    from training import metrics as M  # noqa: PLC0415

    clips, beats = clips_of(joints, song.beat_times)
    ratios = stretch_ratios(joints, gt_joints)
    speed = float(joint_speed(joints).mean())
    return {
        "speed": speed,
        "speed_ratio": speed / max(float(joint_speed(gt_joints).mean()), 1e-6),
        "stretch_min": float(ratios.min()) if len(ratios) else math.nan,
        "stretch_median": float(np.median(ratios)) if len(ratios) else math.nan,
        "stretch_max": float(ratios.max()) if len(ratios) else math.nan,
        "seam": seam_spikes(joints),
        "bas": float(M.bas(clips, beats, FPS)["bas_music"]) if clips else math.nan,
        "pfc": float(M.pfc(clips, FPS)) if clips else math.nan,
        "breakdown_calm": breakdown_calm(joints, song.sections),
        "_clips": clips,
        "_stretches": ratios,
    }


# ============================================================================ dancing
@dataclass
class LongformConfig:
    per_family: int = 6
    seconds: float = 40.0
    steps: int = 10
    music_guidance: float = 2.0
    seed: int = 0
    live_lead: int = LIVE_LEAD
    hop: int = rolling.HOP
    context: int = rolling.CONTEXT
    progress: bool = True


CONDITIONS = ("generate", "serve", "other song's music", "silence")


@dataclass
class SongMusic:
    features: np.ndarray         # (T, 35)
    beats: np.ndarray            # the live tracker's beats (what the engine would have)


def _song_music(audio: np.ndarray, n_frames: int) -> SongMusic:
    from model.music import extract_features  # noqa: PLC0415

    beats = np.asarray(track_beats(audio), np.float64)
    return SongMusic(np.asarray(extract_features(audio, beats, n_frames=n_frames), np.float32), beats)


def dance_songs(model, songs: Sequence[HeldOutSong], musics: Sequence[SongMusic],
                cfg: LongformConfig) -> dict[str, list[np.ndarray]]:
    """Every condition's whole-song dance (T, 151) for every song."""
    from tqdm import tqdm  # noqa: PLC0415

    silence = _song_music(np.zeros(len(songs[0].audio), np.float32), songs[0].frames)
    out: dict[str, list[np.ndarray]] = {c: [] for c in CONDITIONS}
    common = dict(steps=cfg.steps, seed=cfg.seed, music_guidance=cfg.music_guidance, hop=cfg.hop,
                  context=cfg.context, progress=False)
    bar = tqdm(total=len(songs) * len(CONDITIONS), desc="long-form", unit="song", disable=not cfg.progress,
               leave=False)
    for i, song in enumerate(songs):
        T = song.frames
        mu = musics[i]
        other = musics[(i + 1) % len(songs)] if len(songs) > 1 else silence
        runs = {
            "generate": (mu.features, mu.beats, None),
            "serve": (mu.features, mu.beats, cfg.live_lead),
            "other song's music": (_fit(other.features, T), other.beats, None),
            "silence": (_fit(silence.features, T), silence.beats, None),
        }
        for cond, (feats, beats, lead) in runs.items():
            out[cond].append(generate_motion(model, feats, beats, live_lead=lead, **common))
            bar.update(1)
    bar.close()
    return out


def nearest_music_dances(songs: Sequence[HeldOutSong], musics: Sequence[SongMusic]) -> list[np.ndarray]:
    """Nearest-neighbour baseline: each 5 s stretch of a song gets the ground-truth stretch of
    another song whose music descriptor (training.eval.music_descriptor) is nearest."""
    from training.eval import music_descriptor  # noqa: PLC0415

    bank = [(i, a, music_descriptor(mu.features[a:a + CLIP]))
            for i, mu in enumerate(musics) for a in range(0, songs[i].frames - CLIP + 1, CLIP)]
    desc = np.stack([d for *_, d in bank])
    mean, std = desc.mean(0), desc.std(0) + 1e-6
    out = []
    for i, (song, mu) in enumerate(zip(songs, musics)):
        dance = song.gt_alt.copy()  # frames past the last whole stretch keep a corpus dance
        for a in range(0, song.frames - CLIP + 1, CLIP):
            q = (music_descriptor(mu.features[a:a + CLIP]) - mean) / std
            dist = (((desc - mean) / std - q) ** 2).sum(-1)
            dist[[k for k, (j, *_) in enumerate(bank) if j == i]] = np.inf  # leave this song out
            j, b, _ = bank[int(dist.argmin())]
            dance[a:a + CLIP] = songs[j].gt[b:b + CLIP]
        out.append(dance)
    return out


def _fit(features: np.ndarray, n: int) -> np.ndarray:
    """Features cut or looped to n frames."""
    reps = int(math.ceil(n / max(1, len(features))))
    return np.concatenate([features] * reps)[:n]


# ============================================================================ the evaluation
def evaluate(model, cfg: LongformConfig | None = None, songs: Sequence[HeldOutSong] | None = None,
             img_dir: Path | None = None, log: Callable[[str], None] = print) -> dict:
    """The long-form section: per-song rows, pooled rows per family and condition, plots."""
    from model.pipeline import describe_sampling  # noqa: PLC0415
    from training import metrics as M  # noqa: PLC0415
    from training.eval import joints_of  # noqa: PLC0415

    cfg = cfg or LongformConfig()
    songs = list(songs) if songs is not None else heldout_songs(cfg.per_family, cfg.seconds, log)
    if len(songs) < 2:
        raise ValueError("the long-form evaluation needs at least 2 songs")
    log(f"longform: {len(songs)} held-out songs of {cfg.seconds:g} s, {len(CONDITIONS)} conditions each")
    musics = [_song_music(s.audio, s.frames) for s in songs]
    dances = dance_songs(model, songs, musics, cfg)
    gt_j = [joints_of(s.gt[None])[0] for s in songs]
    alt_j = [joints_of(s.gt_alt[None])[0] for s in songs]
    nn_j = [joints_of(d[None])[0] for d in nearest_music_dances(songs, musics)]

    rows: list[dict] = []
    per_set: dict[tuple[str, str], list[dict]] = {}
    sets = {"ground truth (second corpus dance)": alt_j, "nearest neighbour (music retrieval)": nn_j}
    sets.update({c: [joints_of(d[None])[0] for d in dances[c]] for c in CONDITIONS})
    for label, joint_list in sets.items():
        for s, j, g in zip(songs, joint_list, gt_j):
            r = song_measures(j, s, g)
            per_set.setdefault((s.family, label), []).append(r)
            if label in ("generate", "serve"):
                rows.append({"song": s.name, "family": s.family, "style": s.style, "bpm": s.bpm,
                             "condition": label, **{k: v for k, v in r.items() if not k.startswith("_")}})
    gt_rows = {s.name: song_measures(g, s, g) for s, g in zip(songs, gt_j)}
    for r in rows:
        r["gt_bas"] = gt_rows[r["song"]]["bas"]
        r["gt_pfc"] = gt_rows[r["song"]]["pfc"]
        r["gt_breakdown_calm"] = gt_rows[r["song"]]["breakdown_calm"]

    pooled: list[dict] = []
    families = list(dict.fromkeys(s.family for s in songs))
    for fam in families + ["all"]:
        members = [i for i, s in enumerate(songs) if fam in ("all", s.family)]
        gt_clips = [c for i in members for c in gt_rows[songs[i].name]["_clips"]]
        gt_beats = [b for i in members for b in clips_of(gt_j[i], songs[i].beat_times)[1]]
        kin_gt, geo_gt = M.motion_features(gt_clips, FPS)
        stats_k, stats_g = M.feature_stats(kin_gt), M.feature_stats(geo_gt)
        gt_speed = float(np.mean([joint_speed(gt_j[i]).mean() for i in members]))
        gt_row = {"family": fam, "set": "ground truth", "fid_k": math.nan, "fid_g": math.nan,
                  "div_k": M.fid_and_diversity(kin_gt, kin_gt, stats_k)[1],
                  "div_g": M.fid_and_diversity(geo_gt, geo_gt, stats_g)[1],
                  "bas": M.bas(gt_clips, gt_beats, FPS)["bas_music"], "pfc": M.pfc(gt_clips, FPS),
                  "speed_ratio": 1.0, "stretch_min": 1.0, "stretch_median": 1.0, "stretch_max": 1.0,
                  "seam": float(np.mean([seam_spikes(gt_j[i]) for i in members])),
                  "breakdown_calm": _mean_calm([gt_rows[songs[i].name] for i in members]),
                  "songs": len(members), "clips": len(gt_clips)}
        pooled.append(gt_row)
        for label in sets:
            rs = [r for f in (families if fam == "all" else [fam]) for r in per_set[(f, label)]]
            clips = [c for r in rs for c in r["_clips"]]
            kin, geo = M.motion_features(clips, FPS)
            fid_k, div_k = M.fid_and_diversity(kin, kin_gt, stats_k)
            fid_g, div_g = M.fid_and_diversity(geo, geo_gt, stats_g)
            stretches = np.concatenate([r["_stretches"] for r in rs])
            speed = float(np.mean([r["speed"] for r in rs]))
            pooled.append({"family": fam, "set": label, "fid_k": fid_k, "fid_g": fid_g, "div_k": div_k,
                           "div_g": div_g, "bas": M.bas(clips, gt_beats, FPS)["bas_music"],
                           "pfc": M.pfc(clips, FPS), "speed_ratio": speed / max(gt_speed, 1e-6),
                           "stretch_min": float(stretches.min()), "stretch_median": float(np.median(stretches)),
                           "stretch_max": float(stretches.max()),
                           "seam": float(np.mean([r["seam"] for r in rs])),
                           "breakdown_calm": _mean_calm(rs), "songs": len(rs), "clips": len(clips)})
    result = {"config": {**{k: v for k, v in cfg.__dict__.items() if k != "progress"},
                         "sampler": describe_sampling(model)},
              "songs": [{"name": s.name, "family": s.family, "style": s.style, "bpm": s.bpm,
                         "seconds": round(len(s.audio) / SAMPLE_RATE, 1),
                         "breakdown": any(x.get("kind") == "breakdown" for x in s.sections)} for s in songs],
              "rows": rows, "pooled": pooled, "goals": goals(pooled)}
    if img_dir is not None:
        result["images"] = draw(songs, dances, gt_j, img_dir)
    return result


def _mean_calm(rows: Sequence[dict]) -> float:
    vals = [r["breakdown_calm"] for r in rows if r.get("breakdown_calm") is not None]
    return float(np.mean(vals)) if vals else math.nan


def _pooled(pooled: Sequence[dict], family: str, label: str) -> dict:
    for r in pooled:
        if r["family"] == family and r["set"] == label:
            return r
    return {}


def goals(pooled: Sequence[dict]) -> list[dict]:
    """The long-form targets, each with its value, target and pass/fail (pooled over all songs;
    the unseen-soundfont ones on that family)."""
    gt, ours = _pooled(pooled, "all", "ground truth"), _pooled(pooled, "all", "generate")
    ref = _pooled(pooled, "all", "ground truth (second corpus dance)")
    nn = _pooled(pooled, "all", "nearest neighbour (music retrieval)")
    other = _pooled(pooled, "all", "other song's music")
    live = _pooled(pooled, "all", "serve")
    unseen = _pooled(pooled, "unseen soundfont", "generate")
    unseen_gt = _pooled(pooled, "unseen soundfont", "ground truth")
    out = []

    def add(name, value, target, ok, fmt="{:.3f}"):
        finite = value is not None and np.isfinite(value) and target is not None and np.isfinite(target)
        out.append({"goal": name, "value": value, "target": target, "pass": bool(ok) if finite else None,
                    "fmt": fmt})

    if not ours:
        return out
    add("speed ratio to the data, pooled, in 0.9-1.1", ours["speed_ratio"], 1.0,
        0.9 <= ours["speed_ratio"] <= 1.1, "{:.2f}")
    add("slowest 5 s stretch >= 0.6 of the data's", ours["stretch_min"], 0.6, ours["stretch_min"] >= 0.6, "{:.2f}")
    add("speed ratio, serve (music extrapolated live), in 0.9-1.1", live.get("speed_ratio"), 1.0,
        0.9 <= live.get("speed_ratio", math.nan) <= 1.1, "{:.2f}")
    add("FID_k <= 2 x GT-vs-GT", ours["fid_k"], 2 * ref.get("fid_k", math.nan),
        ours["fid_k"] <= 2 * ref.get("fid_k", math.nan), "{:.2f}")
    add("FID_k below the nearest-neighbour baseline", ours["fid_k"], nn.get("fid_k"),
        ours["fid_k"] < nn.get("fid_k", math.nan), "{:.2f}")
    add("Div_k >= 0.9 x ground truth", ours["div_k"], 0.9 * gt["div_k"], ours["div_k"] >= 0.9 * gt["div_k"], "{:.2f}")
    add("BAS >= ground truth", ours["bas"], gt["bas"], ours["bas"] >= gt["bas"], "{:.4f}")
    add("BAS drops by >= 0.05 with another song's music", ours["bas"] - other.get("bas", math.nan), 0.05,
        ours["bas"] - other.get("bas", math.nan) >= 0.05, "{:.4f}")
    add("breakdowns >= 30% calmer than the sections around them", ours["breakdown_calm"], 0.3,
        ours["breakdown_calm"] >= 0.3, "{:.0%}")
    add("seam spikes <= 1.2 x the data's", ours["seam"], 1.2 * gt["seam"], ours["seam"] <= 1.2 * gt["seam"], "{:.2f}")
    add("PFC <= 1.2 x ground truth", ours["pfc"], 1.2 * gt["pfc"], ours["pfc"] <= 1.2 * gt["pfc"], "{:.3f}")
    if unseen:
        add("unseen soundfont: speed ratio >= 0.8", unseen["speed_ratio"], 0.8, unseen["speed_ratio"] >= 0.8, "{:.2f}")
        add("unseen soundfont: BAS >= 0.9 x ground truth", unseen["bas"], 0.9 * unseen_gt["bas"],
            unseen["bas"] >= 0.9 * unseen_gt["bas"], "{:.4f}")
    return out


# ============================================================================ pictures
def draw(songs: Sequence[HeldOutSong], dances: dict[str, list[np.ndarray]], gt_j: Sequence[np.ndarray],
         img_dir: Path) -> dict[str, str]:
    """Speed over time against the data's for two songs, and a contact sheet; -> {name: path}."""
    import matplotlib  # noqa: PLC0415
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    from training.eval import joints_of  # noqa: PLC0415
    from training.make_corpus import draw_figure  # noqa: PLC0415

    img_dir = Path(img_dir)
    img_dir.mkdir(parents=True, exist_ok=True)
    picks = _picks(songs)
    fig, axes = plt.subplots(len(picks), 1, figsize=(11, 2.6 * len(picks)), squeeze=False)
    smooth = lambda v: np.convolve(v, np.ones(FPS) / FPS, mode="same")  # noqa: E731 (1 s moving mean)
    for ax, i in zip(axes[:, 0], picks):
        s = songs[i]
        t = np.arange(len(gt_j[i]) - 1) / FPS
        for sec in s.sections:
            if sec.get("kind") == "breakdown":
                ax.axvspan(sec["start"], sec["end"], color="#dddddd", lw=0)
        ax.plot(t, smooth(joint_speed(gt_j[i])), color="k", lw=1.5, label="corpus dance (data)")
        for cond, col in (("generate", "#d62728"), ("serve", "#1f77b4"), ("other song's music", "#aaaaaa")):
            j = joints_of(dances[cond][i][None])[0]
            ax.plot(t, smooth(joint_speed(j)), color=col, lw=1.0, label=cond)
        ax.set_title(f"{s.name} ({s.family}, {s.bpm:.0f} BPM; grey: drumless breakdown)", fontsize=9, loc="left")
        ax.set_ylabel("joint speed (m/s)")
        ax.set_ylim(bottom=0)
    axes[0, 0].legend(fontsize=8, ncol=4, loc="upper right")
    axes[-1, 0].set_xlabel("time (s), 1 s moving mean")
    fig.tight_layout()
    speed_path = img_dir / "longform_speed.png"
    fig.savefig(speed_path, dpi=80)
    plt.close(fig)

    i = picks[0]
    gen = joints_of(dances["generate"][i][None])[0]
    frames = np.linspace(FPS, len(gen) - FPS, 10).astype(int)
    fig, axes = plt.subplots(2, 1, figsize=(16, 4.4))
    for ax, (title, J) in zip(axes, (("corpus dance (data)", gt_j[i]), ("liveedit generate", gen))):
        for c, f in enumerate(frames):
            P = J[f].copy()
            P[:, [0, 2]] -= J[f, 0, [0, 2]]
            draw_figure(ax, P, x_offset=c * 1.6)
            ax.text(c * 1.6, -0.25, f"{f / FPS:.1f} s", ha="center", fontsize=7)
        ax.set_xlim(-0.9, len(frames) * 1.6 - 0.7)
        ax.set_ylim(-0.35, 2.0)
        ax.set_aspect("equal")
        ax.axis("off")
        ax.set_title(f"{title}: {songs[i].name}", fontsize=9, loc="left")
    fig.tight_layout()
    sheet_path = img_dir / "longform_contact_sheet.png"
    fig.savefig(sheet_path, dpi=70)
    plt.close(fig)
    return {"speed": str(speed_path), "contact_sheet": str(sheet_path)}


def _picks(songs: Sequence[HeldOutSong]) -> list[int]:
    """Two songs to plot: the first with a breakdown of each family when there is one."""
    picks = []
    for fam in dict.fromkeys(s.family for s in songs):
        idx = [i for i, s in enumerate(songs) if s.family == fam]
        with_bd = [i for i in idx if any(x.get("kind") == "breakdown" for x in songs[i].sections)]
        picks.append((with_bd or idx)[0])
    if len(picks) < 2:
        picks.append(1 if picks[0] != 1 else 0)
    return picks[:2]


def save_songs(songs: Sequence[HeldOutSong], out: Path) -> None:
    """Write each held-out song as FLAC + beat sidecar JSON, to listen to or to run `liveedit
    generate` on by hand."""
    import json  # noqa: PLC0415

    import soundfile as sf  # noqa: PLC0415

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for s in songs:
        sf.write(out / f"{s.name}.flac", np.clip(s.audio, -1, 1), SAMPLE_RATE, subtype="PCM_16")
        (out / f"{s.name}.json").write_text(json.dumps({"beat_times": s.beat_times.tolist(),
                                                        "sections": s.sections, "family": s.family}))


__all__ = ["HeldOutSong", "LongformConfig", "evaluate", "heldout_songs", "make_song", "song_audio", "song_measures",
           "joint_speed", "seam_spikes", "stretch_ratios", "breakdown_calm", "goals", "save_songs"]

"""Build the procedural dance/edit corpus: songs, seed dances and multi-turn edit chains.

    python training/make_corpus.py --out data/corpus                 # default training corpus
    python training/make_corpus.py --out /tmp/tiny --songs 2 --chains 4 --song-seconds 10 --frames 150
    liveedit corpus --out data/corpus                                # the same, from the CLI
    python training/make_corpus.py --pack data/corpus --out /tmp/pack   # songs/*.json + features only
    python training/make_corpus.py --out /tmp/pack --rebuild          # motions + manifest, no audio tools

Work is split per song: a worker composes and renders one song, saves it with its music features,
then writes all chains of that song (each chain: a seed dance on a window of the song and 3 verified
edits). Workers run in parallel (multiprocessing, os.cpu_count() by default); a tqdm bar counts songs.
The time taken and the size on disk are printed at the end and written into corpus.json.

The chains depend on a song only through songs/<id>.json, so a pack (corpus.json, songs/*.json,
features/*.npy: about 0.1 MB a song) is all a training machine needs: --rebuild remakes the motions
and the manifest there, identical to the full build, without FluidSynth or librosa.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

DEFAULTS = {"songs": 300, "chains": 7000, "song_seconds": 24.0, "frames": 240, "edits": 3,
            "workers": os.cpu_count() or 1, "seed": 0}
# with --rebuild these come from corpus.json, so giving them on the command line is an error
RECIPE_OPTIONS = ("songs", "chains", "song_seconds", "frames", "edits", "seed")


class PackError(Exception):
    """A pack or a corpus to rebuild is incomplete or of another format (one line, naming the file)."""


def _init_worker() -> None:
    import torch  # noqa: PLC0415
    torch.set_num_threads(1)


def song_number(seed: int, song_index: int) -> int:
    """The seed of song `song_index` of a corpus; its id is song_<number:06d>_<style>."""
    return seed * 1_000_003 + song_index


def _plan(songs: int, chains: int) -> tuple[list[int], list[int]]:
    """Chains per song and each song's first chain number."""
    per_song = [chains // songs + (1 if i < chains % songs else 0) for i in range(songs)]
    offsets = np.concatenate([[0], np.cumsum(per_song)[:-1]]).astype(int)
    return per_song, [int(o) for o in offsets]


def _write_chains(out: Path, meta, song_index: int, seed: int, n_chains: int, n_frames: int, n_edits: int,
                  chain_offset: int) -> tuple[list[dict], int]:
    """All chains of one song, motions saved under `out`; -> (manifest records, frames).

    Depends on the song only through `meta` (beats, downbeats, sections, style, duration), so a
    rebuild from songs/<id>.json gives the same records and the same motion files."""
    from training.corpus import format as fmt  # noqa: PLC0415
    from training.corpus.chains import make_chain  # noqa: PLC0415

    split = fmt.song_split(meta.song_id)
    records, frames = [], 0
    counts: dict[str, int] = {}  # edit types used on this song, to balance them
    for j in range(n_chains):
        rng = np.random.default_rng([seed, song_index, j])
        cid = f"c{chain_offset + j:07d}"
        chain = make_chain(meta, rng, cid, n_frames=n_frames, n_edits=n_edits, split=split, type_counts=counts)
        for rec, motion in zip(chain.records, chain.motions):
            fmt.save_motion(out, rec["motion_id"], motion)
            frames += len(motion)
        records.extend(chain.records)
    return records, frames


def _song_task(args: tuple) -> dict:
    """Make one song and all its chains; returns records and counts (runs in a worker)."""
    (out, song_index, seed, n_chains, song_seconds, n_frames, n_edits, silent, chain_offset) = args
    from model.music import extract_features  # noqa: PLC0415
    from training.corpus import format as fmt  # noqa: PLC0415
    from training.corpus.chains import SongMeta  # noqa: PLC0415
    from training.corpus.songs import make_song, save_song  # noqa: PLC0415

    cpu0 = time.process_time()
    out = Path(out)
    song = make_song(song_number(seed, song_index), duration=song_seconds, render=not silent)
    save_song(song, out / fmt.SONGS_DIR)
    feats = extract_features(song.audio, song.beat_times)
    fp = fmt.feature_path(out, song.song_id)
    fp.parent.mkdir(parents=True, exist_ok=True)
    np.save(fp, feats.astype(np.float32))
    meta = SongMeta.from_song(song)
    records, frames = _write_chains(out, meta, song_index, seed, n_chains, n_frames, n_edits, chain_offset)
    return {"records": records, "frames": frames, "song_id": song.song_id, "cpu": time.process_time() - cpu0}


def _rebuild_task(args: tuple) -> dict:
    """All chains of one song of a pack, from its SongMeta (no audio, no features; runs in a worker)."""
    (out, song_index, seed, n_chains, n_frames, n_edits, chain_offset, meta) = args
    cpu0 = time.process_time()
    records, frames = _write_chains(Path(out), meta, song_index, seed, n_chains, n_frames, n_edits, chain_offset)
    return {"records": records, "frames": frames, "song_id": meta.song_id, "cpu": time.process_time() - cpu0}


def _dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def _run_tasks(out: Path, fn, tasks: list[tuple], workers: int, progress: bool, desc: str) -> dict:
    """Run the song tasks (in song order, whatever the number of workers, so the manifest is the
    same on every machine), append their records to the manifest; -> counts and times."""
    from tqdm import tqdm  # noqa: PLC0415

    from training.corpus import format as fmt  # noqa: PLC0415

    if (out / fmt.MANIFEST).exists():
        (out / fmt.MANIFEST).unlink()
    workers = max(1, min(int(workers), len(tasks)))
    t0 = time.time()
    cpu0 = time.process_time()
    st = {"motions": 0, "edit_pairs": 0, "frames": 0, "cpu": 0.0}
    splits: dict[str, int] = {}
    levels: dict[str, int] = {}
    types: dict[str, int] = {}

    def consume(res: dict) -> None:
        st["cpu"] += res["cpu"]
        fmt.write_manifest(out, res["records"], append=True)
        st["motions"] += len(res["records"])
        st["frames"] += res["frames"]
        for r in res["records"]:
            splits[r["split"]] = splits.get(r["split"], 0) + 1
            if r["parent_id"] is not None:
                st["edit_pairs"] += 1
                levels[r["level"]] = levels.get(r["level"], 0) + 1
                types[r["edit_type"]] = types.get(r["edit_type"], 0) + 1

    bar = tqdm(total=len(tasks), unit="song", desc=desc, disable=not progress)
    if workers > 1:
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        with ctx.Pool(workers, initializer=_init_worker) as pool:
            for res in pool.imap(fn, tasks):
                consume(res)
                bar.update(1)
                bar.set_postfix(edits=st["edit_pairs"], frames=st["frames"])
    else:
        _init_worker()
        for t in tasks:
            consume(fn(t))
            bar.update(1)
            bar.set_postfix(edits=st["edit_pairs"], frames=st["frames"])
    bar.close()
    # CPU time spent in the song tasks (measured inside the workers) plus this process: the cost on a
    # free machine, whatever else runs on a shared one
    cpu = st["cpu"] + (time.process_time() - cpu0 if workers > 1 else 0.0)
    return {"motions": st["motions"], "edit_pairs": st["edit_pairs"], "frames": st["frames"], "workers": workers,
            "seconds": round(time.time() - t0, 1), "cpu_seconds": round(cpu, 1), "splits": splits,
            "levels": levels, "edit_types": types}


def build_corpus(out: str | Path, songs: int = DEFAULTS["songs"], chains: int = DEFAULTS["chains"],
                 song_seconds: float = DEFAULTS["song_seconds"], frames: int = DEFAULTS["frames"],
                 edits: int = DEFAULTS["edits"], workers: int = DEFAULTS["workers"], seed: int = DEFAULTS["seed"],
                 silent: bool = False, progress: bool = True) -> dict:
    """Write a corpus to `out` (see docs/corpus.md) and return its summary (also in corpus.json)."""
    from training.corpus import format as fmt  # noqa: PLC0415

    if songs < 1 or chains < 1:
        raise ValueError("need at least one song and one chain")
    if song_seconds * 30 < frames:
        raise ValueError(f"songs of {song_seconds} s are shorter than {frames} frames at 30 fps")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    per_song, offsets = _plan(songs, chains)
    tasks = [(str(out), i, seed, per_song[i], song_seconds, frames, edits, silent, offsets[i])
             for i in range(songs) if per_song[i] > 0]
    st = _run_tasks(out, _song_task, tasks, workers, progress, "corpus")
    summary = {
        "songs": len(tasks), "chains": chains, "motions": st["motions"], "edit_pairs": st["edit_pairs"],
        "frames": st["frames"], "fps": 30, "frames_per_motion": frames, "song_seconds": song_seconds,
        "edits": edits, "seed": seed, "workers": st["workers"], "seconds": st["seconds"],
        "cpu_seconds": st["cpu_seconds"], "bytes": _dir_size(out), "splits": st["splits"], "levels": st["levels"],
        "edit_types": st["edit_types"], "silent_audio": silent,
    }
    fmt.write_header(out, summary)
    return summary


# ---- packs: a corpus without its audio and motions, rebuilt where no audio tools are installed -------

def _read_recipe(root: Path) -> dict:
    from training.corpus import format as fmt  # noqa: PLC0415

    hp = Path(root) / fmt.HEADER
    if not hp.is_file():
        raise PackError(f"{hp}: missing (a pack holds corpus.json, songs/*.json and features/*.npy)")
    try:
        recipe = json.loads(hp.read_text())
    except ValueError as exc:
        raise PackError(f"{hp}: not JSON ({exc})") from exc
    if not isinstance(recipe, dict) or recipe.get("format_version") != fmt.FORMAT_VERSION:
        v = recipe.get("format_version") if isinstance(recipe, dict) else None
        raise PackError(f"{hp}: format_version {v!r}, this liveedit reads format_version {fmt.FORMAT_VERSION}")
    for k in ("songs", "chains", "frames_per_motion", "song_seconds", "seed"):
        if k not in recipe:
            raise PackError(f"{hp}: the recipe has no {k!r}")
    return recipe


def _pack_songs(root: Path, recipe: dict) -> list[tuple[int, Path, Path]]:
    """(song index, songs/<id>.json, features/<id>.npy) of every song the recipe's chains use."""
    from training.corpus import format as fmt  # noqa: PLC0415

    root = Path(root)
    per_song, _ = _plan(int(recipe["songs"]), int(recipe["chains"]))
    out = []
    for i, n in enumerate(per_song):
        if n == 0:
            continue
        num = song_number(int(recipe["seed"]), i)
        found = sorted((root / fmt.SONGS_DIR).glob(f"song_{num:06d}_*.json"))
        if not found:
            raise PackError(f"{root / fmt.SONGS_DIR / f'song_{num:06d}_*.json'}: missing (song {i} of the recipe)")
        if len(found) > 1:
            raise PackError(f"{found[1]}: a second description of song {i} (also {found[0].name})")
        fp = fmt.feature_path(root, found[0].stem)
        if not fp.is_file():
            raise PackError(f"{fp}: missing (music features of song {found[0].stem})")
        out.append((i, found[0], fp))
    return out


TEXT_TABLE = "text_features.pt"  # training.data.CorpusTrainingData.text_cache


def pack_corpus(src: str | Path, dst: str | Path) -> dict:
    """Copy what a rebuild needs (corpus.json, songs/*.json, features/*.npy) from a corpus into `dst`,
    and the encoded edit prompts (text_features.pt, written by training) when the corpus has them, so
    the training machine needs no text encoder: no audio, no MIDI, no motions, no manifest.
    -> {"songs", "files", "bytes"}."""
    import shutil  # noqa: PLC0415

    from training.corpus import format as fmt  # noqa: PLC0415

    src, dst = Path(src), Path(dst)
    if dst.resolve() == src.resolve():
        raise PackError(f"{dst}: the pack must go to another directory than its corpus")
    recipe = _read_recipe(src)
    songs = _pack_songs(src, recipe)
    (dst / fmt.SONGS_DIR).mkdir(parents=True, exist_ok=True)
    (dst / fmt.FEATURES_DIR).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src / fmt.HEADER, dst / fmt.HEADER)
    for _, jp, fp in songs:
        shutil.copyfile(jp, dst / fmt.SONGS_DIR / jp.name)
        shutil.copyfile(fp, dst / fmt.FEATURES_DIR / fp.name)
    files = 1 + 2 * len(songs)
    if (src / TEXT_TABLE).is_file():
        shutil.copyfile(src / TEXT_TABLE, dst / TEXT_TABLE)
        files += 1
    return {"songs": len(songs), "files": files, "bytes": _dir_size(dst)}


def rebuild_corpus(out: str | Path, workers: int = DEFAULTS["workers"], progress: bool = True) -> dict:
    """Rebuild motions/ and manifest.jsonl of a pack in place from its recipe (corpus.json) and its
    songs/*.json, without audio rendering or feature extraction. The result is identical to the full
    build's (same manifest, byte-identical motion files) when made by the same liveedit version.
    Returns the rebuild's summary, with "mismatch": the recipe's counts that came out different."""
    from training.corpus import format as fmt  # noqa: PLC0415
    from training.corpus.chains import SongMeta  # noqa: PLC0415

    out = Path(out)
    recipe = _read_recipe(out)
    seed, frames = int(recipe["seed"]), int(recipe["frames_per_motion"])
    edits = int(recipe.get("edits", DEFAULTS["edits"]))  # corpora made before "edits" was recorded used 3
    if float(recipe["song_seconds"]) * 30 < frames:
        raise PackError(f"{out / fmt.HEADER}: songs of {recipe['song_seconds']} s are shorter than {frames} frames")
    per_song, offsets = _plan(int(recipe["songs"]), int(recipe["chains"]))
    tasks = []
    for i, jp, _ in _pack_songs(out, recipe):
        try:
            meta = SongMeta.from_json(jp)
        except ValueError as exc:
            raise PackError(str(exc)) from exc
        tasks.append((str(out), i, seed, per_song[i], frames, edits, offsets[i], meta))
    st = _run_tasks(out, _rebuild_task, tasks, workers, progress, "rebuild")
    mismatch = {k: (st[k], recipe[k]) for k in ("motions", "edit_pairs", "frames") if k in recipe and st[k] != recipe[k]}
    rebuild = {k: st[k] for k in ("workers", "seconds", "cpu_seconds")}
    rebuild["bytes"] = _dir_size(out)
    info = {k: v for k, v in recipe.items() if k != "format_version"}
    info.update({"edits": edits, "rebuild": rebuild})
    fmt.write_header(out, info)
    return {**recipe, **st, "edits": edits, "bytes": rebuild["bytes"], "mismatch": mismatch}


def format_summary(s: dict) -> str:
    return (f"{s['songs']} songs, {s['chains']} chains, {s['motions']} motions, {s['edit_pairs']} edit pairs, "
            f"{s['frames']:,} frames ({s['frames'] / 30 / 3600:.1f} h of dance) in {s['seconds']:.0f} s "
            f"with {s['workers']} workers ({s['cpu_seconds']:.0f} CPU s); {s['bytes'] / 1e9:.2f} GB on disk")


# ---- pictures -------------------------------------------------------------------------------------

LEFT_SIDE = {1, 4, 7, 10, 13, 16, 18, 20, 22}
RIGHT_SIDE = {2, 5, 8, 11, 14, 17, 19, 21, 23}


def _project(joints: np.ndarray, yaw_deg: float = 12.0, elev_deg: float = 15.0) -> np.ndarray:
    """(..., 24, 3) -> (..., 24, 3) (screen x, screen y, depth): a camera in front of the dancer,
    turned by yaw and looking down a little, so that knees and kicks coming forward show."""
    a, e = np.radians(yaw_deg), np.radians(elev_deg)
    x, y, z = joints[..., 0], joints[..., 1], joints[..., 2]
    # screen right is the dancer's left (+x); depth grows toward the camera
    sx = x * np.cos(a) - z * np.sin(a)
    depth = x * np.sin(a) + z * np.cos(a)
    return np.stack([sx, y * np.cos(e) - depth * np.sin(e), depth], axis=-1)


def draw_figure(ax, joints: np.ndarray, x_offset: float = 0.0, alpha: float = 1.0, yaw_deg: float = 12.0) -> None:
    """One stick figure (24, 3) on a matplotlib axis; left side red, right side blue. yaw_deg turns
    the camera (0 = from the front, 90 = from the dancer's left side)."""
    from model.skeleton import PARENTS  # noqa: PLC0415
    p = _project(joints, yaw_deg=yaw_deg)
    for j in range(1, 24):
        q = PARENTS[j]
        col = "#d62728" if j in LEFT_SIDE else ("#1f77b4" if j in RIGHT_SIDE else "#222222")
        ax.plot([p[j, 0] + x_offset, p[q, 0] + x_offset], [p[j, 1], p[q, 1]], color=col, lw=2.2, alpha=alpha,
                solid_capstyle="round")
    ax.plot([p[15, 0] + x_offset], [p[15, 1] + 0.06], "o", color="#222222", ms=7, alpha=alpha)


def _move_dance(name: str, beats: np.ndarray, n_frames: int):
    from training.corpus import moves as M  # noqa: PLC0415
    spec = M.MOVES[name]
    layers = {lay: M.layer_spec(name) if spec.layer == lay else
              M.layer_spec({"legs": "bounce", "arms": "idle_arms", "torso": "idle_torso"}[lay]) for lay in M.LAYERS}
    if spec.layer != "legs":
        layers["legs"]["amplitude"] = 0.5
    return M.synthesize(M.Program([M.Block(0, 64, **layers)]), beats, n_frames)


def draw_contact_sheet(path: str | Path, moves: list[str] | None = None, frames_per_move: int = 6) -> Path:
    """A grid: one row per move, frames spread over one cycle at 120 BPM; each frame from the front
    and, lighter, from the dancer's left side; floor drawn."""
    import matplotlib  # noqa: PLC0415
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    moves = moves or ["side_step", "behind_step", "kick", "knee_lift", "jump", "turn", "lunge", "clap", "wave",
                      "punch", "point", "roll"]
    beats = np.arange(0.0, 40.0, 0.5)
    n = len(moves)
    fig, axes = plt.subplots(n, 1, figsize=(2.6 * frames_per_move, 1.9 * n))
    for r, name in enumerate(moves):
        d = _move_dance(name, beats, 240)
        ax = axes[r]
        period = {"legs": 4.0, "arms": 2.0, "torso": 2.0}[__import__("training.corpus.moves", fromlist=["MOVES"]).MOVES[name].layer]
        idx = (60 + np.linspace(0, period * 15, frames_per_move, endpoint=False)).astype(int)
        for c, f in enumerate(idx):
            J = d.joints[f].copy()
            J[:, 0] -= d.joints[f, 0, 0]
            J[:, 2] -= d.joints[f, 0, 2]
            draw_figure(ax, J, x_offset=c * 2.4)                            # front
            draw_figure(ax, J, x_offset=c * 2.4 + 1.0, alpha=0.45, yaw_deg=90.0)  # from its left side
        ax.axhline(0.0, color="#2ca02c", lw=1)
        ax.set_xlim(-0.9, frames_per_move * 2.4 - 0.9)
        ax.set_ylim(-0.05, 2.05)
        ax.set_aspect("equal")
        ax.axis("off")
        ax.set_title(name.replace("_", " "), fontsize=10, loc="left")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=70)
    plt.close(fig)
    return path


def example_chain(seed: int = 8, n_frames: int = 240):
    """A chain on a procedural song (no audio rendering), for pictures and docs."""
    from training.corpus.chains import SongMeta, make_chain  # noqa: PLC0415
    from training.corpus.moves import synthesize  # noqa: PLC0415
    from training.corpus.songs import make_song  # noqa: PLC0415
    song = make_song(seed, style="pop", duration=24.0, render=False)
    meta = SongMeta.from_song(song)
    chain = make_chain(meta, np.random.default_rng(seed), "example", n_frames=n_frames, split="test")
    dances = [synthesize(p, meta.beat_times, n_frames, chain.start_time, meta.downbeat_times) for p in chain.programs]
    return chain, dances


def draw_chain(path: str | Path, seed: int = 8, frames: int = 6) -> Path:
    """Seed dance and edits 1-3 side by side: one row each, same frames of the same music."""
    import matplotlib  # noqa: PLC0415
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    chain, dances = example_chain(seed)
    n = len(dances)
    fig, axes = plt.subplots(n, 1, figsize=(2.6 * frames, 2.0 * n))
    idx = np.linspace(20, len(dances[0].joints) - 20, frames).astype(int)
    for r, (rec, d) in enumerate(zip(chain.records, dances)):
        ax = axes[r]
        for c, f in enumerate(idx):
            J = d.joints[f].copy()
            J[:, 0] -= d.joints[f, 0, 0]
            J[:, 2] -= d.joints[f, 0, 2]
            draw_figure(ax, J, x_offset=c * 2.4)
            draw_figure(ax, J, x_offset=c * 2.4 + 1.0, alpha=0.45, yaw_deg=90.0)
        ax.axhline(0.0, color="#2ca02c", lw=1)
        ax.set_xlim(-0.9, frames * 2.4 - 0.9)
        ax.set_ylim(-0.05, 2.05)
        ax.set_aspect("equal")
        ax.axis("off")
        if rec["parent_id"] is None:
            title = "seed dance"
        else:
            ch = ", ".join(f"{k} {'+' if v > 0 else '-'}" for k, v in rec["expected"].items())
            title = f'edit {rec["step"]}: "{rec["text"]}"  ({rec["edit_type"]}, {rec["level"]}; {ch})'
        ax.set_title(title, fontsize=10, loc="left")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=70)
    plt.close(fig)
    return path


def draw_chain_gif(path: str | Path, seed: int = 8, stride: int = 2) -> Path:
    """Animated GIF of the same chain: seed and edits side by side, in time."""
    import matplotlib  # noqa: PLC0415
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    from matplotlib.animation import FuncAnimation, PillowWriter  # noqa: PLC0415

    chain, dances = example_chain(seed)
    fig, ax = plt.subplots(figsize=(2.2 * len(dances), 2.6))

    def frame(i):
        ax.clear()
        f = i * stride
        for c, d in enumerate(dances):
            J = d.joints[f].copy()
            J[:, 0] -= d.joints[0, 0, 0]
            J[:, 2] -= d.joints[0, 0, 2]
            draw_figure(ax, J, x_offset=c * 1.8)
            label = "seed" if c == 0 else f"edit {c}"
            ax.text(c * 1.8, 2.1, label, ha="center", fontsize=9)
        ax.axhline(0.0, color="#2ca02c", lw=1)
        ax.set_xlim(-1.0, len(dances) * 1.8 - 0.8)
        ax.set_ylim(-0.05, 2.25)
        ax.set_aspect("equal")
        ax.axis("off")

    n = len(dances[0].joints) // stride
    anim = FuncAnimation(fig, frame, frames=n)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    anim.save(path, writer=PillowWriter(fps=30 // stride), dpi=50)
    plt.close(fig)
    return path


def draw_all(out_dir: str | Path) -> list[Path]:
    out_dir = Path(out_dir)
    return [draw_contact_sheet(out_dir / "corpus_moves.png"), draw_chain(out_dir / "corpus_chain.png"),
            draw_chain_gif(out_dir / "corpus_chain.gif")]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="output directory (created); with --rebuild the pack to rebuild "
                                                "in place, with --pack where the pack goes")
    d = DEFAULTS
    p.add_argument("--songs", type=int, help=f"number of songs (default {d['songs']})")
    p.add_argument("--chains", type=int, help=f"number of edit chains (default {d['chains']})")
    p.add_argument("--song-seconds", type=float, help=f"song length (default {d['song_seconds']})")
    p.add_argument("--frames", type=int, help=f"frames per dance at 30 fps (default {d['frames']})")
    p.add_argument("--edits", type=int, help=f"edits per chain (default {d['edits']})")
    p.add_argument("--workers", type=int, default=d["workers"],
                   help="parallel processes (default: os.cpu_count(), here %(default)s)")
    p.add_argument("--seed", type=int, help=f"corpus seed (default {d['seed']})")
    p.add_argument("--silent", action="store_true", help="skip audio rendering (silent songs; for quick tests)")
    p.add_argument("--pictures", metavar="DIR", help="also draw the contact sheet and an edit chain into DIR")
    p.add_argument("--no-progress", action="store_true")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--pack", metavar="SRC", help="copy corpus SRC's corpus.json, songs/*.json and features/*.npy "
                                                 "into --out (no audio, no motions): a pack to move elsewhere")
    g.add_argument("--rebuild", action="store_true",
                   help="rebuild motions/ and manifest.jsonl of the pack in --out from its corpus.json, without "
                        "audio tools (no rendering, no feature extraction); identical to the full build")


def _fail(msg: str) -> int:
    print(f"make_corpus: error: {msg}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    if args.pack or args.rebuild:
        mode = "--pack" if args.pack else "--rebuild"
        given = [k for k in RECIPE_OPTIONS if getattr(args, k) is not None] + \
                (["silent"] if args.silent else []) + (["pictures"] if args.pictures else [])
        if given:
            opt = "--" + given[0].replace("_", "-")
            return _fail(f"{opt} does not go with {mode} (a pack's recipe is its corpus.json)")
        try:
            if args.pack:
                s = pack_corpus(args.pack, args.out)
                print(f"packed {s['songs']} songs into {args.out}: {s['files']} files, {s['bytes'] / 1e6:.1f} MB")
                return 0
            s = rebuild_corpus(args.out, workers=args.workers, progress=not args.no_progress)
        except PackError as exc:
            return _fail(str(exc))
        print("rebuilt " + format_summary(s))
        if s["mismatch"]:
            diff = ", ".join(f"{k} {got} (recipe {want})" for k, (got, want) in s["mismatch"].items())
            print(f"make_corpus: the rebuild differs from the recipe in {args.out}/corpus.json: {diff}; "
                  "was the pack made by another liveedit version?", file=sys.stderr)
            return 1
        return 0
    opts = {k: DEFAULTS[k] if getattr(args, k) is None else getattr(args, k) for k in RECIPE_OPTIONS}
    summary = build_corpus(args.out, songs=opts["songs"], chains=opts["chains"], song_seconds=opts["song_seconds"],
                           frames=opts["frames"], edits=opts["edits"], workers=args.workers, seed=opts["seed"],
                           silent=args.silent, progress=not args.no_progress)
    print(format_summary(summary))
    print(json.dumps({k: summary[k] for k in ("splits", "levels")}))
    if args.pictures:
        for p in draw_all(args.pictures):
            print("wrote", p)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())

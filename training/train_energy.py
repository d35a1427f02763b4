"""Train the music-to-energy envelope (model/dynamics.py) on a corpus's songs.

For every song of the corpus the corpus's choreographer dances the whole song DRAWS times (different
moves, the same habits: calmer in drumless breakdowns, livelier in choruses, style by style); the
envelope learns to predict from the song's cached music features how fast those dances move, frame
by frame (log of the smoothed mean joint speed). Songs of the corpus's train split train it, the
others score it: R² on 5-s windows, and how much calmer it expects breakdowns to be than the
sections around them against how much calmer the dances are.

    python training/train_energy.py                       # data/corpus -> model/checkpoints/energy.pt
    python training/train_energy.py --corpus-dir data/tiny --steps 50 --out /tmp/energy.pt

No audio tools are needed: the corpus's features/*.npy and songs/*.json are all it reads. About a
minute on a 2-core CPU.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from model.dynamics import ENERGY_CHECKPOINT, EnergyEnvelope, joint_speed, speed_target  # noqa: E402
from model.motion import FPS, WINDOW  # noqa: E402

DRAWS = 3


def song_splits(corpus: Path) -> dict[str, str]:
    """song_id -> split (train / val / test), from the manifest's seed dances."""
    out: dict[str, str] = {}
    with open(corpus / "manifest.jsonl") as f:
        for line in f:
            row = json.loads(line)
            if row.get("step") == 0:
                out.setdefault(row["song_id"], row["split"])
    return out


def song_dances(corpus: Path, draws: int = DRAWS, log=print) -> list[dict]:
    """One entry per (song, draw): music features (T, 35), target (T,) and the song's sections."""
    from training.corpus.moves import make_program, synthesize  # noqa: PLC0415

    splits = song_splits(corpus)
    songs = sorted((corpus / "songs").glob("*.json"))
    if not songs:
        raise SystemExit(f"train_energy: no songs in {corpus / 'songs'}; build a corpus first "
                         "(python training/make_corpus.py --out data/corpus)")
    out = []
    t0 = time.time()
    for k, path in enumerate(songs):
        song = json.loads(path.read_text())
        features = np.load(corpus / "features" / f"{song['song_id']}.npy").astype(np.float32)
        beats = np.asarray(song["beat_times"], np.float64)
        downbeats = np.asarray(song.get("downbeat_times") or [], np.float64)
        downbeats = downbeats if len(downbeats) else None
        for d in range(draws):
            rng = np.random.default_rng([k, d, 0xE7])
            prog = make_program(rng, beats, 0, len(beats), style=song["style"], sections=song["sections"],
                                downbeat_times=downbeats)
            dance = synthesize(prog, beats, len(features), downbeat_times=downbeats)
            out.append({"music": features, "target": speed_target(joint_speed(dance.joints)).astype(np.float32),
                        "sections": song["sections"], "split": splits.get(song["song_id"], "train")})
    log(f"train_energy: {len(songs)} songs x {draws} dances in {time.time() - t0:.0f} s")
    return out


def _batch(items: list[dict], rng: np.random.Generator, n: int, T: int = WINDOW) -> tuple[torch.Tensor, torch.Tensor]:
    music, target = [], []
    for i in rng.integers(0, len(items), n):
        it = items[i]
        a = int(rng.integers(0, max(1, len(it["music"]) - T + 1)))
        music.append(it["music"][a:a + T])
        target.append(it["target"][a:a + T])
    return torch.as_tensor(np.stack(music)), torch.as_tensor(np.stack(target))   # (n, T, 35), (n, T)


def breakdown_calm(speed: np.ndarray, sections: list[dict]) -> float | None:
    """1 - mean speed in breakdowns / mean speed in the sections next to them (None: no breakdown)."""
    calm, around = [], []
    for k, sec in enumerate(sections):
        if sec.get("kind") != "breakdown":
            continue
        calm.append(speed[int(sec["start"] * FPS):int(sec["end"] * FPS)].mean())
        for nb in (k - 1, k + 1):
            if 0 <= nb < len(sections) and sections[nb].get("kind") != "breakdown":
                around.append(speed[int(sections[nb]["start"] * FPS):int(sections[nb]["end"] * FPS)].mean())
    if not calm or not around:
        return None
    return float(1.0 - np.mean(calm) / max(np.mean(around), 1e-6))


@torch.no_grad()
def score(net: EnergyEnvelope, items: list[dict], rng: np.random.Generator) -> dict[str, float]:
    """R² of the log speed on 5-s windows, and predicted against danced breakdown calm, whole songs."""
    music, target = _batch(items, rng, 256)
    pred = net(music)
    r2 = float(1 - ((pred - target) ** 2).mean() / target.var())
    calm_pred, calm_true = [], []
    for it in items:
        p = net.speed(it["music"])
        c_pred, c_true = breakdown_calm(p, it["sections"]), breakdown_calm(np.exp(it["target"]), it["sections"])
        if c_pred is not None and c_true is not None:
            calm_pred.append(c_pred)
            calm_true.append(c_true)
    return {"r2": r2, "calm_pred": float(np.mean(calm_pred)) if calm_pred else float("nan"),
            "calm_true": float(np.mean(calm_true)) if calm_true else float("nan"), "breakdowns": len(calm_pred)}


def train(items: list[dict], steps: int = 1500, batch: int = 64, lr: float = 2e-3, seed: int = 0,
          progress: bool = True) -> EnergyEnvelope:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = EnergyEnvelope()
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=lr * 0.1)
    from tqdm import tqdm  # noqa: PLC0415

    for _ in tqdm(range(steps), desc="energy envelope", disable=not progress, dynamic_ncols=True):
        music, target = _batch(items, rng, batch)
        loss = ((net(music) - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return net.eval()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus-dir", default=str(REPO / "data" / "corpus"), help="a corpus built by training/make_corpus.py")
    p.add_argument("--out", default=str(ENERGY_CHECKPOINT), help="where to write the envelope (default: the shipped one)")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--draws", type=int, default=DRAWS, help="dances drawn per song")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    corpus = Path(args.corpus_dir)
    if not (corpus / "manifest.jsonl").is_file():
        p.error(f"{corpus} is not a corpus (no manifest.jsonl); build one with python training/make_corpus.py")
    items = song_dances(corpus, args.draws)
    train_items = [it for it in items if it["split"] == "train"]
    held_out = [it for it in items if it["split"] != "train"] or train_items
    net = train(train_items, steps=args.steps, seed=args.seed, progress=not args.quiet)
    s = score(net, held_out, np.random.default_rng(args.seed + 1))
    print(f"train_energy: held-out songs: R² {s['r2']:.3f} on 5-s windows; breakdowns "
          f"{s['calm_pred']:.0%} calmer predicted, {s['calm_true']:.0%} danced ({s['breakdowns']} breakdowns)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    net.save(args.out, corpus=str(corpus.name), steps=args.steps, draws=args.draws, **{k: float(v) for k, v in s.items()})
    print(f"train_energy: wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

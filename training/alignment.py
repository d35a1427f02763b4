"""A small contrastive text / motion-PAIR model: the analogue of the paper's MEAS.

The paper scores edits with a CLIP-like model trained on (motion pair, edit text) and reports the
distance between the two embeddings (MEAS, lower is better). Here:

* motion side: a (before, after) pair of 5 s windows of joint positions. Each window is made root-
  relative (pose) plus its root trajectory (relative to the BEFORE window's first frame), binned to
  10 steps a second (pose sampled, per-joint speed averaged per bin); the encoder sees before, after
  and after - before per step, three 1D convolutions, mean+max pooling, a linear projection.
* text side: the pooled 384-d sentence embedding of the prompt (model.text's MiniLM encoder) through
  a two-layer MLP.
* InfoNCE in both directions with a learnable temperature; pairs in a batch with the same prompt are
  all counted as positives for each other (the corpus repeats phrasings, and punishing the model for
  matching identical texts would only add noise).

Scores: `alignment_distance` = 1 - cosine(text, pair) in [0, 2] (lower = better, the MEAS direction),
and retrieval R@1 / R@3 of text -> motion pair among batches of 32 pairs (exact pair counted only).

Checkpoint: model/checkpoints/alignment.pt holds {"config": dict, "state_dict": tensors,
"feature_mean"/"feature_std": lists, "metrics": dict}; nothing pickled beyond tensors and plain types.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "model" / "checkpoints" / "alignment.pt"
BIN = 3  # frames per step: 30 fps -> 10 steps a second
TextEmbedder = Callable[[list[str]], np.ndarray]  # prompts -> (N, 384) pooled embeddings


# ----------------------------------------------------------------------------- motion features
def window_features(joints: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """(T, 24, 3) joints -> (T // BIN, 96): root-relative pose (69) + root (3) + joint speeds (24).

    `origin` (3,) is subtracted from the root in the ground plane (x, z) so that both windows of a
    pair share one frame of reference (the BEFORE window's first root position).
    """
    j = np.asarray(joints, dtype=np.float32)
    if j.ndim != 3 or j.shape[1:] != (24, 3):
        raise ValueError(f"expected joints (T, 24, 3), got {j.shape}")
    S = len(j) // BIN
    if S < 4:
        raise ValueError(f"window too short for the alignment model: {len(j)} frames")
    j = j[: S * BIN]
    root = j[:, 0] - np.array([origin[0], 0.0, origin[2]], np.float32)  # (T, 3)
    pose = (j[:, 1:] - j[:, :1]).reshape(len(j), -1)  # (T, 69)
    speed = np.linalg.norm(np.diff(j, axis=0, prepend=j[:1]), axis=-1) * 30.0  # (T, 24) m/s
    speed = speed.reshape(S, BIN, 24).mean(axis=1)
    return np.concatenate([pose[::BIN], root[::BIN], speed], axis=1).astype(np.float32)  # (S, 96)


def pair_features(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """(T, 24, 3) before / after joints -> (S, 288) per-step pair features."""
    origin = np.asarray(before, dtype=np.float32)[0, 0]
    b = window_features(before, origin)
    a = window_features(after, origin)
    S = min(len(a), len(b))
    a, b = a[:S], b[:S]
    return np.concatenate([b, a, a - b], axis=1)


# ----------------------------------------------------------------------------- the model
@dataclass
class AlignmentConfig:
    in_dim: int = 288
    text_dim: int = 384
    hidden: int = 128
    embed: int = 128
    steps_per_window: int = 50

    def to_dict(self) -> dict:
        return asdict(self)


class AlignmentModel(nn.Module):
    def __init__(self, cfg: AlignmentConfig):
        super().__init__()
        self.cfg = cfg
        h = cfg.hidden
        self.motion = nn.Sequential(
            nn.Conv1d(cfg.in_dim, h, 5, padding=2), nn.GELU(),
            nn.Conv1d(h, h, 5, stride=2, padding=2), nn.GELU(),
            nn.Conv1d(h, h, 3, stride=2, padding=1), nn.GELU(),
        )
        self.motion_proj = nn.Linear(2 * h, cfg.embed)
        self.text = nn.Sequential(nn.Linear(cfg.text_dim, 2 * h), nn.GELU(), nn.Linear(2 * h, cfg.embed))
        self.log_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))  # CLIP's initial temperature

    def encode_pairs(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, S, in_dim) normalised pair features -> (B, embed) unit vectors."""
        h = self.motion(x.transpose(1, 2))  # (B, hidden, S')
        h = torch.cat([h.mean(-1), h.amax(-1)], dim=-1)  # (B, 2 hidden)
        return F.normalize(self.motion_proj(h), dim=-1)

    def encode_text(self, t: torch.Tensor) -> torch.Tensor:
        """t: (B, text_dim) pooled sentence embeddings -> (B, embed) unit vectors."""
        return F.normalize(self.text(t), dim=-1)


def info_nce(text_z: torch.Tensor, pair_z: torch.Tensor, scale: torch.Tensor, same_text: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE; same_text (B, B) bool marks every pair whose prompt equals row i's."""
    logits = scale * text_z @ pair_z.T  # (B, B)
    target = same_text.float() / same_text.float().sum(1, keepdim=True)
    loss_t = -(target * F.log_softmax(logits, dim=1)).sum(1).mean()
    loss_m = -(target.T * F.log_softmax(logits.T, dim=1)).sum(1).mean()
    return 0.5 * (loss_t + loss_m)


# ----------------------------------------------------------------------------- data
@dataclass
class PairSet:
    """Precomputed inputs: features (N, S, 288), text embeddings (N, 384), prompts (N)."""
    features: np.ndarray
    text: np.ndarray
    prompts: list[str]

    def __len__(self) -> int:
        return len(self.prompts)


def build_pairs(pairs: Sequence[tuple[np.ndarray, np.ndarray, str]], embed: TextEmbedder) -> PairSet:
    """(before joints, after joints, prompt) triples -> a PairSet (features + text embeddings)."""
    if not pairs:
        raise ValueError("no edit pairs to build the alignment set from")
    feats = [pair_features(b, a) for b, a, _ in pairs]
    S = min(len(f) for f in feats)
    prompts = [p for _, _, p in pairs]
    text = np.asarray(embed(prompts), dtype=np.float32)
    if text.shape != (len(prompts), text.shape[-1]):
        raise ValueError(f"text embedder returned {text.shape} for {len(prompts)} prompts")
    # float16 storage: a corpus-sized set (thousands of pairs x 50 steps x 288) stays small
    return PairSet(np.stack([f[:S] for f in feats]).astype(np.float16), text, prompts)


def _same_text(prompts: list[str]) -> torch.Tensor:
    ids = {p: i for i, p in enumerate(dict.fromkeys(prompts))}
    idx = torch.tensor([ids[p] for p in prompts])
    return idx[:, None] == idx[None, :]


# ----------------------------------------------------------------------------- the scorer
@dataclass
class AlignmentScorer:
    """A trained alignment model with its input statistics, ready to score edits."""
    model: AlignmentModel
    mean: np.ndarray
    std: np.ndarray
    metrics: dict = field(default_factory=dict)

    def _x(self, feats: np.ndarray) -> torch.Tensor:
        S = self.model.cfg.steps_per_window
        f = np.asarray(feats).astype(np.float32)
        if f.shape[1] < S:
            f = np.concatenate([f, np.repeat(f[:, -1:], S - f.shape[1], axis=1)], axis=1)
        return torch.as_tensor((f[:, :S] - self.mean) / self.std)

    @torch.no_grad()
    def embed(self, feats: np.ndarray, text: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        self.model.eval()
        return self.model.encode_pairs(self._x(feats)), self.model.encode_text(torch.as_tensor(np.asarray(text, np.float32)))

    def distances(self, feats: np.ndarray, text: np.ndarray) -> np.ndarray:
        """(N,) alignment distance 1 - cos(text_i, pair_i); lower = better aligned."""
        pz, tz = self.embed(feats, text)
        return (1.0 - (pz * tz).sum(-1)).numpy()

    def score_pairs(self, pairs: Sequence[tuple[np.ndarray, np.ndarray, str]], embed: TextEmbedder) -> np.ndarray:
        """(before joints, after joints, prompt) triples -> (N,) alignment distances."""
        ps = build_pairs(pairs, embed)
        return self.distances(ps.features, ps.text)

    def retrieval(self, data: PairSet, batch: int = 32, seed: int = 0) -> dict[str, float]:
        """Text -> motion-pair retrieval R@1, R@3 among shuffled batches of `batch` pairs."""
        order = np.random.default_rng(seed).permutation(len(data))
        hits1 = hits3 = total = 0
        for start in range(0, len(order), batch):
            idx = order[start:start + batch]
            if len(idx) < min(batch, 4):
                continue  # a ragged tail of 1-3 pairs would make retrieval trivially easy
            pz, tz = self.embed(data.features[idx], data.text[idx])
            sim = tz @ pz.T  # (b, b): text i vs pair j
            rank = (sim > sim.diag()[:, None]).sum(1)  # pairs scoring strictly above the true one
            hits1 += int((rank < 1).sum())
            hits3 += int((rank < 3).sum())
            total += len(idx)
        if total == 0:
            return {"r1": float("nan"), "r3": float("nan"), "n": 0}
        return {"r1": hits1 / total, "r3": hits3 / total, "n": total, "batch": batch}

    def save(self, path: str | Path = DEFAULT_PATH) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({
            "config": self.model.cfg.to_dict(),
            "state_dict": self.model.state_dict(),
            "feature_mean": self.mean.tolist(),
            "feature_std": self.std.tolist(),
            "metrics": dict(self.metrics),
        }, path)
        return path

    @classmethod
    def load(cls, path: str | Path = DEFAULT_PATH) -> "AlignmentScorer":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no alignment model at {path}; train one with `python -m training.alignment`")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            model = AlignmentModel(AlignmentConfig(**state["config"]))
            model.load_state_dict(state["state_dict"])
        except Exception as exc:  # noqa: BLE001 - any failure here means the file is not usable
            raise ValueError(f"{path} is not a valid alignment checkpoint: {exc}") from exc
        mean = np.asarray(state["feature_mean"], np.float32)
        std = np.asarray(state["feature_std"], np.float32)
        return cls(model.eval(), mean, std, dict(state.get("metrics", {})))


# ----------------------------------------------------------------------------- training
def train_alignment(
    train: PairSet,
    val: PairSet | None = None,
    steps: int = 1500,
    batch: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    max_seconds: float | None = None,
    cfg: AlignmentConfig | None = None,
    progress: bool = True,
) -> AlignmentScorer:
    """Train the alignment model with InfoNCE; returns a scorer with val retrieval in `.metrics`.

    Runs on one CPU thread: the model is small enough that a second thread gains little, and on a
    busy machine two spinning threads ran 15x slower than one.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(train, val, steps, batch, lr, seed, max_seconds, cfg, progress)
    finally:
        torch.set_num_threads(threads)


def _train(train, val, steps, batch, lr, seed, max_seconds, cfg, progress) -> AlignmentScorer:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    S = train.features.shape[1]
    cfg = cfg or AlignmentConfig(in_dim=train.features.shape[2], text_dim=train.text.shape[1], steps_per_window=S)
    model = AlignmentModel(cfg)
    flat = train.features[:: max(1, len(train) // 2000)].reshape(-1, train.features.shape[-1]).astype(np.float32)
    mean = flat.mean(0)
    std = np.maximum(flat.std(0), 1e-3)
    scorer = AlignmentScorer(model, mean, std)
    t_all = torch.as_tensor(train.text)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-2)
    batch = min(batch, len(train))
    start = time.perf_counter()
    iterator = range(steps)
    if progress:
        from tqdm import tqdm  # noqa: PLC0415

        iterator = tqdm(iterator, desc="alignment", unit="step")
    loss_val = float("nan")
    model.train()
    for step in iterator:
        # Warm-up then cosine decay over the run, measured in steps or in time, whichever ends first,
        # so a time-capped run still ends at a low learning rate.
        done = step / steps if max_seconds is None else max(step / steps, (time.perf_counter() - start) / max_seconds)
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (step + 1) / 20) * 0.5 * (1 + math.cos(math.pi * min(done, 1.0)))
        idx = rng.choice(len(train), size=batch, replace=False)
        x = scorer._x(train.features[idx])  # (batch, S, in_dim) normalised
        x = x + 0.05 * torch.randn_like(x)  # light feature noise: the corpus is clean, generations are not
        pz = model.encode_pairs(x)
        tz = model.encode_text(t_all[idx])
        loss = info_nce(tz, pz, model.log_scale.exp().clamp(max=100.0), _same_text([train.prompts[i] for i in idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss_val = float(loss.detach())
        if progress and step % 20 == 0:
            iterator.set_postfix(loss=f"{loss_val:.3f}")
        if max_seconds is not None and time.perf_counter() - start > max_seconds:
            break
    model.eval()
    scorer.metrics = {"train_loss": loss_val, "steps": step + 1, "train_pairs": len(train),
                      "seconds": round(time.perf_counter() - start, 1)}
    if val is not None and len(val) >= 4:
        r = scorer.retrieval(val)
        scorer.metrics.update({"val_r1": r["r1"], "val_r3": r["r3"], "val_pairs": r["n"],
                               "val_distance": float(scorer.distances(val.features, val.text).mean())})
    return scorer


def default_text_embedder() -> TextEmbedder:
    """Pooled 384-d MiniLM embeddings from model.text's encoder (cached per prompt there)."""
    from model.text import get_text_encoder  # noqa: PLC0415  (loads the encoder: seconds)

    enc = get_text_encoder()

    def embed(prompts: list[str]) -> np.ndarray:
        unique = list(dict.fromkeys(prompts))  # the corpus repeats phrasings; embed each once
        vecs = {}
        for i in range(0, len(unique), 256):
            chunk = unique[i:i + 256]
            for p, v in zip(chunk, enc.embed(chunk).numpy()):
                vecs[p] = v
        return np.stack([vecs[p] for p in prompts]).astype(np.float32) if prompts else np.zeros((0, 384), np.float32)

    return embed


def main(argv: list[str] | None = None) -> int:
    """Train the alignment model on a corpus's ground-truth edit pairs and save it."""
    import argparse  # noqa: PLC0415

    from training.eval import REPO, gt_edit_pairs, load_corpus_windows  # noqa: PLC0415

    p = argparse.ArgumentParser(description="Train the text/motion-pair alignment model (MEAS analogue)")
    p.add_argument("--corpus", default=str(REPO / "data" / "corpus"))
    p.add_argument("--windows", type=int, default=2500, help="at most N training windows (3 edit pairs each)")
    p.add_argument("--val-windows", type=int, default=300)
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--seconds", type=float, default=300.0, help="time budget")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--out", default=str(DEFAULT_PATH))
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    train_w, _ = load_corpus_windows(args.corpus, "train", args.windows)
    val_w, _ = load_corpus_windows(args.corpus, "test", args.val_windows)
    embed = default_text_embedder()
    train = build_pairs(gt_edit_pairs(train_w), embed)
    val = build_pairs(gt_edit_pairs(val_w), embed) if val_w else None
    print(f"alignment: {len(train)} training pairs, {len(val) if val else 0} held-out pairs "
          f"({time.perf_counter() - t0:.0f} s to load)")
    scorer = train_alignment(train, val, steps=args.steps, batch=args.batch, max_seconds=args.seconds)
    scorer.metrics["corpus"] = Path(args.corpus).name
    path = scorer.save(args.out)
    print(f"alignment: saved {path}; " + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                                                 for k, v in scorer.metrics.items()))
    return 0


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())

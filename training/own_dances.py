"""The model's own dances as "dance to edit" in editing-branch training (`train.py --own-current P`).

The editing branch learns from corpus pairs: a procedural dance and its edited version. Live, it edits
the model's own dances, which it reproduces poorly: asked for no change (text dropped), it returns
them calmer (on held-out windows joint speed -0.7 and movement tempo -1.7 corpus spreads, where a
corpus dance comes back within 0.3). Nothing pairs an own dance with an edited version, but the
no-edit half of the task needs no pair: with the text dropped, the target is the dance given.

So before stage 2 a bank of own dances is generated once, through the product's path
(`DanceModel.generate` of the checkpoint the run starts from; the generation branch is frozen in
stage 2, so the bank stays the model's own), for the music of training windows. Each step, a share
of the batch's rows is replaced by a bank entry: its music, and the own dance as the initial, the
current and the target dance, with the text dropped.

    bank = build_bank("model/checkpoints/default.pt", batches, windows=512)
    batch = mix_in(batch, bank, share=0.25, gen=gen)     # batch["own"]: (B,) bool, text dropped there
"""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Iterator

import torch

from model.pipeline import DanceModel

MUSIC_GUIDANCE = 2.0   # DanceModel.generate's default, as the engine dances


def build_bank(checkpoint: str | Path, batches: Iterator[dict], windows: int, steps: int = 10, seed: int = 0,
               chunk: int = 32, progress: bool = True) -> dict[str, torch.Tensor]:
    """Own dances for the music of `windows` training windows drawn from `batches` (draw_windows()
    batches). -> {"music": (K, T, 35), "dance": (K, T, 151)} float32, un-normalised."""
    from training.eval import generate_initial  # noqa: PLC0415  (the evaluation's batched generate)

    if windows < 1:
        raise ValueError(f"windows must be >= 1, got {windows}")
    dm = DanceModel.load(checkpoint)
    music = []
    while sum(len(m) for m in music) < windows:
        music.append(torch.as_tensor(next(batches)["music"], dtype=torch.float32).cpu())
    music_t = torch.cat(music)[:windows]                                               # (K, T, 35)
    dances = generate_initial(dm, [SimpleNamespace(music=m) for m in music_t.numpy()], steps, MUSIC_GUIDANCE,
                              seed, chunk, progress, desc="own dances")
    return {"music": music_t, "dance": torch.as_tensor(dances).float()}


def mix_in(batch: dict, bank: dict[str, torch.Tensor], share: float, gen: torch.Generator) -> dict:
    """Replace about `share` of the rows of an on-device stage-2 batch by bank entries (music; initial,
    current and target = the own dance) and mark them in batch["own"] (B,) bool; compute_losses drops
    their text, so their target is the dance given."""
    target = batch["target"]
    device, B = target.device, target.shape[0]
    own = torch.rand(B, generator=gen, device=device) < share
    out = dict(batch)
    out["own"] = own
    if not bool(own.any()):
        return out
    pick = torch.randint(0, len(bank["dance"]), (int(own.sum()),), generator=gen, device=device).cpu()
    dance = bank["dance"][pick].to(device, target.dtype)
    for key in ("target", "current", "initial"):
        out[key] = batch[key].clone()
        out[key][own] = dance
    out["music"] = batch["music"].clone()
    out["music"][own] = bank["music"][pick].to(device, batch["music"].dtype)
    return out


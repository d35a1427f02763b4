"""The contrastive text / motion-pair model learns synthetic edits and round-trips its checkpoint."""
import numpy as np
import pytest
import torch

from model.skeleton import STANDING_PELVIS_HEIGHT, rest_joint_positions
from training.alignment import AlignmentScorer, build_pairs, info_nce, pair_features, train_alignment

EDITS = ("raise the arms", "lower the arms", "bounce faster", "step to the side")


def _base(rng: np.random.Generator, T: int = 90) -> np.ndarray:
    pose = rest_joint_positions() + np.array([0.0, STANDING_PELVIS_HEIGHT, 0.0], np.float32)
    j = np.repeat(pose[None], T, axis=0).astype(np.float32)
    t = np.arange(T) / 30
    j[:, :, 1] += 0.03 * np.sin(2 * np.pi * rng.uniform(1.5, 2.5) * t + rng.uniform(0, 6))[:, None]
    return j + rng.normal(0, 0.01, size=j.shape).astype(np.float32)


def _apply(j: np.ndarray, edit: str, rng: np.random.Generator) -> np.ndarray:
    out = j.copy()
    t = np.arange(len(j)) / 30
    amount = rng.uniform(0.15, 0.3)
    if edit == "raise the arms":
        out[:, 18:24, 1] += amount
    elif edit == "lower the arms":
        out[:, 18:24, 1] -= amount
    elif edit == "bounce faster":
        out[:, :, 1] += 0.05 * np.sin(2 * np.pi * 4.0 * t)[:, None]
    else:
        out[:, :, 0] += amount * np.sin(2 * np.pi * 1.0 * t)[:, None]
    return out


def _pairs(n: int, seed: int):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        b = _base(rng)
        e = EDITS[i % len(EDITS)]
        out.append((b, _apply(b, e, rng), e))
    return out


def _embed(prompts):
    vecs = {e: np.random.default_rng(k).normal(size=384).astype(np.float32) for k, e in enumerate(EDITS)}
    return np.stack([vecs[p] / np.linalg.norm(vecs[p]) for p in prompts])


def test_pair_features_shape_and_origin():
    b, a, _ = _pairs(1, 0)[0]
    f = pair_features(b, a)
    assert f.shape == (30, 288)
    shifted = pair_features(b + np.array([5.0, 0, 5.0], np.float32), a + np.array([5.0, 0, 5.0], np.float32))
    np.testing.assert_allclose(f, shifted, atol=1e-4)  # both windows expressed from the before window's start


def test_info_nce_is_low_for_matching_embeddings():
    z = torch.nn.functional.normalize(torch.randn(8, 16), dim=-1)
    same = torch.eye(8, dtype=torch.bool)
    assert info_nce(z, z, torch.tensor(20.0), same) < info_nce(z, z.roll(1, 0), torch.tensor(20.0), same)


def test_trains_to_retrieve_synthetic_edits_and_round_trips(tmp_path):
    train = build_pairs(_pairs(64, 1), _embed)
    val = build_pairs(_pairs(32, 2), _embed)
    scorer = train_alignment(train, val, steps=60, batch=32, progress=False)
    # Four edit types in batches of 32: chance R@1 is about 1/32 for the exact pair; a text matches
    # its own type's 8 pairs, so R@3 well above chance needs the model to read the motion.
    r = scorer.retrieval(val)
    assert r["n"] == 32 and r["r3"] > 0.25, r
    d = scorer.distances(val.features, val.text)
    wrong = scorer.distances(val.features, np.roll(val.text, 1, axis=0))  # texts of another edit type
    assert d.mean() < wrong.mean() - 0.2
    path = scorer.save(tmp_path / "alignment.pt")
    again = AlignmentScorer.load(path)
    np.testing.assert_allclose(again.distances(val.features, val.text), d, atol=1e-5)
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="bad.pt"):
        AlignmentScorer.load(tmp_path / "bad.pt")

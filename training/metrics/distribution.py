"""Distribution metrics over feature sets: normalisation, Frechet distance (FID), diversity."""
from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg
from scipy.spatial.distance import pdist


def normalize_by(reference: np.ndarray, *others: np.ndarray, min_std: float = 1e-6) -> list[np.ndarray]:
    """Standardise `reference` and `others` with the reference's per-dimension mean and std.

    Bailando normalises generated and ground-truth features by the ground truth's statistics (std +
    1e-10). A feature that never varies in the reference (e.g. a relational boolean that is always
    false in the corpus) would blow up to 1e10 for any sample that differs, so dimensions whose
    std is below `min_std` are only centred, not scaled.
    """
    ref = np.asarray(reference, dtype=np.float64)
    if ref.ndim != 2 or ref.shape[0] < 1:
        raise ValueError(f"reference features must be (N, D) with N >= 1, got {ref.shape}")
    mean = ref.mean(axis=0)
    std = ref.std(axis=0)
    std = np.where(std < min_std, 1.0, std)
    out = [(ref - mean) / std]
    for o in others:
        o = np.asarray(o, dtype=np.float64)
        if o.ndim != 2 or o.shape[1] != ref.shape[1]:
            raise ValueError(f"features {o.shape} do not match the reference's dimension {ref.shape[1]}")
        out.append((o - mean) / std)
    return out


def feature_stats(reference: np.ndarray, min_std: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and std of (N, D) reference features (std floored to 1 where constant)."""
    ref = np.asarray(reference, dtype=np.float64)
    if ref.ndim != 2 or ref.shape[0] < 1:
        raise ValueError(f"reference features must be (N, D) with N >= 1, got {ref.shape}")
    std = ref.std(axis=0)
    return ref.mean(axis=0), np.where(std < min_std, 1.0, std)


def frechet_distance(a: np.ndarray, b: np.ndarray, eps: float = 1e-6) -> float:
    """Frechet distance between Gaussians fitted to feature sets a (N, D) and b (M, D).

    ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)). With few samples (N <= D) the covariances
    are singular; when the matrix square root is not finite, `eps` is added to both diagonals (as in
    the reference FID code). Needs at least 2 samples on each side.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets must be (N, D) with the same D, got {a.shape} and {b.shape}")
    if a.shape[0] < 2 or b.shape[0] < 2:
        raise ValueError(f"FID needs at least 2 samples per set, got {a.shape[0]} and {b.shape[0]}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a = np.atleast_2d(np.cov(a, rowvar=False))
    s_b = np.atleast_2d(np.cov(b, rowvar=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns about singular matrices; handled below
        covmean = linalg.sqrtm(s_a @ s_b)
        if not np.isfinite(covmean).all():
            off = np.eye(s_a.shape[0]) * eps
            covmean = linalg.sqrtm((s_a + off) @ (s_b + off))
    covmean = np.real(covmean)  # numerical error leaves a tiny imaginary part
    diff = mu_a - mu_b
    fid = float(diff @ diff + np.trace(s_a) + np.trace(s_b) - 2.0 * np.trace(covmean))
    return max(fid, 0.0)  # rounding can leave -1e-12 for identical sets


def diversity(features: np.ndarray) -> float:
    """Mean Euclidean distance over all pairs of rows of (N, D) features (Bailando's Div)."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2:
        raise ValueError(f"features must be (N, D), got {f.shape}")
    if f.shape[0] < 2:
        return float("nan")
    return float(pdist(f).mean())


def fid_and_diversity(gen: np.ndarray, gt: np.ndarray,
                      stats: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[float, float]:
    """FID of generated vs ground-truth features and Div of the generated ones, both normalised
    by ground-truth statistics (Bailando's protocol): `stats` = (mean, std) of a ground-truth pool,
    by default the statistics of `gt` itself."""
    mean, std = stats if stats is not None else feature_stats(gt)
    gen_n = (np.asarray(gen, np.float64) - mean) / std
    gt_n = (np.asarray(gt, np.float64) - mean) / std
    return frechet_distance(gen_n, gt_n), diversity(gen_n)

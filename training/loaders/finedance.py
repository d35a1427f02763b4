"""FineDance (Li et al., ICCV 2023) in its public layout, read into liveedit's 151-d motion at 30 fps.

Layout (github.com/li-ronghui/FineDance, data/finedance):

    <root>/motion/<name>.npy      (T, 315) float: 3 SMPL-X `transl` + 52 joints x 6D, 30 fps
                                  (the preprocessed (T, 319) files, 4 foot contacts first, are read too)
    <root>/music_wav/<name>.wav   the music of the same name
    <root>/smplx_neu_J_1.npy      optional: SMPL-X neutral rest joints (the repository ships it)

The 52 joints are SMPL-X's body (22, the same order as SMPL's first 22) then the left hand (15, index1
first) then the right hand (15); jaw and eyes are not stored. SMPL's hand joints 22/23 take the
rotations of left_index1 / right_index1, the same choice FineDance's own renderer makes in SMPL mode.

6D convention: FineDance writes rotations with pytorch3d's `matrix_to_rotation_6d`, the first two
ROWS of the matrix; liveedit uses the first two COLUMNS (model/rotations.py). Reading the rows with the
column convention would give every joint its inverse rotation, so the matrix is rebuilt row-wise here.

Root: SMPL-X's pelvis is at `transl` + the template pelvis J[0]. With smplx_neu_J_1.npy (or
`pelvis_offset`) that is used; without it the offset is zero. FineDance's floor height varies, so by
default the clip is grounded (feet on y = 0, see common.ground_root), which also absorbs the vertical
part of the template offset.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch

from model.motion import FPS
from model.rotations import rot6d_to_matrix
from training.loaders.common import (
    MotionClip, MotionFormatError, check_finite, decimate, ground_root, to_motion,
)

FINEDANCE_FPS = 30
NUM_FD_JOINTS = 52
LEFT_INDEX1, RIGHT_INDEX1 = 22, 37       # first joint of each hand in the 52-joint order
BODY_JOINTS = 22
TEMPLATE_FILE = "smplx_neu_J_1.npy"


def rows6d_to_matrix(six: np.ndarray) -> np.ndarray:
    """pytorch3d-style 6D (two rows) -> rotation matrices, (..., 6) -> (..., 3, 3)."""
    cols = rot6d_to_matrix(torch.as_tensor(np.asarray(six, dtype=np.float32)))  # Gram-Schmidt as columns
    return cols.transpose(-1, -2).numpy()                                      # ... so transpose to rows


def list_finedance(root: str | Path) -> list[str]:
    motion_dir = Path(root) / "motion"
    if not motion_dir.is_dir():
        raise FileNotFoundError(f"{motion_dir} does not exist; expected the FineDance layout <root>/motion/<name>.npy")
    return sorted(p.stem for p in motion_dir.glob("*.npy"))


def _template_pelvis(root: Path | None) -> np.ndarray | None:
    if root is None or not (root / TEMPLATE_FILE).exists():
        return None
    path = root / TEMPLATE_FILE
    try:
        joints = np.asarray(np.load(path), dtype=np.float32).reshape(-1, 3)
    except Exception as exc:  # noqa: BLE001
        raise MotionFormatError(f"{path}: not a readable SMPL-X joint template ({exc})") from exc
    return joints[0]


def load_finedance_motion(path: str | Path, pelvis_offset: np.ndarray | None = None, ground: bool = True,
                          source_fps: int = FINEDANCE_FPS) -> np.ndarray:
    """One FineDance motion .npy -> (T, 151) float32 at 30 fps."""
    path = Path(path)
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001
        raise MotionFormatError(f"{path}: not a readable .npy array ({type(exc).__name__}: {exc})") from exc
    data = np.asarray(data)
    if data.ndim != 2 or data.shape[1] not in (315, 319):
        raise MotionFormatError(f"{path}: shape {data.shape}, expected (T, 315) = 3 translation + 52 x 6D "
                                "(or (T, 319) with 4 foot contacts first)")
    if data.shape[1] == 319:
        data = data[:, 4:]
    if len(data) < 2:
        raise MotionFormatError(f"{path}: only {len(data)} frame(s)")
    data = data.astype(np.float64)
    check_finite(data, "motion", path)
    data = decimate(data, source_fps, FPS, path)

    transl = data[:, :3]
    mats = rows6d_to_matrix(data[:, 3:].reshape(len(data), NUM_FD_JOINTS, 6))    # (T, 52, 3, 3)
    rotmats = np.concatenate([mats[:, :BODY_JOINTS], mats[:, [LEFT_INDEX1, RIGHT_INDEX1]]], axis=1)  # (T, 24, 3, 3)
    root = transl + (np.zeros(3) if pelvis_offset is None else np.asarray(pelvis_offset, dtype=np.float64))
    root = root.astype(np.float32)
    if ground:
        root = ground_root(rotmats, root)
    return to_motion(rotmats, root)


def iter_finedance(root: str | Path, music_dir: str | Path | None = None, names: Iterable[str] | None = None,
                   require_music: bool = False, ground: bool = True,
                   pelvis_offset: np.ndarray | None = None) -> Iterator[MotionClip]:
    """Yield a MotionClip per <root>/motion/<name>.npy (sorted), music from <music_dir>/<name>.wav.

    music_dir defaults to <root>/music_wav. pelvis_offset defaults to J[0] of <root>/smplx_neu_J_1.npy
    when that file exists.
    """
    root = Path(root)
    music_dir = Path(music_dir) if music_dir is not None else root / "music_wav"
    offset = pelvis_offset if pelvis_offset is not None else _template_pelvis(root)
    for name in (list_finedance(root) if names is None else list(names)):
        path = root / "motion" / f"{name}.npy"
        if not path.exists():
            raise FileNotFoundError(f"FineDance motion {path} does not exist")
        wav = music_dir / f"{name}.wav"
        if not wav.exists():
            if require_music:
                raise FileNotFoundError(f"music {wav} for FineDance motion {name} does not exist")
            wav = None
        yield MotionClip(name=name, motion=load_finedance_motion(path, offset, ground), fps=FPS, audio_path=wav)

"""AIST++ (Li et al. 2021) in its public layout, read into liveedit's 151-d motion at 30 fps.

Layout (the `aist_plusplus_final` annotation folder, plus the AIST Dance DB music):

    <root>/motions/<seq>.pkl     dict: smpl_poses (T, 72) axis-angle (or (T, 24, 3)), smpl_trans (T, 3),
                                 smpl_scaling (1,) or a float, at 60 fps
    <root>/ignore_list.txt       optional: sequences with bad fits, one name per line
    <music_dir>/<music id>.wav   default <root>/wavs; the id is the `m..` field of the name:
                                 gBR_sBM_cAll_d04_mBR0_ch01 -> mBR0.wav

Conversion: translation / scaling is SMPL's `transl` in metres; the root is the pelvis position
(model.skeleton.root_from_smpl_transl). AIST++ is y-up like SMPL, so no axis change. 60 fps becomes 30
fps by keeping every other frame.
"""
from __future__ import annotations

import pickle
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from model.motion import FPS
from model.rotations import np_axis_angle_to_matrix
from model.skeleton import NUM_JOINTS, root_from_smpl_transl
from training.loaders.common import (
    MotionClip, MotionFormatError, check_finite, decimate, ground_root, to_motion,
)

AISTPP_FPS = 60
_MUSIC_FIELD = re.compile(r"^m[A-Z]{2}\d+$")
_CAMERA_FIELD = re.compile(r"^c(\d\d|All)$")


def music_id_from_name(name: str) -> str:
    """The music id of an AIST++ sequence name: gBR_sBM_cAll_d04_mBR0_ch01 -> mBR0."""
    for field in name.split("_"):
        if _MUSIC_FIELD.match(field):
            return field
    raise ValueError(f"AIST++ sequence name {name!r} has no music field like 'mBR0'")


def _canonical(name: str) -> str:
    """Sequence name with the camera field as 'cAll', so video names (c01...) match too."""
    return "_".join("cAll" if _CAMERA_FIELD.match(f) else f for f in name.strip().split("_"))


def read_ignore_list(root: Path) -> set[str]:
    path = Path(root) / "ignore_list.txt"
    if not path.exists():
        return set()
    names = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return {_canonical(Path(n).stem) for n in names if n}


def list_aistpp(root: str | Path, use_ignore_list: bool = True) -> list[str]:
    """Sorted sequence names under <root>/motions, without those in the ignore list."""
    motion_dir = Path(root) / "motions"
    if not motion_dir.is_dir():
        raise FileNotFoundError(f"{motion_dir} does not exist; expected the AIST++ layout <root>/motions/<seq>.pkl")
    names = sorted(p.stem for p in motion_dir.glob("*.pkl"))
    if use_ignore_list:
        ignored = read_ignore_list(Path(root))
        names = [n for n in names if _canonical(n) not in ignored]
    return names


def _load_pickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            data = pickle.load(f)
    except Exception as exc:  # noqa: BLE001  (any unpickling failure means the same thing here)
        raise MotionFormatError(f"{path}: not a readable AIST++ pickle ({type(exc).__name__}: {exc})") from exc
    if not isinstance(data, dict):
        raise MotionFormatError(f"{path}: expected a dict with smpl_poses/smpl_trans/smpl_scaling, got {type(data).__name__}")
    missing = [k for k in ("smpl_poses", "smpl_trans", "smpl_scaling") if k not in data]
    if missing:
        raise MotionFormatError(f"{path}: missing {', '.join(missing)} (keys present: {', '.join(map(str, data))})")
    return data


def load_aistpp_motion(path: str | Path, source_fps: int = AISTPP_FPS, ground: bool = False) -> np.ndarray:
    """One AIST++ motion pickle -> (T', 151) float32 at 30 fps.

    ground=True moves the root vertically so the feet touch y = 0 (AIST++ fits are close already).
    """
    path = Path(path)
    data = _load_pickle(path)
    poses = np.asarray(data["smpl_poses"], dtype=np.float64)
    trans = np.asarray(data["smpl_trans"], dtype=np.float64)
    scaling = np.asarray(data["smpl_scaling"], dtype=np.float64).reshape(-1)
    if poses.ndim == 3 and poses.shape[1:] == (NUM_JOINTS, 3):
        poses = poses.reshape(len(poses), NUM_JOINTS * 3)
    if poses.ndim != 2 or poses.shape[1] != NUM_JOINTS * 3:
        raise MotionFormatError(f"{path}: smpl_poses has shape {poses.shape}, expected (T, 72)")
    if trans.shape != (len(poses), 3):
        raise MotionFormatError(f"{path}: smpl_trans has shape {trans.shape}, expected ({len(poses)}, 3)")
    if scaling.size != 1 or not scaling[0] > 0:
        raise MotionFormatError(f"{path}: smpl_scaling must be one positive number, got {scaling}")
    if len(poses) < 2:
        raise MotionFormatError(f"{path}: only {len(poses)} frame(s)")
    check_finite(poses, "smpl_poses", path)
    check_finite(trans, "smpl_trans", path)

    poses = decimate(poses, source_fps, FPS, path)
    trans = decimate(trans, source_fps, FPS, path)
    rotmats = np_axis_angle_to_matrix(poses.reshape(-1, NUM_JOINTS, 3))  # (T, 24, 3, 3)
    root = root_from_smpl_transl(trans / scaling[0])                      # (T, 3) pelvis, metres
    if ground:
        root = ground_root(rotmats, root)
    return to_motion(rotmats, root)


def iter_aistpp(root: str | Path, music_dir: str | Path | None = None, names: Iterable[str] | None = None,
                use_ignore_list: bool = True, require_music: bool = False, ground: bool = False,
                source_fps: int = AISTPP_FPS) -> Iterator[MotionClip]:
    """Yield a MotionClip per sequence (sorted by name, or the given `names`).

    music_dir defaults to <root>/wavs. A missing wav gives audio_path=None, or FileNotFoundError with
    require_music=True. Names in <root>/ignore_list.txt are skipped unless use_ignore_list=False
    (also when listed explicitly in `names`).
    """
    root = Path(root)
    music_dir = Path(music_dir) if music_dir is not None else root / "wavs"
    if names is None:
        seqs = list_aistpp(root, use_ignore_list)
    else:
        ignored = read_ignore_list(root) if use_ignore_list else set()
        seqs = [n for n in names if _canonical(n) not in ignored]
    for name in seqs:
        path = root / "motions" / f"{name}.pkl"
        if not path.exists():
            raise FileNotFoundError(f"AIST++ motion {path} does not exist")
        try:
            music_id = music_id_from_name(name)
        except ValueError as exc:
            raise MotionFormatError(f"{path}: {exc}") from exc
        wav = music_dir / f"{music_id}.wav"
        if not wav.exists():
            if require_music:
                raise FileNotFoundError(f"music {wav} for AIST++ sequence {name} does not exist")
            wav = None
        yield MotionClip(name=name, motion=load_aistpp_motion(path, source_fps, ground), fps=FPS, audio_path=wav)

"""The dance file: keys and shapes, AIST++ compatibility, history, versions, safe writes."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from liveedit.offline import dancefile
from liveedit.offline.errors import OfflineError, atomic_output
from model import rotations as rot
from model.skeleton import SMPL_TEMPLATE_PELVIS, STANDING_PELVIS_HEIGHT


def random_motion(T: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = np.zeros((T, 151), np.float32)
    m[:, 0:4] = rng.integers(0, 2, (T, 4))
    m[:, 4:7] = rng.normal(0, 0.3, (T, 3)) + [0, STANDING_PELVIS_HEIGHT, 0]
    m[:, 7:] = rot.np_matrix_to_rot6d(rot.np_axis_angle_to_matrix(rng.normal(0, 0.5, (T, 24, 3)))).reshape(T, -1)
    return m


def make_dance(T: int = 40) -> dancefile.Dance:
    music = np.random.default_rng(1).normal(size=(T, 35)).astype(np.float32)
    return dancefile.Dance.new(random_motion(T), np.arange(0, T / 30, 0.5), music,
                               {"song": "song.wav", "song_sha256": "ab", "checkpoint": "x", "seed": 3, "steps": 4},
                               seed=3, steps=4)


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_keys_shapes_and_aist_layout(tmp_path):
    d = make_dance(40)
    p = dancefile.save(d, tmp_path / "d.npz")
    with np.load(p, allow_pickle=False) as z:
        assert z["smpl_poses"].shape == (40, 72)
        assert z["smpl_trans"].shape == (40, 3)
        assert z["smpl_scaling"].tolist() == [1.0]
        assert z["motion"].shape == (40, 151)
        assert int(z["fps"]) == 30
        assert z["music_features"].shape == (40, 35)
        assert z["history_motion"].shape == (1, 40, 151)
        assert int(z["format_version"]) == dancefile.FORMAT_VERSION
        meta = json.loads(str(z["meta"]))
        assert meta["format"] == "liveedit-dance" and meta["seed"] == 3 and meta["song_sha256"] == "ab"
        # AIST++ keys describe the same dance: axis-angle -> rotations, transl + template pelvis = root.
        R = rot.np_axis_angle_to_matrix(z["smpl_poses"].reshape(40, 24, 3))
        R_ours = rot.np_rot6d_to_matrix(z["motion"][:, 7:].reshape(40, 24, 6))
        np.testing.assert_allclose(R, R_ours, atol=1e-4)
        np.testing.assert_allclose(z["smpl_trans"] + SMPL_TEMPLATE_PELVIS, z["motion"][:, 4:7], atol=1e-6)


def test_round_trip_with_history_and_restore(tmp_path):
    d = make_dance(30)
    edited = random_motion(30, seed=5)
    d.append("edit", edited, prompt="arms up", start=0.2, end=0.8, strength=2.0, seed=0, steps=4)
    d.restore(0)
    p = dancefile.save(d, tmp_path / "d.npz")
    back = dancefile.load(p)
    assert [it.kind for it in back.history] == ["generate", "edit", "restore"]
    assert len(back.motions) == 2  # the restore points back, no copy
    np.testing.assert_array_equal(back.current, d.initial)
    np.testing.assert_array_equal(back.motion_of(1), edited)
    assert back.history[1].prompt == "arms up"
    assert "restored iteration 0" in back.history[2].describe()
    with pytest.raises(OfflineError, match="iteration 7 does not exist"):
        back.restore(7)


def test_other_format_version_is_a_clear_error(tmp_path):
    p = dancefile.save(make_dance(), tmp_path / "d.npz")
    with np.load(p, allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    data["format_version"] = np.asarray(99)
    np.savez(tmp_path / "v99.npz", **data)
    with pytest.raises(OfflineError, match="format version 99"):
        dancefile.load(tmp_path / "v99.npz")


def test_plain_aist_file_and_garbage_are_clear_errors(tmp_path):
    np.savez(tmp_path / "aist.npz", smpl_poses=np.zeros((5, 72)), smpl_trans=np.zeros((5, 3)))
    with pytest.raises(OfflineError, match="AIST"):
        dancefile.load(tmp_path / "aist.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file at all")
    with pytest.raises(OfflineError, match="not a readable"):
        dancefile.load(tmp_path / "junk.npz")
    with pytest.raises(OfflineError, match="no such file"):
        dancefile.load(tmp_path / "missing.npz")


def test_failed_write_leaves_the_old_file_untouched(tmp_path):
    p = dancefile.save(make_dance(), tmp_path / "d.npz")
    before = sha(p)
    with pytest.raises(RuntimeError):
        with atomic_output(p) as tmp:
            tmp.write_bytes(b"half a file")
            raise RuntimeError("crash mid-write")
    assert sha(p) == before
    assert sorted(x.name for x in tmp_path.iterdir()) == ["d.npz"]  # no temp file left behind


def test_aist_keys_read_back_by_the_aistpp_loader(tmp_path):
    """The AIST++ keys, put in an AIST++ pickle as they are, give our motion back."""
    import pickle

    from training.loaders.aistpp import load_aistpp_motion

    d = make_dance(30)
    p = dancefile.save(d, tmp_path / "d.npz")
    with np.load(p, allow_pickle=False) as z:
        aist = {k: z[k] for k in ("smpl_poses", "smpl_trans", "smpl_scaling")}
    with open(tmp_path / "gBR_sBM_cAll_d04_mBR0_ch01.pkl", "wb") as f:
        pickle.dump(aist, f)
    back = load_aistpp_motion(tmp_path / "gBR_sBM_cAll_d04_mBR0_ch01.pkl", source_fps=30)
    np.testing.assert_allclose(back[:, 4:7], d.current[:, 4:7], atol=1e-5)
    R = rot.np_rot6d_to_matrix(back[:, 7:].reshape(30, 24, 6))
    np.testing.assert_allclose(R, rot.np_rot6d_to_matrix(d.current[:, 7:].reshape(30, 24, 6)), atol=1e-4)

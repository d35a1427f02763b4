"""The frame clock's numpy pose conversion agrees with model.motion.decode (quaternions, FK joints)."""
import numpy as np
import torch

from liveedit.engine import PoseConverter, rest_motion
from model import motion as mm
from model.skeleton import STANDING_PELVIS_HEIGHT


def test_numpy_conversion_matches_the_model_decoder():
    rng = np.random.default_rng(0)
    conv = PoseConverter()
    for _ in range(40):
        m = rng.standard_normal(151).astype(np.float32)
        root, quats, joints, contacts = conv(m)
        dec = mm.decode(torch.from_numpy(m[None]))
        q_ref = dec.quaternions()[0].numpy()
        assert np.all(np.abs((quats * q_ref).sum(-1)) > 1 - 1e-5)   # same rotation (q ~ -q)
        assert np.all(quats[:, 3] >= 0)
        assert np.allclose(joints, dec.joints()[0].numpy(), atol=1e-4)
        assert np.allclose(root, m[4:7]) and np.allclose(contacts, m[:4])


def test_rest_pose_stands_on_the_floor():
    root, quats, joints, _ = PoseConverter()(rest_motion())
    assert np.allclose(quats, [0, 0, 0, 1])
    assert root[1] == np.float32(STANDING_PELVIS_HEIGHT)
    assert joints[:, 1].min() > 0 and joints[:, 1].min() < 0.05

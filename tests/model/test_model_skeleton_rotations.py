"""Skeleton, forward kinematics, rotations and the 151-d representation."""
import math

import numpy as np
import pytest
import torch

from model import rotations as rot
from model.motion import (MOTION_DIM, Normalizer, canonicalize, contact_labels, decode, encode,
                          encode_axis_angle, joints_from_motion)
from model.skeleton import (JOINT_NAMES, NUM_JOINTS, PARENTS, REST_OFFSETS, STANDING_PELVIS_HEIGHT,
                            forward_kinematics, forward_kinematics_np, rest_joint_positions)


def identity_pose(frames=1):
    return torch.eye(3).expand(frames, NUM_JOINTS, 3, 3).clone()


def test_tree_is_consistent():
    assert len(JOINT_NAMES) == len(PARENTS) == len(REST_OFFSETS) == NUM_JOINTS
    assert all(PARENTS[j] < j for j in range(1, NUM_JOINTS))
    # left joints sit at +x (SMPL faces +z, its left is +x)
    rest = rest_joint_positions()
    assert rest[JOINT_NAMES.index("left_wrist"), 0] > 0.5 > -0.5 > rest[JOINT_NAMES.index("right_wrist"), 0]
    assert 0.85 < STANDING_PELVIS_HEIGHT < 1.05


def test_rest_pose_gives_rest_positions():
    root = torch.tensor([[0.3, 0.9, -0.2]])
    joints = forward_kinematics(identity_pose(), root)[0]
    expected = torch.as_tensor(rest_joint_positions()) + root[0]
    assert torch.allclose(joints, expected, atol=1e-6)


def test_elbow_bend_moves_wrist_where_it_should():
    """Bend the left elbow 90 degrees about +y: the forearm (along +x) swings to point along -z."""
    pose = identity_pose()
    elbow, wrist = JOINT_NAMES.index("left_elbow"), JOINT_NAMES.index("left_wrist")
    pose[0, elbow] = rot.axis_angle_to_matrix(torch.tensor([0.0, math.pi / 2, 0.0]))
    joints = forward_kinematics(pose, torch.zeros(1, 3))[0]
    rest = torch.as_tensor(rest_joint_positions())
    forearm = torch.as_tensor(REST_OFFSETS[wrist])
    # R_y(90) maps (x, y, z) -> (z, y, -x)
    expected = rest[elbow] + torch.stack([forearm[2], forearm[1], -forearm[0]])
    assert torch.allclose(joints[wrist], expected, atol=1e-6)
    assert joints[wrist, 2] < rest[elbow, 2] - 0.2  # the hand now points backwards (-z)
    # nothing upstream of the elbow moved
    assert torch.allclose(joints[:elbow], rest[:elbow], atol=1e-6)


def test_numpy_and_torch_fk_agree():
    aa = torch.randn(7, NUM_JOINTS, 3) * 0.5
    R = rot.axis_angle_to_matrix(aa)
    root = torch.randn(7, 3)
    assert np.allclose(forward_kinematics(R, root).numpy(), forward_kinematics_np(R.numpy(), root.numpy()), atol=1e-5)


def test_rotation_round_trips():
    R = rot.axis_angle_to_matrix(torch.randn(100, 3) * 1.2)
    assert torch.allclose(rot.rot6d_to_matrix(rot.matrix_to_rot6d(R)), R, atol=1e-5)
    assert torch.allclose(rot.quaternion_to_matrix(rot.matrix_to_quaternion(R)), R, atol=1e-5)
    assert torch.allclose(rot.axis_angle_to_matrix(rot.matrix_to_axis_angle(R)), R, atol=1e-5)
    assert np.allclose(rot.np_axis_angle_to_matrix(rot.matrix_to_axis_angle(R).numpy()), R.numpy(), atol=1e-5)
    e = rot.np_matrix_to_euler(R.numpy(), "ZXY")
    import roma
    assert np.allclose(roma.euler_to_rotmat("ZXY", torch.as_tensor(e), degrees=True).numpy(), R.numpy(), atol=1e-5)


def test_quaternion_is_xyzw():
    q = rot.matrix_to_quaternion(rot.axis_angle_to_matrix(torch.tensor([0.0, 0.0, math.pi / 2])))
    assert torch.allclose(q, torch.tensor([0.0, 0.0, math.sqrt(0.5), math.sqrt(0.5)]), atol=1e-6)


def test_6d_of_any_vector_is_a_rotation():
    R = rot.rot6d_to_matrix(torch.randn(50, 6))
    assert torch.allclose(R @ R.transpose(-1, -2), torch.eye(3).expand(50, 3, 3), atol=1e-5)
    assert torch.allclose(torch.linalg.det(R), torch.ones(50), atol=1e-5)


def test_motion_encode_decode_round_trip():
    aa = torch.randn(20, NUM_JOINTS, 3) * 0.4
    root = torch.randn(20, 3)
    m = encode_axis_angle(aa.reshape(20, 72).numpy(), root.numpy())
    assert m.shape == (20, MOTION_DIM)
    dec = decode(m)
    assert torch.allclose(dec.root, root)
    assert torch.allclose(dec.rotmats, rot.axis_angle_to_matrix(aa), atol=1e-5)
    assert joints_from_motion(m).shape == (20, NUM_JOINTS, 3)


def test_contacts_flag_still_feet():
    T = 30
    R = identity_pose(T)
    root = torch.zeros(T, 3)
    root[15:, 0] = torch.arange(T - 15) * 0.05  # walks off at 1.5 m/s after frame 15
    c = contact_labels(forward_kinematics(R, root))
    assert c.shape == (T, 4)
    assert c[:14].all() and not c[15:].any()


def test_normalizer_round_trip_and_state():
    x = torch.randn(500, MOTION_DIM) * 3 + 1
    x[:, :4] = (x[:, :4] > 0).float()
    n = Normalizer.fit(x)
    y = n.normalize(x)
    assert torch.allclose(n.denormalize(y), x, atol=1e-4)
    assert torch.allclose(y[:, 4:].mean(0), torch.zeros(MOTION_DIM - 4), atol=1e-4)
    assert torch.equal(y[:, :4], x[:, :4])  # contacts are not rescaled
    n2 = Normalizer.from_state_dict(n.state_dict())
    assert torch.equal(n2.mean, n.mean) and torch.equal(n2.std, n.std)


def test_canonicalize_faces_forward_at_origin():
    aa = torch.zeros(10, NUM_JOINTS, 3)
    aa[:, 0] = torch.tensor([0.0, 1.0, 0.0])  # turned 57 degrees
    root = torch.tensor([2.0, 0.9, -1.0]).expand(10, 3)
    m = canonicalize(encode(rot.axis_angle_to_matrix(aa), root))
    dec = decode(m)
    assert torch.allclose(dec.root[0], torch.tensor([0.0, 0.9, 0.0]), atol=1e-5)
    assert torch.allclose(dec.rotmats[0, 0], torch.eye(3), atol=1e-5)

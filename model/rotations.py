"""Rotation conversions: axis-angle, matrix, 6D (Zhou et al. 2019), quaternion (x, y, z, w).

Thin, shape-preserving wrappers over `roma` (tested, differentiable, quaternions in XYZW like our wire
format), plus the 6D representation, which roma does not name.

6D convention: the first two COLUMNS of the rotation matrix, stacked as (c0, c1) -> 6 floats, as in
Zhou et al.; the inverse is Gram-Schmidt. (EDGE's pytorch3d code uses rows; nothing here reads
EDGE-format tensors, so the paper's convention wins.)
"""
from __future__ import annotations

import numpy as np
import roma
import torch


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """(..., 3) -> (..., 3, 3)"""
    return roma.rotvec_to_rotmat(axis_angle)


def matrix_to_axis_angle(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 3), angle in [0, pi]"""
    return roma.rotmat_to_rotvec(matrix)


def matrix_to_quaternion(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 4) unit quaternion (x, y, z, w)"""
    return roma.rotmat_to_unitquat(matrix)


def quaternion_to_matrix(quat: torch.Tensor) -> torch.Tensor:
    """(..., 4) quaternion (x, y, z, w), normalised here -> (..., 3, 3)"""
    return roma.unitquat_to_rotmat(roma.quat_normalize(quat))


def matrix_to_rot6d(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 6): first two columns, column-major."""
    return torch.cat([matrix[..., :, 0], matrix[..., :, 1]], dim=-1)


def rot6d_to_matrix(rot6d: torch.Tensor) -> torch.Tensor:
    """(..., 6) -> (..., 3, 3) by Gram-Schmidt; any 6 floats give a valid rotation."""
    a1, a2 = rot6d[..., 0:3], rot6d[..., 3:6]
    b1 = torch.nn.functional.normalize(a1, dim=-1, eps=1e-8)
    b2 = torch.nn.functional.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1, eps=1e-8)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


def axis_angle_to_rot6d(axis_angle: torch.Tensor) -> torch.Tensor:
    """(..., 3) -> (..., 6)"""
    return matrix_to_rot6d(axis_angle_to_matrix(axis_angle))


def rot6d_to_axis_angle(rot6d: torch.Tensor) -> torch.Tensor:
    """(..., 6) -> (..., 3)"""
    return matrix_to_axis_angle(rot6d_to_matrix(rot6d))


def rot6d_to_quaternion(rot6d: torch.Tensor) -> torch.Tensor:
    """(..., 6) -> (..., 4) (x, y, z, w)"""
    return matrix_to_quaternion(rot6d_to_matrix(rot6d))


# ---- NumPy helpers for code paths that should not need torch tensors (exports, corpus). ----

def np_axis_angle_to_matrix(axis_angle: np.ndarray) -> np.ndarray:
    """(..., 3) -> (..., 3, 3), Rodrigues' formula."""
    aa = np.asarray(axis_angle, dtype=np.float64)
    angle = np.linalg.norm(aa, axis=-1, keepdims=True)
    axis = aa / np.maximum(angle, 1e-12)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(aa.shape[:-1] + (3, 3))
    s = np.sin(angle)[..., None]
    c = np.cos(angle)[..., None]
    eye = np.broadcast_to(np.eye(3), k.shape)
    return eye + s * k + (1.0 - c) * (k @ k)


def np_matrix_to_rot6d(matrix: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 6), same convention as `matrix_to_rot6d`."""
    return np.concatenate([matrix[..., :, 0], matrix[..., :, 1]], axis=-1)


def np_rot6d_to_matrix(rot6d: np.ndarray) -> np.ndarray:
    """(..., 6) -> (..., 3, 3), same convention as `rot6d_to_matrix`."""
    return rot6d_to_matrix(torch.as_tensor(np.asarray(rot6d, dtype=np.float32))).numpy()


def np_matrix_to_quaternion(matrix: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 4) (x, y, z, w)."""
    return matrix_to_quaternion(torch.as_tensor(np.asarray(matrix, dtype=np.float32))).numpy()


def np_matrix_to_axis_angle(matrix: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 3)."""
    return matrix_to_axis_angle(torch.as_tensor(np.asarray(matrix, dtype=np.float32))).numpy()


def np_matrix_to_euler(matrix: np.ndarray, order: str = "ZXY") -> np.ndarray:
    """(..., 3, 3) -> (..., 3) intrinsic Euler angles in degrees, in the axis order given (BVH style).

    The returned angles are in the same order as the letters of `order`.
    """
    m = torch.as_tensor(np.asarray(matrix, dtype=np.float64))
    # roma's convention string: upper case = intrinsic rotations.
    return roma.rotmat_to_euler(order.upper(), m, degrees=True).numpy()

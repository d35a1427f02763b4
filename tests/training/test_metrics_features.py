"""Known-answer tests for the kinetic / geometric features, FID and diversity."""
import numpy as np
import pytest

from model.skeleton import STANDING_PELVIS_HEIGHT, rest_joint_positions
from training.metrics import diversity, fid_and_diversity, frechet_distance, geometric_features, kinetic_features
from training.metrics.features import GEOMETRIC_DIM, KINETIC_DIM


def _standing(T: int = 60) -> np.ndarray:
    pose = rest_joint_positions() + np.array([0.0, STANDING_PELVIS_HEIGHT, 0.0], np.float32)
    return np.repeat(pose[None], T, axis=0).astype(np.float64)


def _bailando_kinetic_reference(p: np.ndarray, ft: float, w: int = 2) -> np.ndarray:
    """Direct per-frame transliteration of fairmotion/Bailando's loops (slow, for checking)."""
    T, J, _ = p.shape
    out = []
    for joint in range(J):
        kh = kv = ee = 0.0
        for i in range(1, T):
            vel, n = np.zeros(3), 0
            for j in range(-w, w + 1):
                if i + j - 1 < 0 or i + j >= T:
                    continue
                vel += p[i + j, joint] - p[i + j - 1, joint]
                n += 1
            vel /= n * ft
            kh += vel[0] ** 2 + vel[2] ** 2
            kv += vel[1] ** 2
            acc, n = np.zeros(3), 0
            for j in range(-w, w + 1):
                if i + j - 1 < 0 or i + j + 1 >= T:
                    continue
                v2 = (p[i + j + 1, joint] - p[i + j, joint]) / ft
                v1 = (p[i + j, joint] - p[i + j - 1, joint]) / ft
                acc += (v2 - v1) / ft
                n += 1
            ee += np.linalg.norm(acc / n)
        out += [kh / (T - 1), kv / (T - 1), ee / (T - 1)]
    return np.array(out)


def test_kinetic_matches_the_per_frame_reference_on_random_motion():
    rng = np.random.default_rng(0)
    p = np.cumsum(rng.normal(0, 0.02, size=(25, 24, 3)), axis=0)
    ours = kinetic_features(p, fps=30)
    ref = _bailando_kinetic_reference(p, 1 / 30)
    assert ours.shape == (KINETIC_DIM,)
    np.testing.assert_allclose(ours, ref, rtol=1e-4)


def test_kinetic_constant_velocity_has_known_energy_and_no_acceleration():
    p = _standing(40)
    p[:, :, 0] += np.arange(40)[:, None] * 0.05  # 0.05 m a frame = 1.5 m/s along x
    k = kinetic_features(p, fps=30).reshape(24, 3)
    np.testing.assert_allclose(k[:, 0], 1.5**2, rtol=1e-5)  # horizontal KE = v^2
    np.testing.assert_allclose(k[:, 1], 0.0, atol=1e-9)
    np.testing.assert_allclose(k[:, 2], 0.0, atol=1e-6)


def test_geometric_standing_still_and_bent_elbow():
    still = geometric_features(_standing(30))
    assert still.shape == (GEOMETRIC_DIM,)
    assert set(np.unique(still)) <= {0.0, 1.0}
    for fast in (12, 13, 21, 22, 31):  # "fast" wrist / ankle / root features
        assert still[fast] == 0.0
    assert still[6] == 0.0 and still[7] == 0.0  # straight arms: elbow angle 180 deg, not in (0, 110)
    assert still[28] == 0.0  # torso upright, not horizontal
    bent = _standing(30)
    relbow, rwrist = 19, 21
    forearm = np.linalg.norm(bent[0, rwrist] - bent[0, relbow])
    bent[:, rwrist] = bent[:, relbow] + np.array([0.0, forearm, 0.0])  # forearm up: 90 deg bend
    assert geometric_features(bent)[6] == 1.0


def test_geometric_fast_wrist_and_translation_invariance():
    p = _standing(30)
    p[:, 21, 2] += np.arange(30) * 0.1  # right wrist at 3 m/s, above 2.5 x humerus per second
    g = geometric_features(p)
    assert g[12] == 1.0 and g[13] == 0.0
    np.testing.assert_array_equal(geometric_features(p + np.array([3.0, 0.5, -2.0])), g)


def test_fid_of_a_set_with_itself_is_zero_and_grows_with_a_shift():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(200, 8))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    small = frechet_distance(a + 0.5, a)
    large = frechet_distance(a + 2.0, a)
    assert small == pytest.approx(8 * 0.25, rel=1e-6)  # shift of 0.5 in 8 dims: ||mu||^2 = 2
    assert large > small > 0


def test_fid_with_fewer_samples_than_dimensions_is_finite():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(5, 72)), rng.normal(size=(6, 72))
    assert np.isfinite(frechet_distance(a, b))
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(a[:1], b)


def test_diversity_of_identical_clips_is_zero_and_of_two_points_is_their_distance():
    x = np.tile(np.arange(5.0), (4, 1))
    assert diversity(x) == 0.0
    assert diversity(np.array([[0.0, 0.0], [3.0, 4.0]])) == pytest.approx(5.0)


def test_fid_and_diversity_normalise_by_ground_truth_and_survive_constant_features():
    rng = np.random.default_rng(3)
    gt = rng.normal(size=(50, 4))
    gt[:, 3] = 0.0  # a feature that never varies in the ground truth
    fid, div = fid_and_diversity(gt.copy(), gt)
    assert fid == pytest.approx(0.0, abs=1e-6) and div > 0
    gen = gt.copy()
    gen[:, 3] = 1.0
    fid2, _ = fid_and_diversity(gen, gt)
    assert 0.5 < fid2 < 2.0  # centred but not divided by a zero std


def test_fid_with_pooled_statistics_is_not_blown_up_by_a_near_constant_held_out_dimension():
    from training.metrics import feature_stats

    rng = np.random.default_rng(4)
    pool = rng.normal(size=(300, 3))
    held = pool[:10].copy()
    held[:, 2] = 1e-4 * rng.normal(size=10)  # almost constant in the small held-out set
    other = pool[100:110]
    own, _ = fid_and_diversity(other, held)
    pooled, _ = fid_and_diversity(other, held, feature_stats(pool))
    assert own > 1e4 and pooled < 20

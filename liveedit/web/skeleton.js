// The SMPL 24-joint skeleton and forward kinematics, with no three.js dependency.
//
// Frame: SMPL's, metres, y-up, right-handed, the body facing +z (see docs/protocol.md).
// The defaults below mirror model/skeleton.py; the server's hello message overrides them.

export const DEFAULT_SKELETON = Object.freeze({
  names: [
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
  ],
  parents: [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21],
  offsets: [
    [0.0, 0.0, 0.0], [0.058581, -0.08228, -0.017664], [-0.06031, -0.090513, -0.013543],
    [0.004439, 0.124404, -0.038385], [0.043451, -0.386469, 0.008037], [-0.043257, -0.383688, -0.004843],
    [0.004488, 0.137956, 0.02682], [-0.01479, -0.426875, -0.037428], [0.019056, -0.420045, -0.034562],
    [-0.002265, 0.056032, 0.002855], [0.041054, -0.060286, 0.122042], [-0.03484, -0.062106, 0.130323],
    [-0.01339, 0.211636, -0.033468], [0.071702, 0.114, -0.018898], [-0.082954, 0.112472, -0.023707],
    [0.010113, 0.088937, 0.05041], [0.122921, 0.045205, -0.019046], [-0.113228, 0.046853, -0.008472],
    [0.255332, -0.015649, -0.022946], [-0.260127, -0.014369, -0.031269], [0.265709, 0.012698, -0.007375],
    [-0.269108, 0.006794, -0.006027], [0.086691, -0.010636, -0.015594], [-0.088754, -0.008652, -0.010107],
  ],
});

// Pelvis height of the rest pose standing on the floor (model/skeleton.py STANDING_PELVIS_HEIGHT).
export const STANDING_PELVIS_HEIGHT = 0.9764;

/** Which side a joint belongs to: "left", "right" or "center" (from its name). */
export function jointSide(name) {
  if (name.startsWith("left")) return "left";
  if (name.startsWith("right")) return "right";
  return "center";
}

// Hamilton product of quaternions stored as [x, y, z, w].
function qmul(a, b) {
  const [ax, ay, az, aw] = a;
  const [bx, by, bz, bw] = b;
  return [
    aw * bx + ax * bw + ay * bz - az * by,
    aw * by - ax * bz + ay * bw + az * bx,
    aw * bz + ax * by - ay * bx + az * bw,
    aw * bw - ax * bx - ay * by - az * bz,
  ];
}

// Rotate vector v by unit quaternion q = [x, y, z, w].
function qrot(q, v) {
  const [x, y, z, w] = q;
  // t = 2 * cross(q.xyz, v); v' = v + w * t + cross(q.xyz, t)
  const tx = 2 * (y * v[2] - z * v[1]);
  const ty = 2 * (z * v[0] - x * v[2]);
  const tz = 2 * (x * v[1] - y * v[0]);
  return [
    v[0] + w * tx + (y * tz - z * ty),
    v[1] + w * ty + (z * tx - x * tz),
    v[2] + w * tz + (x * ty - y * tx),
  ];
}

/** Split a flat number array into rows of `width` ([x0, y0, z0, x1, ...] -> [[x0, y0, z0], ...]). */
export function rows(flat, width) {
  const out = [];
  for (let i = 0; i + width <= flat.length; i += width) out.push(flat.slice(i, i + width));
  return out;
}

/**
 * Global joint positions from local rotations (forward kinematics).
 * rotations: 24 x [x, y, z, w] parent-relative (joint 0 = global orientation); root: [x, y, z].
 * Returns 24 x [x, y, z]. Parents must come before their children (true for SMPL).
 */
export function forwardKinematics(skeleton, rotations, root) {
  const n = skeleton.parents.length;
  const glob = new Array(n);
  const pos = new Array(n);
  for (let j = 0; j < n; j++) {
    const p = skeleton.parents[j];
    const q = rotations[j] || [0, 0, 0, 1];
    if (p < 0) {
      glob[j] = q;
      pos[j] = [root[0], root[1], root[2]];
    } else {
      const off = qrot(glob[p], skeleton.offsets[j]);
      pos[j] = [pos[p][0] + off[0], pos[p][1] + off[1], pos[p][2] + off[2]];
      glob[j] = qmul(glob[p], q);
    }
  }
  return pos;
}

/**
 * Joint positions (n x [x, y, z]) of a frame message: its global positions when it carries them
 * (`joints`, 3n floats), else forward kinematics of its local rotations (`rot`, 4n floats, xyzw).
 */
export function framePositions(skeleton, frame) {
  const n = skeleton.parents.length;
  if (Array.isArray(frame.joints) && frame.joints.length === 3 * n) return rows(frame.joints, 3);
  if (Array.isArray(frame.rot) && frame.rot.length === 4 * n) {
    return forwardKinematics(skeleton, rows(frame.rot, 4), frame.root || [0, STANDING_PELVIS_HEIGHT, 0]);
  }
  return null;
}

// A humanoid avatar driven by the SMPL pose stream: loading (VRM 0.x / 1.0 through three-vrm, or a
// humanoid glTF by its bone names), checking that it is a usable humanoid, and retargeting.
//
// Retargeting with rest-pose correction. For each avatar bone b driven by SMPL joint j:
//   world(b) = G_j * C_b * rest(b)
// where G_j is joint j's world rotation in the stream, rest(b) the bone's world rotation in the
// avatar's rest pose, and C_b the rotation that turns the bone's rest direction (towards its child
// bone) onto the SMPL rest direction of the same segment. So an avatar in T-pose, A-pose or with
// rolled bone axes follows the same pose, and twist comes from G_j (no candy-wrapper forearms: the
// forearm turns as one piece, as SMPL's does). The hips follow the stream's pelvis scaled by the
// ratio of the avatar's hip height to SMPL's, which keeps the feet on the floor.
import * as THREE from "./vendor/three.module.js";
import { GLTFLoader } from "./vendor/GLTFLoader.js";
import { VRMLoaderPlugin, VRMUtils } from "./vendor/three-vrm.module.min.js";
import { STANDING_PELVIS_HEIGHT } from "./skeleton.js";

// VRM humanoid bone -> the SMPL joint it rotates about.
export const SMPL_JOINT_OF_BONE = Object.freeze({
  hips: "pelvis", spine: "spine1", chest: "spine2", upperChest: "spine3", neck: "neck", head: "head",
  leftUpperLeg: "left_hip", leftLowerLeg: "left_knee", leftFoot: "left_ankle", leftToes: "left_foot",
  rightUpperLeg: "right_hip", rightLowerLeg: "right_knee", rightFoot: "right_ankle", rightToes: "right_foot",
  leftShoulder: "left_collar", leftUpperArm: "left_shoulder", leftLowerArm: "left_elbow", leftHand: "left_wrist",
  rightShoulder: "right_collar", rightUpperArm: "right_shoulder", rightLowerArm: "right_elbow", rightHand: "right_wrist",
});

// The bone (first present) whose head gives a bone's rest direction, and the SMPL joint at that head.
const AIM = {
  spine: [["chest", "spine2"], ["upperChest", "spine3"], ["neck", "neck"]],
  chest: [["upperChest", "spine3"], ["neck", "neck"]],
  upperChest: [["neck", "neck"]],
  neck: [["head", "head"]],
};
for (const s of ["left", "right"]) {
  const S = s === "left" ? "left" : "right";
  Object.assign(AIM, {
    [`${s}UpperLeg`]: [[`${s}LowerLeg`, `${S}_knee`]],
    [`${s}LowerLeg`]: [[`${s}Foot`, `${S}_ankle`]],
    [`${s}Foot`]: [[`${s}Toes`, `${S}_foot`]],
    [`${s}Shoulder`]: [[`${s}UpperArm`, `${S}_shoulder`]],
    [`${s}UpperArm`]: [[`${s}LowerArm`, `${S}_elbow`]],
    [`${s}LowerArm`]: [[`${s}Hand`, `${S}_wrist`]],
    [`${s}Hand`]: [[`${s}MiddleProximal`, `${S}_hand`]],
  });
}

// Bones an avatar must have (VRM 1.0's required set, less nothing: the same list).
export const REQUIRED_BONES = Object.freeze([
  "hips", "spine", "head", "leftUpperLeg", "leftLowerLeg", "leftFoot", "rightUpperLeg", "rightLowerLeg",
  "rightFoot", "leftUpperArm", "leftLowerArm", "leftHand", "rightUpperArm", "rightLowerArm", "rightHand",
]);
const MIN_HEIGHT = 0.4;  // metres; smaller or larger is taken for a unit mistake (cm, mm, inches)
const MAX_HEIGHT = 3.0;

// Bone names of humanoid glTFs without VRM data: Mixamo's, and SMPL's (as exported by SMPL tools),
// after lower-casing and dropping "mixamorig" and separators. VRM's own names match themselves.
const MIXAMO = {
  hips: "hips", spine: "spine", spine1: "chest", spine2: "upperChest", neck: "neck", head: "head",
  leftupleg: "leftUpperLeg", leftleg: "leftLowerLeg", leftfoot: "leftFoot", lefttoebase: "leftToes",
  rightupleg: "rightUpperLeg", rightleg: "rightLowerLeg", rightfoot: "rightFoot", righttoebase: "rightToes",
  leftshoulder: "leftShoulder", leftarm: "leftUpperArm", leftforearm: "leftLowerArm", lefthand: "leftHand",
  rightshoulder: "rightShoulder", rightarm: "rightUpperArm", rightforearm: "rightLowerArm", righthand: "rightHand",
  lefthandmiddle1: "leftMiddleProximal", righthandmiddle1: "rightMiddleProximal",
};
const SMPL_NAMES = Object.fromEntries(
  Object.entries(SMPL_JOINT_OF_BONE).map(([bone, joint]) => [joint.replace("_", ""), bone]));

/** A message for the page: why a file cannot be used as an avatar. */
export class AvatarError extends Error {}

const key = (name) => name.toLowerCase().replace(/^mixamorig\d*/, "").replace(/[^a-z0-9]/g, "");

/** Humanoid bone name -> node, from the node names of a glTF scene without VRM data. */
export function bonesByName(root) {
  const nodes = new Map();
  root.traverse((o) => { if (o.name && !nodes.has(key(o.name))) nodes.set(key(o.name), o); });
  const vrmNames = Object.keys(SMPL_JOINT_OF_BONE).concat(["leftMiddleProximal", "rightMiddleProximal"]);
  const tables = [
    Object.fromEntries(vrmNames.map((n) => [n.toLowerCase(), n])),
    MIXAMO,
    SMPL_NAMES,
  ];
  let best = {};
  for (const table of tables) {  // the naming scheme that finds the most bones
    const found = {};
    for (const [k, bone] of Object.entries(table)) if (nodes.has(k)) found[bone] = nodes.get(k);
    if (Object.keys(found).length > Object.keys(best).length) best = found;
  }
  return best;
}

/**
 * Parse a .vrm / .glb (ArrayBuffer) into an Avatar. Throws AvatarError with a message for people.
 * `name` is only used in messages.
 */
export async function loadAvatar(buffer, name = "the file") {
  const loader = new GLTFLoader();
  loader.register((parser) => new VRMLoaderPlugin(parser));
  let gltf;
  try {
    gltf = await loader.parseAsync(buffer, "");
  } catch (err) {
    const why = String(err && err.message || err);
    if (/humanoid bones are required/.test(why)) {
      throw new AvatarError(`${name} is missing humanoid bones: ${why.split(": ").pop()}`);
    }
    throw new AvatarError(`${name} is not a VRM or glTF file that can be read (${why.slice(0, 160)})`);
  }
  const vrm = gltf.userData.vrm || null;
  let bones;
  if (vrm && vrm.humanoid) {
    // three-vrm's advice for speed: drop vertices no index uses, one skeleton for all skinned meshes.
    VRMUtils.removeUnnecessaryVertices(gltf.scene);
    VRMUtils.combineSkeletons(gltf.scene);
    VRMUtils.rotateVRM0(vrm);  // VRM 0.x faces -z; turn it to face +z like VRM 1.0 and SMPL
    bones = {};
    for (const bone of Object.keys(SMPL_JOINT_OF_BONE).concat(["leftMiddleProximal", "rightMiddleProximal"])) {
      const node = vrm.humanoid.getNormalizedBoneNode(bone);
      if (node) bones[bone] = node;
    }
  } else {
    bones = bonesByName(gltf.scene);
    if (!bones.hips) {
      throw new AvatarError(`${name} is not a humanoid: it has no VRM humanoid and no bones named like `
        + "Hips, Spine, LeftUpLeg (VRM, Mixamo or SMPL names)");
    }
  }
  const missing = REQUIRED_BONES.filter((b) => !bones[b]);
  if (missing.length) throw new AvatarError(`${name} is missing humanoid bones: ${missing.join(", ")}`);
  let meshes = 0;
  gltf.scene.traverse((o) => { if (o.isMesh) meshes += 1; });
  if (!meshes) throw new AvatarError(`${name} has a skeleton but no mesh to show`);
  return new Avatar(gltf.scene, vrm, bones, name);
}

export class Avatar {
  constructor(root, vrm, bones, name) {
    this.root = root;        // add this to the scene
    this.vrm = vrm;
    this.bones = bones;      // humanoid bone -> node that is posed (VRM: its normalized bone)
    this.name = name;
    this.kind = vrm ? `VRM ${vrm.meta && vrm.meta.metaVersion === "0" ? "0.x" : "1.0"}` : "glTF";
    this.ready = false;
    root.traverse((o) => {
      if (o.isMesh) { o.castShadow = true; o.frustumCulled = false; }  // skinned bounds do not follow the pose
    });
  }

  /** Measure the rest pose against the SMPL skeleton; throws AvatarError on an absurd scale. */
  setup(skeleton) {
    const { root, bones } = this;
    const v = (o) => o.getWorldPosition(new THREE.Vector3());
    root.updateMatrixWorld(true);
    // Facing: SMPL's left side is +x when facing +z. A model facing -z is turned round.
    if (v(bones.leftUpperLeg).x < v(bones.rightUpperLeg).x) {
      root.rotation.y += Math.PI;
      root.updateMatrixWorld(true);
    }
    if (this.vrm) this.vrm.humanoid.update();
    const feetY = Math.min(v(bones.leftFoot).y, v(bones.rightFoot).y);
    // The head joint stands about 0.8 of a body's height above the ankles.
    const tall = (v(bones.head).y - feetY) / 0.8;
    if (!(tall >= MIN_HEIGHT && tall <= MAX_HEIGHT)) {
      throw new AvatarError(`${this.name} is ${tall >= 10 ? tall.toFixed(0) : tall.toFixed(2)} m tall: an absurd `
        + `scale (${MIN_HEIGHT}-${MAX_HEIGHT} m expected; was it exported in centimetres?)`);
    }
    // Stand it on the floor: the lowest point of its meshes at y = 0, its hips over the origin.
    const box = new THREE.Box3().setFromObject(root);
    const hips = v(bones.hips);
    root.position.x -= hips.x;
    root.position.z -= hips.z;
    root.position.y -= box.min.y;
    root.updateMatrixWorld(true);

    // SMPL rest positions (pelvis at the origin).
    const idx = Object.fromEntries(skeleton.names.map((n, i) => [n, i]));
    const restS = [];
    skeleton.parents.forEach((p, j) => {
      const o = new THREE.Vector3().fromArray(skeleton.offsets[j]);
      restS.push(p < 0 ? o.set(0, 0, 0) : o.add(restS[p]));
    });

    this.hipsHeight = v(bones.hips).y;
    this.scale = this.hipsHeight / STANDING_PELVIS_HEIGHT;
    this.drive = [];
    const depth = (o) => { let d = 0; for (let p = o.parent; p; p = p.parent) d += 1; return d; };
    const corr = {};
    const boneOf = new Map(Object.entries(bones).map(([b, n]) => [n, b]));
    const names = Object.keys(SMPL_JOINT_OF_BONE).filter((b) => bones[b])
      .sort((a, b) => depth(bones[a]) - depth(bones[b]));
    for (const bone of names) {
      const node = bones[bone];
      const j = idx[SMPL_JOINT_OF_BONE[bone]];
      let c = new THREE.Quaternion();
      const aim = (AIM[bone] || []).find(([child]) => bones[child]);
      if (aim && idx[aim[1]] !== undefined) {
        const da = v(bones[aim[0]]).sub(v(node));
        const ds = restS[idx[aim[1]]].clone().sub(restS[j]);
        if (da.lengthSq() > 1e-10 && ds.lengthSq() > 1e-10) c.setFromUnitVectors(da.normalize(), ds.normalize());
      } else {
        // No child to aim at (head, toes, hands without fingers): keep the nearest driven ancestor's.
        let p = node.parent;
        while (p && !(boneOf.has(p) && corr[boneOf.get(p)])) p = p.parent;
        if (p && bone !== "hips") c = corr[boneOf.get(p)].clone();
      }
      corr[bone] = c;
      const rest = node.getWorldQuaternion(new THREE.Quaternion());
      this.drive.push({ bone, node, joint: j, corr: c, rest, restInv: rest.clone().invert(), w: new THREE.Quaternion() });
    }
    // Forearm roll: half of the wrist's twist about the forearm goes to the forearm bone, so that a
    // mesh skinned to both does not pinch at the wrist (the hand keeps its exact rotation).
    const entry = Object.fromEntries(this.drive.map((d) => [d.bone, d]));
    this.twists = ["left", "right"].filter((s) => entry[`${s}LowerArm`] && entry[`${s}Hand`]).map((s) => ({
      forearm: entry[`${s}LowerArm`], hand: entry[`${s}Hand`],
      axis: v(bones[`${s}Hand`]).sub(v(bones[`${s}LowerArm`])).normalize(),
    }));
    this.hipsOffset = v(bones.hips).setY(0);  // x, z of the hips in the rest pose (zero after centring)
    this.ready = true;
  }

  /**
   * Pose from SMPL world joint rotations `glob` (24 THREE.Quaternion) and the pelvis position `root`
   * ([x, y, z], metres). Spring bones are not stepped here (see `update`).
   */
  pose(glob, root) {
    if (!this.ready) return;
    const pw = new THREE.Quaternion();
    for (const d of this.drive) d.w.copy(glob[d.joint]).multiply(d.corr).multiply(d.rest);
    for (const t of this.twists) this.shareTwist(t);
    for (const d of this.drive) {
      d.node.parent.getWorldQuaternion(pw);
      d.node.quaternion.copy(pw.invert().multiply(d.w));
      if (d.bone === "hips") {
        const target = new THREE.Vector3(root[0], root[1], root[2]).multiplyScalar(this.scale).add(this.hipsOffset);
        d.node.parent.updateWorldMatrix(true, false);
        d.node.position.copy(d.node.parent.worldToLocal(target));
      }
      d.node.updateMatrixWorld(true);
    }
    if (this.vrm) this.vrm.humanoid.update();  // normalized bones -> the mesh's bones
  }

  /** Give the forearm half the hand's twist about the forearm's axis (see setup). */
  shareTwist({ forearm, hand, axis }) {
    const f = _q1.copy(forearm.w).multiply(forearm.restInv);          // forearm's motion from rest
    const delta = _q2.copy(hand.w).multiply(hand.restInv).multiply(_q3.copy(f).invert());  // the hand's on top
    const a = _v1.copy(axis).applyQuaternion(f);                       // the forearm's axis now
    const along = delta.x * a.x + delta.y * a.y + delta.z * a.z;
    const twist = _q3.set(a.x * along, a.y * along, a.z * along, delta.w);
    if (twist.lengthSq() < 1e-12) return;
    twist.normalize();
    forearm.w.premultiply(_q1.identity().slerp(twist, 0.5));
  }

  /** Advance spring bones and constraints by dt seconds (VRM only). */
  update(dt) {
    if (this.vrm) this.vrm.update(dt);
  }

  /** World position of a humanoid bone as the mesh is skinned to it (VRM: the raw bone). */
  boneWorldPosition(bone, out = new THREE.Vector3()) {
    const node = this.vrm ? this.vrm.humanoid.getRawBoneNode(bone) : this.bones[bone];
    return node ? node.getWorldPosition(out) : null;
  }

  dispose() {
    if (this.vrm) VRMUtils.deepDispose(this.root);
    this.root.removeFromParent();
  }
}

const _q1 = new THREE.Quaternion();
const _q2 = new THREE.Quaternion();
const _q3 = new THREE.Quaternion();
const _v1 = new THREE.Vector3();

/** SMPL world rotations (24 THREE.Quaternion) from local ones ([x, y, z, w] rows). */
export function globalRotations(skeleton, local, out = []) {
  skeleton.parents.forEach((p, j) => {
    const q = out[j] || (out[j] = new THREE.Quaternion());
    const l = local[j] || [0, 0, 0, 1];
    q.set(l[0], l[1], l[2], l[3]);
    if (p >= 0) q.premultiply(out[p]);
  });
  return out;
}

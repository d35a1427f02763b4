// liveedit browser viewer: an avatar (or the stick skeleton) dancing to the engine's pose stream, and
// the controls to edit the dance in words. Wire format: docs/protocol.md (JSON frames: the default
// subscription). Avatars: avatar.js; a user's file is read in this page and never sent anywhere.
import * as THREE from "./vendor/three.module.js";
import { OrbitControls } from "./vendor/OrbitControls.js";
import { DEFAULT_SKELETON, STANDING_PELVIS_HEIGHT, framePositions, jointSide, rows } from "./skeleton.js";
import { AvatarError, globalRotations, loadAvatar } from "./avatar.js";
import { Connection, defaultUrl } from "./connection.js";

const $ = (id) => document.getElementById(id);
const COLORS = { left: 0xff7a59, right: 0x3ec5ff, center: 0xe6e8f2, accent: 0xffb454 };
const STALE_MS = 2000; // connected but no frame for this long: say so
const PROTOCOL_VERSION = 1; // docs/protocol.md
const MAX_AVATAR_BYTES = 128 * 1024 * 1024;  // as the server's limit for --avatar (liveedit/io/ws.py)
const FOOT_BONES = ["leftFoot", "rightFoot", "leftToes", "rightToes"];
const FOOT_JOINTS = [7, 8, 10, 11];  // SMPL left/right ankle, left/right toe (the same feet)
const FOOT_TRACK = 900;              // frames of foot positions kept for measurements

// ---------------------------------------------------------------- state (also read by the tests)
const state = {
  skeleton: DEFAULT_SKELETON,
  hello: null,
  connection: "connecting",
  framesReceived: 0,
  lastFrame: null,
  lastFrameAt: 0,
  replies: [],
  recvTimes: [],
  view: "avatar",          // "avatar" or "stick"
  avatar: { status: "loading", name: null, kind: null, scale: null },
  avatarErrors: [],        // every refusal shown, newest last
  footTrack: [],           // per stream frame: source foot joints and the avatar's foot bones (world)
  drawTimes: [],           // render times over the last 2 s (performance.now())
};
window.liveeditViewer = state;

// ---------------------------------------------------------------- scene
const canvas = $("stage");
// Rendering quality. WebGL in software (SwiftShader, llvmpipe: headless browsers, machines without a
// GPU) spends most of a frame filling pixels, so there the scene is cheaper (CHEAP: no
// multisampling, an unlit floor, a soft disc under the dancer instead of shadow mapping; measured
// 25-27 -> 43-56 fps at the same resolution; the grid drawn as lines aliased), and on every machine the
// resolution drops while frames take longer than 60 fps allow and climbs back when they are quick
// again. ?quality=high keeps the full scene, resolution and multisampling (screenshots).
const FULL_QUALITY = new URLSearchParams(window.location.search).get("quality") === "high";
const SOFTWARE_GL = softwareRenderer();
const CHEAP = SOFTWARE_GL && !FULL_QUALITY;
const MAX_PIXEL_RATIO = Math.min(window.devicePixelRatio, 2);
const MIN_PIXEL_RATIO = 0.5;
function softwareRenderer() {
  try {
    const gl = document.createElement("canvas").getContext("webgl2");
    const info = gl && gl.getExtension("WEBGL_debug_renderer_info");
    const name = info ? String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL)) : "";
    const lose = gl && gl.getExtension("WEBGL_lose_context");
    if (lose) lose.loseContext();
    return /swiftshader|llvmpipe|softpipe|software/i.test(name);
  } catch (err) {
    return false;
  }
}
const renderer = new THREE.WebGLRenderer({ canvas, antialias: !CHEAP, preserveDrawingBuffer: true });
renderer.setPixelRatio(MAX_PIXEL_RATIO);
state.softwareGl = SOFTWARE_GL;
state.pixelRatio = MAX_PIXEL_RATIO;
renderer.shadowMap.enabled = !CHEAP;
renderer.shadowMap.type = THREE.PCFShadowMap;

const scene = new THREE.Scene();
scene.background = new THREE.Color(0x0d0f17);
scene.fog = new THREE.Fog(0x0d0f17, 6, 14);

const camera = new THREE.PerspectiveCamera(40, 1, 0.05, 100);
camera.position.set(0.8, 1.45, 3.9);
const controls = new OrbitControls(camera, canvas);
controls.target.set(0, 0.95, 0);
controls.enableDamping = true;
controls.maxPolarAngle = Math.PI * 0.495;
controls.minDistance = 1.2;
controls.maxDistance = 12;

scene.add(new THREE.HemisphereLight(0xbfd4ff, 0x1a1410, 1.1));
const sun = new THREE.DirectionalLight(0xffffff, 2.2);
sun.position.set(2.5, 5, 3.5);
sun.castShadow = true;
sun.shadow.mapSize.set(1024, 1024);
sun.shadow.camera.left = -3; sun.shadow.camera.right = 3;
sun.shadow.camera.top = 3; sun.shadow.camera.bottom = -3;
sun.shadow.camera.near = 0.5; sun.shadow.camera.far = 15;
sun.shadow.bias = -0.0005;
scene.add(sun);
scene.add(sun.target);
const rim = new THREE.DirectionalLight(0x7aa2ff, 0.8);
rim.position.set(-3, 2.5, -4);
scene.add(rim);

// Floor: a dark disc with a grid texture (0.5 m cells) that takes the shadow, and a ring under the
// dancer that pulses on beats. A texture rather than GL lines: it stays anti-aliased at grazing angles.
function gridTexture() {
  const c = document.createElement("canvas");
  c.width = c.height = 128;
  const g = c.getContext("2d");
  g.fillStyle = "#161a2a";
  g.fillRect(0, 0, 128, 128);
  g.strokeStyle = "#343c5c";
  g.lineWidth = 3;
  g.strokeRect(0, 0, 128, 128);
  const tex = new THREE.CanvasTexture(c);
  tex.wrapS = tex.wrapT = THREE.RepeatWrapping;
  tex.repeat.set(48, 48);  // the disc's UVs span its 24 m diameter
  tex.anisotropy = CHEAP ? 1 : renderer.capabilities.getMaxAnisotropy();  // many taps per pixel in software
  tex.colorSpace = THREE.SRGBColorSpace;
  return tex;
}
const floor = new THREE.Mesh(
  new THREE.CircleGeometry(12, 96),
  CHEAP ? new THREE.MeshBasicMaterial({ map: gridTexture() })
    : new THREE.MeshStandardMaterial({ map: gridTexture(), roughness: 0.92, metalness: 0.0 }),
);
floor.rotation.x = -Math.PI / 2;
floor.receiveShadow = true;
scene.add(floor);
// The cheap scene's shadow: a soft dark disc that follows the dancer.
const blob = new THREE.Mesh(new THREE.PlaneGeometry(1.2, 1.2), new THREE.MeshBasicMaterial({
  map: blobTexture(), transparent: true, depthWrite: false }));
blob.rotation.x = -Math.PI / 2;
blob.position.y = 0.002;
if (CHEAP) scene.add(blob);
function blobTexture() {
  const c = document.createElement("canvas");
  c.width = c.height = 64;
  const g = c.getContext("2d");
  const gradient = g.createRadialGradient(32, 32, 0, 32, 32, 32);
  gradient.addColorStop(0, "rgba(0, 0, 0, 0.55)");
  gradient.addColorStop(1, "rgba(0, 0, 0, 0)");
  g.fillStyle = gradient;
  g.fillRect(0, 0, 64, 64);
  return new THREE.CanvasTexture(c);
}
const ring = new THREE.Mesh(
  new THREE.RingGeometry(0.55, 0.6, 64),
  new THREE.MeshBasicMaterial({ color: COLORS.accent, transparent: true, opacity: 0.0, depthWrite: false }),
);
ring.rotation.x = -Math.PI / 2;
ring.position.y = 0.003;
scene.add(ring);

// ---------------------------------------------------------------- skeleton meshes
const figure = new THREE.Group();
scene.add(figure);
let joints = [];   // one sphere per joint
let bones = [];    // one cylinder per (parent, child) pair
let headMesh = null;
let avatar = null; // the Avatar on stage (avatar.js)
const UP = new THREE.Vector3(0, 1, 0);
const tmpA = new THREE.Vector3();
const tmpB = new THREE.Vector3();
const tmpDir = new THREE.Vector3();

function material(side) {
  return new THREE.MeshStandardMaterial({
    color: COLORS[side], roughness: 0.38, metalness: 0.05, emissive: COLORS[side], emissiveIntensity: 0.08,
  });
}

function boneRadius(name) {
  if (/hip|knee/.test(name)) return 0.045;  // thighs and shins (named by their child joint)
  if (/ankle/.test(name)) return 0.038;
  if (/spine|neck|head/.test(name)) return 0.042;
  if (/shoulder|collar/.test(name)) return 0.034;
  if (/elbow/.test(name)) return 0.032;
  if (/wrist/.test(name)) return 0.027;
  return 0.022;  // hands, toes
}

function buildFigure(skeleton) {
  figure.clear();
  joints = [];
  bones = [];
  const mats = { left: material("left"), right: material("right"), center: material("center") };
  const sphere = new THREE.SphereGeometry(1, 20, 14);
  const cylinder = new THREE.CylinderGeometry(1, 1, 1, 16, 1, true);  // radius 1, height 1, along y
  skeleton.names.forEach((name, j) => {
    const m = new THREE.Mesh(sphere, mats[jointSide(name)]);
    // Joint spheres a little wider than the bones they join, so the limbs read as rounded.
    const p = skeleton.parents[j];
    m.scale.setScalar(j === 0 ? 0.062 : Math.max(boneRadius(name), 0.026) * 1.12);
    m.castShadow = true;
    figure.add(m);
    joints.push(m);
    if (p >= 0) {
      const b = new THREE.Mesh(cylinder, mats[jointSide(name)]);
      b.castShadow = true;
      b.userData = { parent: p, child: j, radius: boneRadius(name) };
      figure.add(b);
      bones.push(b);
    }
  });
  headMesh = new THREE.Mesh(sphere, mats.center);
  headMesh.scale.set(0.1, 0.118, 0.108);
  headMesh.castShadow = true;
  figure.add(headMesh);
}
buildFigure(state.skeleton);

const headIndex = () => state.skeleton.names.indexOf("head");
const neckIndex = () => state.skeleton.names.indexOf("neck");

function poseFigure(positions) {
  for (let j = 0; j < joints.length; j++) joints[j].position.fromArray(positions[j]);
  for (const b of bones) {
    tmpA.fromArray(positions[b.userData.parent]);
    tmpB.fromArray(positions[b.userData.child]);
    tmpDir.subVectors(tmpB, tmpA);
    const len = tmpDir.length();
    const r = b.userData.radius;
    b.position.addVectors(tmpA, tmpB).multiplyScalar(0.5);
    if (len > 1e-6) b.quaternion.setFromUnitVectors(UP, tmpDir.divideScalar(len));
    b.scale.set(r, Math.max(len, 1e-4), r);
  }
  const h = headIndex(), n = neckIndex();
  if (h >= 0 && n >= 0) {
    tmpA.fromArray(positions[n]);
    tmpB.fromArray(positions[h]);
    tmpDir.subVectors(tmpB, tmpA).normalize();
    headMesh.position.copy(tmpB).addScaledVector(tmpDir, 0.09);
    headMesh.quaternion.setFromUnitVectors(UP, tmpDir);
  }
}

// Rest pose until the first frame arrives.
poseFigure(framePositions(state.skeleton, {
  rot: state.skeleton.names.flatMap(() => [0, 0, 0, 1]), root: [0, STANDING_PELVIS_HEIGHT, 0],
}));

function resize() {
  const w = window.innerWidth, h = window.innerHeight;
  renderer.setSize(w, h, false);
  camera.aspect = w / h;
  // The panels cover the right side on wide screens and the lower half on narrow ones: shift the
  // view so the dancer stays in the free part (and widen the lens on narrow screens).
  const narrow = w <= 760;
  camera.fov = narrow ? 60 : 40;
  camera.setViewOffset(w, h, w > 900 ? 160 : 0, narrow ? h * 0.26 : 0, w, h);
  camera.updateProjectionMatrix();
}
window.addEventListener("resize", resize);
resize();

// ---------------------------------------------------------------- UI
const el = {
  conn: $("conn"), connText: $("conn-text"), bpm: $("bpm"), pulse: $("pulse"), beats: $("beats").children,
  edits: $("edits"), editCount: $("edit-count"), reply: $("reply"), frame: $("frame"), time: $("time"),
  fps: $("fps"), source: $("source"), text: $("edit-text"), duration: $("edit-duration"),
  strength: $("strength"), strengthValue: $("strength-value"),
  viewToggle: $("view-toggle"), avatarFile: $("avatar-file"), avatarMsg: $("avatar-msg"), dropHint: $("drop-hint"),
};

function setConn(stateName, text) {
  state.connection = stateName;
  el.conn.dataset.state = stateName;
  el.connText.textContent = text;
}

function showReply(msg) {
  state.replies.push(msg);
  if (state.replies.length > 50) state.replies.shift();
  el.reply.textContent = msg.message || (msg.ok ? "ok" : "error");
  el.reply.className = "reply " + (msg.ok ? "ok" : "bad");
}

let renderedEditsKey = "";
function renderEdits(frame) {
  const edits = Array.isArray(frame.edits) ? frame.edits : [];
  const beat = Number(frame.beat) || 0;
  const key = JSON.stringify(edits.map((e) => [e.id, e.text, e.until_beat == null ? null : Math.ceil(e.until_beat - beat)]));
  if (key === renderedEditsKey) return;
  renderedEditsKey = key;
  el.editCount.textContent = String(edits.length);
  el.edits.replaceChildren();
  if (!edits.length) {
    const li = document.createElement("li");
    li.className = "empty";
    li.textContent = "No edits: the dance follows the music.";
    el.edits.append(li);
    return;
  }
  // Newest on top: the stack's top is what undo removes first.
  for (const e of [...edits].reverse()) {
    const li = document.createElement("li");
    li.dataset.id = e.id;
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = e.text;
    const left = document.createElement("span");
    left.className = "left";
    left.textContent = e.until_beat == null ? "until undone" : `${Math.max(0, Math.ceil(e.until_beat - beat))} beats left`;
    li.append(text, left);
    el.edits.append(li);
  }
}

function renderTempo(frame) {
  const bpm = Number(frame.bpm);
  el.bpm.textContent = bpm > 0 ? bpm.toFixed(1) : "–";
  const phase = Math.min(Math.max(Number(frame.phase) || 0, 0), 1);
  const flash = Math.exp(-5 * phase);  // 1 on the beat, fading over it
  el.pulse.style.opacity = (0.2 + 0.8 * flash).toFixed(3);
  el.pulse.style.transform = `scale(${(0.7 + 0.3 * flash).toFixed(3)})`;
  const inBar = ((Math.floor(Number(frame.beat) || 0) % 4) + 4) % 4;
  for (let i = 0; i < 4; i++) el.beats[i].classList.toggle("on", i === inBar);
  ring.material.opacity = 0.85 * flash;
  ring.scale.setScalar(1 + 0.5 * phase);
}

// ---------------------------------------------------------------- stream handling
function onHello(msg) {
  state.hello = msg;
  if (msg.protocol !== PROTOCOL_VERSION) {
    showReply({ ok: false, message: `the server speaks protocol ${msg.protocol}; this page reads ${PROTOCOL_VERSION}` });
  }
  const names = msg.joint_names;
  const parents = msg.parents;
  const offsets = msg.rest_offsets;
  if (Array.isArray(names) && Array.isArray(parents) && Array.isArray(offsets)
      && names.length === parents.length && parents.length === offsets.length) {
    state.skeleton = { names, parents, offsets };
    buildFigure(state.skeleton);
  }
}

function onFrame(msg) {
  state.framesReceived += 1;
  const now = performance.now();
  if (state.framesReceived === 1) state.firstFrameAt = now;  // ms since the page's navigation began
  if (state.lastFrame) {
    prevFrame = state.lastFrame;
    // the stream's frame interval, smoothed: poses are interpolated over it
    frameMs = Math.min(100, Math.max(15, 0.9 * frameMs + 0.1 * (now - state.lastFrameAt)));
  }
  state.lastFrame = msg;
  state.lastFrameAt = now;
  state.recvTimes.push(now);
  while (state.recvTimes.length && now - state.recvTimes[0] > 1000) state.recvTimes.shift();
}

function onMessage(msg) {
  switch (msg.type) {
    case "hello": onHello(msg); break;
    case "frame": onFrame(msg); break;
    case "reply":
      // The page asks for the status itself on connect: use its data, do not show it as news.
      if (msg.request !== "status") showReply(msg);
      // status and strength replies carry the engine's current strength: keep the slider in step
      if (msg.ok && msg.data && typeof msg.data.strength === "number") setStrengthUi(msg.data.strength);
      break;
    default: break;  // newer servers may send more message types
  }
}

const connection = new Connection(defaultUrl(window.location), {
  onMessage,
  onState: ({ state: s, retryIn, attempt }) => {
    if (s === "open") setConn("open", "live");
    else if (s === "connecting") setConn("connecting", attempt ? "reconnecting…" : "connecting…");
    else if (s === "waiting") setConn("waiting", `offline · retry in ${(retryIn / 1000).toFixed(1)} s`);
    else setConn("closed", "disconnected");
    if (s === "open") connection.send({ type: "status" });
  },
});
el.source.textContent = connection.url.replace(/token=[^&]+/, "token=…");
connection.start();

function send(obj) {
  if (!connection.send(obj)) showReply({ ok: false, message: "not connected: the engine will get it after reconnecting" });
}

$("edit-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = el.text.value.trim();
  if (!text) return;
  const msg = { type: "edit", text };
  if (el.duration.value) msg.duration = Number(el.duration.value);
  send(msg);
  el.text.value = "";
});
$("undo").addEventListener("click", () => send({ type: "undo" }));
$("reset").addEventListener("click", () => send({ type: "reset" }));
$("tap").addEventListener("click", () => send({ type: "tap" }));
$("tempo-auto").addEventListener("click", () => send({ type: "tempo", bpm: "auto" }));

function setStrengthUi(v) {
  el.strength.value = String(v);
  el.strengthValue.textContent = Number(v).toFixed(1);
}
let strengthTimer = null;
el.strength.addEventListener("input", () => {
  el.strengthValue.textContent = Number(el.strength.value).toFixed(1);
  // While dragging, send at most every 150 ms; the release sends the final value.
  if (strengthTimer) return;
  strengthTimer = setTimeout(() => { strengthTimer = null; }, 150);
  send({ type: "strength", value: Number(el.strength.value) });
});
el.strength.addEventListener("change", () => send({ type: "strength", value: Number(el.strength.value) }));

// ---------------------------------------------------------------- avatar
let prevFrame = null;   // the frame before state.lastFrame: the avatar is interpolated between them
let frameMs = 1000 / 30;

function showAvatarMsg(text, bad = false) {
  el.avatarMsg.textContent = text;
  el.avatarMsg.className = "avatar-msg" + (bad ? " bad" : "");
}

function applyView() {
  const stick = state.view === "stick" || !avatar;
  figure.visible = stick;
  if (avatar) avatar.root.visible = !stick;
  el.viewToggle.setAttribute("aria-pressed", String(state.view === "stick"));
  dirty = true;
}

let loadSeq = 0;
/** Put the avatar in `buffer` on stage; on a bad file say why and keep the current one. */
async function useAvatar(buffer, name, user) {
  const seq = ++loadSeq;
  showAvatarMsg(`loading ${name}…`);
  let next;
  try {
    next = await loadAvatar(buffer, name);
    next.setup(state.skeleton);
  } catch (err) {
    if (next) next.dispose();
    const message = err instanceof AvatarError ? err.message : `could not use ${name}: ${err && err.message || err}`;
    state.avatarErrors.push(message);
    if (seq === loadSeq) showAvatarMsg(message + (avatar ? ` · still dancing: ${state.avatar.name}` : ""), true);
    console.warn("liveedit:", message);
    return false;
  }
  if (seq !== loadSeq) { next.dispose(); return false; }  // a newer file was dropped meanwhile
  if (avatar) avatar.dispose();
  avatar = next;
  scene.add(avatar.root);
  state.avatar = { status: "ready", name, kind: avatar.kind, scale: avatar.scale, user, readyAt: performance.now() };
  state.footTrack = [];
  showAvatarMsg(user ? `${name} · ${avatar.kind}` : "");
  applyView();
  lastPosed = null;
  return true;
}

async function fetchBytes(url) {
  const r = await fetch(url, { cache: "no-cache" });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.arrayBuffer();
}

/** The avatar `liveedit serve --avatar` names (avatar.json), else the default one. */
async function loadStartAvatar() {
  let config = null;
  try {
    const r = await fetch("avatar.json", { cache: "no-cache" });
    if (r.ok) config = await r.json();
  } catch (err) { /* a plain static server: the default avatar */ }
  if (config && config.url) {
    try {
      if (await useAvatar(await fetchBytes(config.url), config.name || "the server's avatar", true)) return;
    } catch (err) {
      showAvatarMsg(`could not fetch ${config.name}: ${err.message}`, true);
    }
  }
  const kept = el.avatarMsg.textContent;
  try {
    await useAvatar(await fetchBytes("avatars/default.vrm"), "default avatar", false);
  } catch (err) {
    state.avatar.status = "error";
    showAvatarMsg(`no avatar: ${err.message} (showing the skeleton)`, true);
    return;
  }
  if (config && config.url && kept) showAvatarMsg(kept, true);  // say why the server's avatar is not shown
}

async function loadFile(file) {
  if (file.size > MAX_AVATAR_BYTES) {
    const message = `${file.name} is ${(file.size / 1048576).toFixed(0)} MB: too large for an avatar (128 MB at most)`;
    state.avatarErrors.push(message);
    showAvatarMsg(message, true);
    return false;
  }
  return useAvatar(await file.arrayBuffer(), file.name, true);
}
state.loadFile = loadFile;

el.viewToggle.addEventListener("click", () => {
  state.view = state.view === "stick" ? "avatar" : "stick";
  applyView();
});
el.avatarFile.addEventListener("change", () => {
  const file = el.avatarFile.files[0];
  if (file) loadFile(file);
  el.avatarFile.value = "";
});
window.addEventListener("dragover", (ev) => {
  if (!ev.dataTransfer || !Array.from(ev.dataTransfer.types).includes("Files")) return;
  ev.preventDefault();
  el.dropHint.hidden = false;
});
window.addEventListener("dragleave", (ev) => { if (!ev.relatedTarget) el.dropHint.hidden = true; });
window.addEventListener("drop", (ev) => {
  ev.preventDefault();
  el.dropHint.hidden = true;
  const file = ev.dataTransfer && ev.dataTransfer.files[0];
  if (file) loadFile(file);
});

const slerpA = new THREE.Quaternion();
const slerpB = new THREE.Quaternion();
let glob = [];
let lastPosed = null;
let lastUpdate = performance.now();

/** Local rotations (24 x [x, y, z, w]) and root of a frame, or of the way from `a` to `b` at `t`. */
function blendFrames(a, b, t) {
  const rb = rows(b.rot, 4);
  const root = b.root || [0, STANDING_PELVIS_HEIGHT, 0];
  if (!a || t >= 1 || !Array.isArray(a.rot) || a.rot.length !== b.rot.length) return { rot: rb, root };
  const ra = rows(a.rot, 4);
  const rootA = a.root || root;
  const rot = rb.map((q, j) => slerpA.fromArray(ra[j]).slerp(slerpB.fromArray(q), t).toArray());
  return { rot, root: root.map((v, k) => rootA[k] + (v - rootA[k]) * t) };
}

/** Pose the avatar: exactly on each new frame (recorded for the foot measurements), in between otherwise. */
function poseAvatar(now) {
  const frame = state.lastFrame;
  if (!avatar || !frame || !Array.isArray(frame.rot) || frame.rot.length !== 4 * state.skeleton.parents.length) return false;
  if (frame !== lastPosed) {
    lastPosed = frame;
    const exact = blendFrames(null, frame, 1);
    avatar.pose(globalRotations(state.skeleton, exact.rot, glob), exact.root);
    const src = framePositions(state.skeleton, frame);
    state.footTrack.push({
      frame: frame.frame, contacts: frame.contacts || null,
      source: FOOT_JOINTS.map((j) => src[j]),
      avatar: FOOT_BONES.map((b) => { const p = avatar.boneWorldPosition(b); return p ? p.toArray() : null; }),
    });
    if (state.footTrack.length > FOOT_TRACK) state.footTrack.shift();
  }
  // Between stream frames (30 fps) the pose runs from the previous frame to the newest one.
  const t = Math.min(1, Math.max(0, (now - state.lastFrameAt) / frameMs));
  const p = blendFrames(prevFrame, frame, t);
  avatar.pose(globalRotations(state.skeleton, p.rot, glob), p.root);
  avatar.update(Math.min(0.1, (now - lastUpdate) / 1000));  // spring bones (hair)
  lastUpdate = now;
  return true;
}

/** World positions of the avatar's humanoid bones ({bone: [x, y, z]}), for tests and tools. */
state.bonePositions = () => {
  if (!avatar) return null;
  const out = {};
  for (const d of avatar.drive) out[d.bone] = avatar.boneWorldPosition(d.bone).toArray();
  return out;
};
/** Where node `name` of the avatar is in its head bone's frame (spring bones: hair swings there). */
state.inHeadFrame = (name) => {
  const node = avatar && avatar.root.getObjectByName(name);
  const head = avatar && (avatar.vrm ? avatar.vrm.humanoid.getRawBoneNode("head") : avatar.bones.head);
  return node && head ? head.worldToLocal(node.getWorldPosition(new THREE.Vector3())).toArray() : null;
};
/** Frames drawn in the last second. */
state.renderFps = () => {
  const now = performance.now();
  return state.drawTimes.filter((t) => now - t <= 1000).length;
};

// ---------------------------------------------------------------- render loop
// The stick figure is drawn only when something changed (a new frame, the camera moving, a resize):
// the page stays cheap on machines that render WebGL in software. The avatar is drawn on every
// animation frame while poses stream, interpolated between the stream's frames.
const follow = new THREE.Vector3(0, 0, 0);
let lastDrawn = null;
let dirty = true;
controls.addEventListener("change", () => { dirty = true; });
window.addEventListener("resize", () => { dirty = true; });
let lastAdapt = 0;
/** Once a second while drawing continuously: lower the resolution below 55 fps, raise it above 58. */
function adaptResolution(now) {
  if (now - lastAdapt < 1000) return;
  lastAdapt = now;
  const fps = state.drawTimes.filter((t) => now - t <= 1000).length;
  if (state.view !== "avatar" || now - state.lastFrameAt > STALE_MS) return;  // not drawing every frame
  let ratio = state.pixelRatio;
  if (fps < 55) ratio = Math.max(MIN_PIXEL_RATIO, ratio * Math.max(0.6, fps / 60));
  else if (fps >= 58) ratio = Math.min(MAX_PIXEL_RATIO, ratio * 1.1);
  if (Math.abs(ratio - state.pixelRatio) > 1e-3) {
    state.pixelRatio = ratio;
    renderer.setPixelRatio(ratio);
    resize();
  }
}

function tick() {
  requestAnimationFrame(tick);
  const frame = state.lastFrame;
  if (frame && frame !== lastDrawn) {
    lastDrawn = frame;
    dirty = true;
    const positions = framePositions(state.skeleton, frame);
    if (positions) poseFigure(positions);
    renderTempo(frame);
    renderEdits(frame);
    el.frame.textContent = String(frame.frame ?? "–");
    el.time.textContent = frame.t != null ? `${Number(frame.t).toFixed(1)} s` : "–";
    // Keep the dancer in view: the camera target and the ring follow the pelvis over the floor.
    const root = positions ? positions[0] : [0, 0, 0];
    follow.lerp(tmpA.set(root[0], 0, root[2]), 0.08);
    ring.position.set(root[0], 0.003, root[2]);
    blob.position.set(root[0] * (avatar ? avatar.scale : 1), 0.002, root[2] * (avatar ? avatar.scale : 1));
  }
  if (state.connection === "open" && state.framesReceived && performance.now() - state.lastFrameAt > STALE_MS) {
    setConn("stale", "connected · no frames");
  } else if (state.connection === "stale" && performance.now() - state.lastFrameAt <= STALE_MS) {
    setConn("open", "live");
  }
  el.fps.textContent = String(state.recvTimes.length);
  const dx = follow.x - controls.target.x, dz = follow.z - controls.target.z;
  if (Math.abs(dx) + Math.abs(dz) > 1e-5) {
    controls.target.x += dx; controls.target.z += dz;
    camera.position.x += dx; camera.position.z += dz;
    sun.position.set(follow.x + 2.5, 5, follow.z + 3.5);
    sun.target.position.set(follow.x, 0, follow.z);
    dirty = true;
  }
  const now = performance.now();
  if (state.view === "avatar" && now - state.lastFrameAt <= STALE_MS && poseAvatar(now)) {
    dirty = true;
    state.poseMs = 0.95 * (state.poseMs || 0) + 0.05 * (performance.now() - now);  // retargeting cost
  }
  controls.update();  // fires "change" while damping settles
  if (dirty) {
    const t0 = performance.now();
    renderer.render(scene, camera);
    state.renderMs = 0.95 * (state.renderMs || 0) + 0.05 * (performance.now() - t0);  // CPU side only
    state.framesDrawn = (state.framesDrawn || 0) + 1;
    state.drawTimes.push(now);
    while (state.drawTimes.length && now - state.drawTimes[0] > 2000) state.drawTimes.shift();
    dirty = false;
  }
  if (!FULL_QUALITY) adaptResolution(now);
}
tick();
loadStartAvatar();

// liveedit browser viewer: a 3D skeleton dancing to the engine's pose stream, and the controls to
// edit the dance in words. Wire format: docs/protocol.md (JSON frames: the default subscription).
import * as THREE from "./vendor/three.module.js";
import { OrbitControls } from "./vendor/OrbitControls.js";
import { DEFAULT_SKELETON, STANDING_PELVIS_HEIGHT, framePositions, jointSide } from "./skeleton.js";
import { Connection, defaultUrl } from "./connection.js";

const $ = (id) => document.getElementById(id);
const COLORS = { left: 0xff7a59, right: 0x3ec5ff, center: 0xe6e8f2, accent: 0xffb454 };
const STALE_MS = 2000; // connected but no frame for this long: say so
const PROTOCOL_VERSION = 1; // docs/protocol.md

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
};
window.liveeditViewer = state;

// ---------------------------------------------------------------- scene
const canvas = $("stage");
const renderer = new THREE.WebGLRenderer({ canvas, antialias: true, preserveDrawingBuffer: true });
renderer.setPixelRatio(Math.min(window.devicePixelRatio, 2));
renderer.shadowMap.enabled = true;
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
  tex.anisotropy = renderer.capabilities.getMaxAnisotropy();
  tex.colorSpace = THREE.SRGBColorSpace;
  return tex;
}
const floor = new THREE.Mesh(
  new THREE.CircleGeometry(12, 96),
  new THREE.MeshStandardMaterial({ map: gridTexture(), roughness: 0.92, metalness: 0.0 }),
);
floor.rotation.x = -Math.PI / 2;
floor.receiveShadow = true;
scene.add(floor);
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
  state.lastFrame = msg;
  const now = performance.now();
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

// ---------------------------------------------------------------- render loop
// Draws only when something changed (a new frame, the camera moving, a resize): the page stays
// cheap on machines that render WebGL in software.
const follow = new THREE.Vector3(0, 0, 0);
let lastDrawn = null;
let dirty = true;
controls.addEventListener("change", () => { dirty = true; });
window.addEventListener("resize", () => { dirty = true; });
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
  controls.update();  // fires "change" while damping settles
  if (dirty) {
    renderer.render(scene, camera);
    state.framesDrawn = (state.framesDrawn || 0) + 1;
    dirty = false;
  }
}
tick();

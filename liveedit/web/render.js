// Offline rendering of the avatar (liveedit render --style avatar): one frame at a time, driven by
// liveedit/offline/render_avatar.py through headless Chromium. The same avatar and retargeting as
// the viewer (avatar.js); the frame, with the beat flash, beat strip and clock drawn over it, comes
// back as a JPEG data URL.
import * as THREE from "./vendor/three.module.js";
import { DEFAULT_SKELETON } from "./skeleton.js";
import { globalRotations, loadAvatar } from "./avatar.js";

const size = Number(new URLSearchParams(window.location.search).get("size")) || 480;
const CAM_DIST = 4.3;                      // metres from the look-at point (as the stick renderer)
const CAM_YAW = THREE.MathUtils.degToRad(25);
const CAM_PITCH = THREE.MathUtils.degToRad(10);
const STRIP_S = 2.0;                       // seconds of beats either side of the playhead

const gl = document.createElement("canvas");
gl.width = gl.height = size;
// No multisampling: in software WebGL it made 480-pixel frames three times slower (15 -> 5 a second
// here) for a difference the JPEG and the grid's mipmaps mostly hide.
const renderer = new THREE.WebGLRenderer({ canvas: gl, antialias: false, preserveDrawingBuffer: true });
renderer.setPixelRatio(1);
renderer.setSize(size, size, false);
renderer.shadowMap.enabled = true;
const out = document.createElement("canvas");
out.width = out.height = size;
document.body.append(out);
const g2 = out.getContext("2d");

const scene = new THREE.Scene();
scene.background = new THREE.Color(0x0d0f17);
scene.fog = new THREE.Fog(0x0d0f17, 6, 14);
const camera = new THREE.PerspectiveCamera(38, 1, 0.05, 100);
scene.add(new THREE.HemisphereLight(0xbfd4ff, 0x1a1410, 1.1));
const sun = new THREE.DirectionalLight(0xffffff, 2.2);
sun.castShadow = true;
sun.shadow.mapSize.setScalar(1024);
Object.assign(sun.shadow.camera, { left: -2, right: 2, top: 2, bottom: -2, near: 0.5, far: 12 });
scene.add(sun, sun.target);

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
  tex.repeat.set(48, 48);
  tex.anisotropy = 4;
  tex.colorSpace = THREE.SRGBColorSpace;
  return tex;
}
const floor = new THREE.Mesh(new THREE.CircleGeometry(12, 64), new THREE.MeshLambertMaterial({ map: gridTexture() }));
floor.rotation.x = -Math.PI / 2;
floor.receiveShadow = true;
scene.add(floor);
const ring = new THREE.Mesh(new THREE.RingGeometry(0.55, 0.6, 64),
  new THREE.MeshBasicMaterial({ color: 0xffb454, transparent: true, opacity: 0, depthWrite: false }));
ring.rotation.x = -Math.PI / 2;
scene.add(ring);

let avatar = null;
const glob = [];

function drawOverlay(f) {
  g2.drawImage(gl, 0, 0);
  const s = size / 480;
  // beat flash, top right
  g2.globalAlpha = f.flash;
  g2.fillStyle = "#ffb454";
  g2.beginPath();
  g2.arc(size - 34 * s, 34 * s, 18 * s, 0, 2 * Math.PI);
  g2.fill();
  g2.globalAlpha = 1;
  // clock and beat count, top left
  g2.fillStyle = "#e9ebf5";
  g2.font = `${Math.round(14 * s)}px monospace`;
  g2.fillText(`${f.t.toFixed(2).padStart(6)} s  beat ${String(f.beat).padStart(4)}`, 12 * s, 26 * s);
  // beat strip with the playhead, bottom
  const y = size - 26 * s, h = 16 * s, x0 = 12 * s, w = size - 24 * s;
  g2.fillStyle = "rgba(255, 255, 255, 0.08)";
  g2.fillRect(x0, y, w, h);
  g2.fillStyle = "#ffb454";
  for (const d of f.near) g2.fillRect(x0 + ((d + STRIP_S) / (2 * STRIP_S)) * w - 1.5 * s, y + 2 * s, 3 * s, h - 4 * s);
  g2.fillStyle = "#e9ebf5";
  g2.fillRect(x0 + w / 2 - s, y - 3 * s, 2 * s, h + 6 * s);
}

window.liveeditRender = {
  /** Load the avatar at `url`; resolves to its kind, or rejects with the reason it is refused. */
  async init(url, name) {
    const r = await fetch(url);
    if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
    avatar = await loadAvatar(await r.arrayBuffer(), name);
    avatar.setup(DEFAULT_SKELETON);
    scene.add(avatar.root);
    return avatar.kind;
  },

  /**
   * One frame: rot (24 x [x, y, z, w]) local SMPL rotations, root [x, y, z], target [x, z] the
   * camera's look-at point, flash 0..1, t seconds, beat count, near (beat times - t within the strip),
   * dt seconds since the last frame (spring bones). Returns the frame as a JPEG data URL.
   */
  frame(f) {
    avatar.pose(globalRotations(DEFAULT_SKELETON, f.rot, glob), f.root);
    avatar.update(f.dt);
    const [tx, tz] = f.target;
    const look = new THREE.Vector3(tx, 0.9, tz);
    camera.position.set(tx + CAM_DIST * Math.sin(CAM_YAW) * Math.cos(CAM_PITCH),
      0.9 + CAM_DIST * Math.sin(CAM_PITCH), tz + CAM_DIST * Math.cos(CAM_YAW) * Math.cos(CAM_PITCH));
    camera.lookAt(look);
    sun.position.set(tx + 2.5, 5, tz + 3.5);
    sun.target.position.set(tx, 0, tz);
    ring.position.set(f.root[0] * avatar.scale, 0.003, f.root[2] * avatar.scale);
    ring.material.opacity = 0.85 * f.flash;
    renderer.render(scene, camera);
    drawOverlay(f);
    return out.toDataURL("image/jpeg", 0.92);
  },
};
window.liveeditRenderReady = true;

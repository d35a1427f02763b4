"""liveedit for Blender: an SMPL-proportioned armature that dances live to `liveedit serve`.

Install: Edit > Preferences > Add-ons > Install... > pick this file, tick "liveedit live dance".
Use:     3D Viewport > sidebar (N) > "liveedit" tab > Build armature, then Connect. Pick your own
         humanoid rig in "Your rig" to have it dance too, or bake an imported BVH onto it.

It reads the engine's WebSocket pose stream (docs/protocol.md section 3) with a small stdlib
WebSocket client, so Blender's bundled Python needs no extra package. A background thread receives
frames and keeps only the newest; a timer on Blender's main thread applies it to the armature (bpy
must only be touched from the main thread). Edits can be typed in the panel too.

Frames: SMPL's frame is y-up, Blender's is z-up; both right-handed, so the conversion is a proper
rotation (x, y, z) -> (x, -z, y), the same for quaternion vector parts. Each bone's pose rotation is
the SMPL local rotation expressed in that bone's rest frame: basis = R_rest^-1 * L * R_rest.

The pure-Python parts (WebSocket client, skeleton layout, quaternion maths) import without Blender.
"""
# No `from __future__ import annotations`: Blender reads the property annotations at run time.
import base64
import hashlib
import json
import math
import os
import socket
import struct
import threading
import urllib.parse

try:  # Blender's modules; absent when the pure-Python parts are imported elsewhere (tests)
    import bpy
    from mathutils import Matrix, Quaternion, Vector
except ImportError:  # pragma: no cover - depends on where it runs
    bpy = None

bl_info = {
    "name": "liveedit live dance",
    "author": "liveedit",
    "version": (0, 1, 0),
    "blender": (3, 0, 0),
    "location": "View3D > Sidebar > liveedit",
    "description": "Animate an SMPL armature, and your own humanoid rig, from the liveedit engine's stream or a BVH",
    "category": "Animation",
}

PROTOCOL_VERSION = 1
DEFAULT_URL = "ws://127.0.0.1:8765/ws"

# The SMPL skeleton (model/skeleton.py); the server's hello message overrides it.
JOINT_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
)
PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)
REST_OFFSETS = (
    (0.0, 0.0, 0.0), (0.058581, -0.08228, -0.017664), (-0.06031, -0.090513, -0.013543),
    (0.004439, 0.124404, -0.038385), (0.043451, -0.386469, 0.008037), (-0.043257, -0.383688, -0.004843),
    (0.004488, 0.137956, 0.02682), (-0.01479, -0.426875, -0.037428), (0.019056, -0.420045, -0.034562),
    (-0.002265, 0.056032, 0.002855), (0.041054, -0.060286, 0.122042), (-0.03484, -0.062106, 0.130323),
    (-0.01339, 0.211636, -0.033468), (0.071702, 0.114, -0.018898), (-0.082954, 0.112472, -0.023707),
    (0.010113, 0.088937, 0.05041), (0.122921, 0.045205, -0.019046), (-0.113228, 0.046853, -0.008472),
    (0.255332, -0.015649, -0.022946), (-0.260127, -0.014369, -0.031269), (0.265709, 0.012698, -0.007375),
    (-0.269108, 0.006794, -0.006027), (0.086691, -0.010636, -0.015594), (-0.088754, -0.008652, -0.010107),
)
STANDING_PELVIS_HEIGHT = 0.9764  # metres: the rest pose with its toes on the floor
ARMATURE_NAME = "liveedit_smpl"


# --------------------------------------------------------------------------- maths (pure Python)

def smpl_to_blender(v):
    """SMPL (y-up) vector -> Blender (z-up) vector: (x, y, z) -> (x, -z, y)."""
    return (v[0], -v[2], v[1])


def blender_to_smpl(v):
    return (v[0], v[2], -v[1])


def smpl_quat_to_blender(q):
    """SMPL quaternion (x, y, z, w) -> the same rotation in Blender's frame, (x, y, z, w)."""
    x, y, z = smpl_to_blender(q[:3])
    return (x, y, z, q[3])


def quat_mul(a, b):
    """Hamilton product of (x, y, z, w) quaternions."""
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return (aw * bx + ax * bw + ay * bz - az * by, aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw, aw * bw - ax * bx - ay * by - az * bz)


def quat_rotate(q, v):
    x, y, z, w = quat_mul(quat_mul(q, (v[0], v[1], v[2], 0.0)), (-q[0], -q[1], -q[2], q[3]))
    return (x, y, z)


def rest_positions(parents=PARENTS, offsets=REST_OFFSETS, pelvis_height=STANDING_PELVIS_HEIGHT):
    """Rest-pose joint positions in SMPL's frame, standing on the floor (y = 0)."""
    pos = []
    for j, p in enumerate(parents):
        base = (0.0, pelvis_height, 0.0) if p < 0 else pos[p]
        pos.append(tuple(base[k] + offsets[j][k] for k in range(3)))
    return pos


def bone_layout(names=JOINT_NAMES, parents=PARENTS, offsets=REST_OFFSETS, pelvis_height=STANDING_PELVIS_HEIGHT):
    """One bone per joint, in Blender's frame: [(name, head, tail, parent name or None)].

    A bone's head is its joint; its tail points at its child (the spine for the pelvis, the neck
    for spine3), or, for end joints, continues its parent's direction (the head points up).
    """
    pos = [smpl_to_blender(p) for p in rest_positions(parents, offsets, pelvis_height)]
    children = {j: [c for c, p in enumerate(parents) if p == j] for j in range(len(parents))}
    bones = []
    for j, name in enumerate(names):
        kids = children[j]
        if kids:
            # Several children (pelvis, spine3): follow the one straight above, the spine.
            child = max(kids, key=lambda c: pos[c][2] - pos[j][2]) if len(kids) > 1 else kids[0]
            tail = pos[child]
            if math.dist(tail, pos[j]) < 1e-3:
                tail = (pos[j][0], pos[j][1], pos[j][2] + 0.05)
        else:
            p = parents[j]
            d = [pos[j][k] - pos[p][k] for k in range(3)] if p >= 0 else [0.0, 0.0, 1.0]
            if "head" in name:
                d = [0.0, 0.0, 1.0]
            n = math.sqrt(sum(c * c for c in d)) or 1.0
            length = 0.18 if "head" in name else 0.07
            tail = tuple(pos[j][k] + d[k] / n * length for k in range(3))
        parent = names[parents[j]] if parents[j] >= 0 else None
        bones.append((name, pos[j], tail, parent))
    return bones


def pose_basis(rest_quat, local_quat_smpl):
    """A pose bone's rotation (x, y, z, w) from its SMPL local rotation.

    rest_quat: the bone's rest orientation in armature space (Blender frame), (x, y, z, w).
    With P_j the posed orientation, P_j = G_j R_j and Blender's P_j = P_parent R_parent^-1 R_j B_j,
    so B_j = R_j^-1 L_j R_j, with L_j the local rotation converted to Blender's frame.
    """
    inv = (-rest_quat[0], -rest_quat[1], -rest_quat[2], rest_quat[3])
    return quat_mul(quat_mul(inv, smpl_quat_to_blender(local_quat_smpl)), rest_quat)


def forward_kinematics(parents, offsets, rotations, root):
    """Global joint positions (SMPL frame) from local (x, y, z, w) rotations and the root."""
    glob, pos = [], []
    for j, p in enumerate(parents):
        if p < 0:
            glob.append(tuple(rotations[j]))
            pos.append(tuple(root))
        else:
            off = quat_rotate(glob[p], offsets[j])
            pos.append(tuple(pos[p][k] + off[k] for k in range(3)))
            glob.append(quat_mul(glob[p], tuple(rotations[j])))
    return pos


# --------------------------------------------------------------------------- a user's rig (pure Python)

# Humanoid bone (VRM's names) -> the SMPL joint it rotates about; the viewer's avatar.js uses the same.
HUMANOID_SMPL = {
    "hips": "pelvis", "spine": "spine1", "chest": "spine2", "upperChest": "spine3", "neck": "neck", "head": "head",
    "leftUpperLeg": "left_hip", "leftLowerLeg": "left_knee", "leftFoot": "left_ankle", "leftToes": "left_foot",
    "rightUpperLeg": "right_hip", "rightLowerLeg": "right_knee", "rightFoot": "right_ankle", "rightToes": "right_foot",
    "leftShoulder": "left_collar", "leftUpperArm": "left_shoulder", "leftLowerArm": "left_elbow", "leftHand": "left_wrist",
    "rightShoulder": "right_collar", "rightUpperArm": "right_shoulder", "rightLowerArm": "right_elbow",
    "rightHand": "right_wrist",
}
_MIXAMO = {
    "hips": "hips", "spine": "spine", "spine1": "chest", "spine2": "upperChest", "neck": "neck", "head": "head",
    "leftupleg": "leftUpperLeg", "leftleg": "leftLowerLeg", "leftfoot": "leftFoot", "lefttoebase": "leftToes",
    "rightupleg": "rightUpperLeg", "rightleg": "rightLowerLeg", "rightfoot": "rightFoot", "righttoebase": "rightToes",
    "leftshoulder": "leftShoulder", "leftarm": "leftUpperArm", "leftforearm": "leftLowerArm", "lefthand": "leftHand",
    "rightshoulder": "rightShoulder", "rightarm": "rightUpperArm", "rightforearm": "rightLowerArm",
    "righthand": "rightHand",
}
REQUIRED_HUMANOID = ("hips", "spine", "head", "leftUpperLeg", "leftLowerLeg", "leftFoot", "rightUpperLeg",
                     "rightLowerLeg", "rightFoot", "leftUpperArm", "leftLowerArm", "leftHand", "rightUpperArm",
                     "rightLowerArm", "rightHand")
# The bone (first present) whose head gives a bone's rest direction.
_AIM = {"spine": ("chest", "upperChest", "neck"), "chest": ("upperChest", "neck"), "upperChest": ("neck",),
        "neck": ("head",)}
for _s in ("left", "right"):
    _AIM.update({f"{_s}UpperLeg": (f"{_s}LowerLeg",), f"{_s}LowerLeg": (f"{_s}Foot",), f"{_s}Foot": (f"{_s}Toes",),
                 f"{_s}Shoulder": (f"{_s}UpperArm",), f"{_s}UpperArm": (f"{_s}LowerArm",),
                 f"{_s}LowerArm": (f"{_s}Hand",)})


def _key(name):
    name = name.lower()
    if name.startswith("mixamorig"):
        name = name[len("mixamorig"):].lstrip("0123456789")
    return "".join(c for c in name if c.isalnum())


def humanoid_map(bone_names):
    """Humanoid bone -> the rig's bone name, by the names VRM, Mixamo or SMPL give them (the scheme
    that finds the most bones wins)."""
    by_key = {}
    for n in bone_names:
        by_key.setdefault(_key(n), n)
    tables = ({h.lower(): h for h in HUMANOID_SMPL}, _MIXAMO,
              {j.replace("_", ""): h for h, j in HUMANOID_SMPL.items()})
    best = {}
    for table in tables:
        found = {h: by_key[k] for k, h in table.items() if k in by_key}
        if len(found) > len(best):
            best = found
    return best


# --------------------------------------------------------------------------- WebSocket (stdlib)

_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_MESSAGE = 4 * 1024 * 1024


class WebSocketError(ConnectionError):
    pass


class SimpleWebSocket:
    """A minimal RFC 6455 client: text/binary messages, fragmentation, ping/pong, close; ws:// and wss://."""

    def __init__(self, url: str, timeout: float = 5.0):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("ws", "wss"):
            raise ValueError(f"not a WebSocket URL (ws://host:port/path): {url!r}")
        host = parts.hostname or "127.0.0.1"
        port = parts.port or (443 if parts.scheme == "wss" else 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        sock = socket.create_connection((host, port), timeout=timeout)
        if parts.scheme == "wss":
            import ssl  # noqa: PLC0415  (only for wss://; some Blender builds ship without _ssl)

            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        self.sock = sock
        self._buf = bytearray()
        self._send_lock = threading.Lock()
        self.closed = False
        key = base64.b64encode(os.urandom(16)).decode()
        request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
        sock.sendall(request.encode())
        while b"\r\n\r\n" not in self._buf:
            chunk = sock.recv(4096)
            if not chunk or len(self._buf) > 65536:
                raise WebSocketError(f"{url}: no WebSocket handshake answer")
            self._buf += chunk
        head, _, rest = bytes(self._buf).partition(b"\r\n\r\n")
        self._buf = bytearray(rest)
        lines = head.decode("latin-1").split("\r\n")
        if " 101 " not in lines[0] + " ":
            raise WebSocketError(f"{url}: server refused the WebSocket upgrade: {lines[0]}")
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        expected = base64.b64encode(hashlib.sha1((key + _WS_GUID).encode()).digest()).decode()
        if headers.get("sec-websocket-accept") != expected:
            raise WebSocketError(f"{url}: bad Sec-WebSocket-Accept")

    def _read(self, n: int) -> bytes:
        self._fill(n)
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        # Client frames are masked (RFC 6455 5.3): XOR with the 4-byte key, as one big integer.
        key = (mask * (n // 4 + 1))[:n]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big") if n else b""
        with self._send_lock:
            self.sock.sendall(head + mask + masked)

    def send_text(self, text: str) -> None:
        self._send_frame(0x1, text.encode("utf-8"))

    def recv(self):
        """The next message: str (text) or bytes (binary); None once the server closed the connection.

        Raises socket.timeout when nothing arrives within the socket's timeout; call again (a frame
        read half-way stays buffered).
        """
        parts, first_opcode = [], None
        while True:
            b0, b1 = self._peek_header()
            fin, opcode, n, header_len = b0 >> 7, b0 & 0x0F, b1 & 0x7F, 2
            if n == 126:
                header_len = 4
            elif n == 127:
                header_len = 10
            masked = b1 & 0x80
            header_len += 4 if masked else 0
            self._fill(header_len)
            if n == 126:
                n = struct.unpack("!H", self._buf[2:4])[0]
            elif n == 127:
                n = struct.unpack("!Q", self._buf[2:10])[0]
            if n > MAX_MESSAGE:
                raise WebSocketError(f"message of {n} bytes is over the {MAX_MESSAGE} byte limit")
            self._fill(header_len + n)
            frame = self._read(header_len + n)
            payload = frame[header_len:]
            if masked:  # servers do not mask, but be liberal in what we accept
                key = frame[header_len - 4:header_len]
                payload = bytes(c ^ key[i % 4] for i, c in enumerate(payload))
            if opcode == 0x8:
                self.closed = True
                try:
                    self._send_frame(0x8, payload[:2])
                except OSError:
                    pass
                return None
            if opcode == 0x9:
                self._send_frame(0xA, payload)
                continue
            if opcode == 0xA:
                continue
            if opcode in (0x1, 0x2):
                first_opcode = opcode
            parts.append(payload)
            if fin:
                data = b"".join(parts)
                return data.decode("utf-8") if first_opcode == 0x1 else data

    def _fill(self, n: int) -> None:
        """Buffer at least n bytes; socket.timeout propagates and leaves what was read buffered."""
        while len(self._buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise WebSocketError("connection closed by the server")
            self._buf += chunk

    def _peek_header(self):
        self._fill(2)
        return self._buf[0], self._buf[1]

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self._send_frame(0x8, struct.pack("!H", 1000))
            except OSError:
                pass
        try:
            self.sock.close()
        except OSError:
            pass


class StreamReceiver:
    """Background thread: connects (and reconnects with backoff), keeps the newest frame.

    `latest()` returns (hello, newest frame dict or None, frames received); `send()` queues a
    control message on the open connection; `replies` holds the last replies.
    """

    def __init__(self, url: str = DEFAULT_URL):
        self.url = url
        self.hello = None
        self.status = "idle"
        self.frames_received = 0
        self.replies: list[dict] = []
        self._frame = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ws: SimpleWebSocket | None = None
        self._thread = threading.Thread(target=self._run, name="liveedit-receiver", daemon=True)

    def start(self) -> "StreamReceiver":
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        ws = self._ws
        if ws is not None:
            ws.close()
        self._thread.join(timeout)

    def latest(self):
        with self._lock:
            return self.hello, self._frame, self.frames_received

    def send(self, msg: dict) -> bool:
        ws = self._ws
        if ws is None:
            return False
        try:
            ws.send_text(json.dumps(msg))
            return True
        except OSError:
            return False

    def _run(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            self.status = "connecting"
            try:
                ws = SimpleWebSocket(self.url)
                ws.sock.settimeout(0.5)  # wake up now and then to notice stop()
                self._ws = ws
                delay = 0.5
                self._read_loop(ws)
            except (OSError, ValueError) as exc:
                self.status = f"offline ({exc.__class__.__name__}: {exc})"[:120]
            finally:
                if self._ws is not None:
                    self._ws.close()
                self._ws = None
            if self._stop.wait(delay):
                break
            delay = min(delay * 2, 8.0)
        self.status = "stopped"

    def _read_loop(self, ws: SimpleWebSocket) -> None:
        while not self._stop.is_set():
            try:
                raw = ws.recv()
            except socket.timeout:
                continue
            if raw is None:
                raise WebSocketError("server closed the connection")
            if isinstance(raw, bytes):
                continue  # JSON subscription (the default): binary frames are not expected
            msg = json.loads(raw)
            kind = msg.get("type")
            if kind == "frame":
                with self._lock:
                    self._frame = msg
                    self.frames_received += 1
            elif kind == "hello":
                if msg.get("protocol") != PROTOCOL_VERSION:
                    raise WebSocketError(f"server speaks protocol {msg.get('protocol')}, this add-on reads {PROTOCOL_VERSION}")
                with self._lock:
                    self.hello = msg
                self.status = "live"
            elif kind == "reply":
                self.replies = (self.replies + [msg])[-20:]


# --------------------------------------------------------------------------- Blender side

def build_armature(context, hello=None, name: str = ARMATURE_NAME):
    """Create (or rebuild) the SMPL armature object; returns it."""
    names, parents, offsets = JOINT_NAMES, PARENTS, REST_OFFSETS
    if hello and hello.get("joint_names") and hello.get("parents") and hello.get("rest_offsets"):
        names, parents, offsets = hello["joint_names"], hello["parents"], hello["rest_offsets"]
    old = bpy.data.objects.get(name)
    if old is not None:
        bpy.data.objects.remove(old, do_unlink=True)
    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    context.scene.collection.objects.link(obj)
    context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    made = {}
    for bname, head, tail, parent in bone_layout(names, parents, offsets):
        eb = data.edit_bones.new(bname)
        eb.head, eb.tail, eb.roll = head, tail, 0.0
        if parent is not None:
            eb.parent = made[parent]
            eb.use_connect = False  # heads sit exactly on the joints, tails only point
        made[bname] = eb
    bpy.ops.object.mode_set(mode="OBJECT")
    for pb in obj.pose.bones:
        pb.rotation_mode = "QUATERNION"
    data.display_type = "OCTAHEDRAL"
    obj.show_in_front = True
    obj["liveedit_joint_names"] = list(names)
    return obj


def apply_frame(obj, frame: dict) -> None:
    """Pose the armature from one JSON frame message (rotations and root)."""
    names = list(obj.get("liveedit_joint_names", JOINT_NAMES))
    rot = frame["rot"]  # 4 * n floats, (x, y, z, w) per joint
    bones = obj.data.bones
    for j, name in enumerate(names):
        pb = obj.pose.bones.get(name)
        if pb is None:
            continue
        rest = bones[name].matrix_local.to_quaternion()          # (w, x, y, z)
        rest_xyzw = (rest.x, rest.y, rest.z, rest.w)
        x, y, z, w = pose_basis(rest_xyzw, rot[4 * j: 4 * j + 4])
        pb.rotation_quaternion = Quaternion((w, x, y, z))
        if j == 0:
            # A parentless bone's location is in its rest frame: head = rest_head + R_rest @ location.
            target = Vector(smpl_to_blender(frame["root"]))
            pb.location = bones[name].matrix_local.to_3x3().transposed() @ (target - bones[name].head_local)


def _rest_world(obj, bone):
    """A bone's rest head (world) and rest rotation (world, Quaternion)."""
    return obj.matrix_world @ bone.head_local, obj.matrix_world.to_quaternion() @ bone.matrix_local.to_quaternion()


def retarget_setup(source, target):
    """What retargeting `source` (the SMPL armature, live or an imported liveedit BVH) onto `target`
    (a humanoid rig) needs, from both rest poses; raises ValueError when `target` is not a humanoid."""
    found = humanoid_map([b.name for b in target.data.bones])
    missing = [h for h in REQUIRED_HUMANOID if h not in found]
    if missing:
        raise ValueError(f"{target.name} is not a humanoid rig: no bones for {', '.join(missing)} "
                         "(VRM, Mixamo or SMPL bone names expected)")
    src_bones, tgt_bones = source.data.bones, target.data.bones
    drive, corr = {}, {}
    order = sorted(found, key=lambda h: len(tgt_bones[found[h]].parent_recursive))
    for h in order:
        joint = HUMANOID_SMPL[h]
        if joint not in src_bones:
            continue
        head, rest = _rest_world(target, tgt_bones[found[h]])
        c = Quaternion()
        aim = next((a for a in _AIM.get(h, ()) if a in found and HUMANOID_SMPL[a] in src_bones), None)
        if aim is not None:
            d_t = _rest_world(target, tgt_bones[found[aim]])[0] - head
            d_s = (source.matrix_world @ src_bones[HUMANOID_SMPL[aim]].head_local
                   - source.matrix_world @ src_bones[joint].head_local)
            if d_t.length > 1e-6 and d_s.length > 1e-6:
                c = d_t.rotation_difference(d_s)
        else:  # head, toes, hands: keep the nearest driven ancestor's correction
            parent = tgt_bones[found[h]].parent
            while parent is not None and parent.name not in {found[k] for k in corr}:
                parent = parent.parent
            if parent is not None and h != "hips":
                c = corr[next(k for k in corr if found[k] == parent.name)].copy()
        corr[h] = c
        src_rest = source.matrix_world.to_quaternion() @ src_bones[joint].matrix_local.to_quaternion()
        drive[found[h]] = (joint, c, rest, src_rest)
    # Scale: the hips' height above the lowest foot joint in each rest pose (a BVH's rest pelvis
    # need not stand on the floor).
    def hip_height(obj, bones, names):
        z = [(obj.matrix_world @ bones[n].head_local).z for n in names if n and n in bones]
        return z[0] - min(z[1:])
    feet = ("leftFoot", "rightFoot", "leftToes", "rightToes")
    src_h = hip_height(source, src_bones, ["pelvis"] + [HUMANOID_SMPL[f] for f in feet])
    tgt_h = hip_height(target, tgt_bones, [found["hips"]] + [found.get(f) for f in feet])
    return {"drive": drive, "hips": found["hips"], "scale": tgt_h / src_h if src_h > 1e-6 else 1.0}


def retarget_pose(source, target, setup) -> None:
    """Pose `target` like `source` now: each driven bone turns in the world as its SMPL joint turned
    from rest, after the rest-pose correction (the same formula as the viewer's avatar.js); the hips
    follow the pelvis scaled by the ratio of hip heights. Source poses must be evaluated
    (view_layer.update()) first."""
    drive = setup["drive"]
    src_world = source.matrix_world
    tgt_inv = target.matrix_world.inverted()
    tgt_rot_inv = target.matrix_world.to_quaternion().inverted()
    pose = {}
    for bone in sorted(target.data.bones, key=lambda b: len(b.parent_recursive)):
        pb = target.pose.bones[bone.name]
        parent = bone.parent
        rest_rel = parent.matrix_local.inverted() @ bone.matrix_local if parent else bone.matrix_local
        base = pose[parent.name] @ rest_rel if parent else rest_rel
        if bone.name not in drive:
            pose[bone.name] = base @ pb.matrix_basis
            continue
        joint, c, rest, src_rest = drive[bone.name]
        spb = source.pose.bones[joint]
        g = (src_world.to_quaternion() @ spb.matrix.to_quaternion()) @ src_rest.inverted()
        rot = tgt_rot_inv @ (g @ c @ rest)
        head = base.to_translation()
        if bone.name == setup["hips"]:
            head = tgt_inv @ ((src_world @ spb.matrix).to_translation() * setup["scale"])
        desired = Matrix.Translation(head) @ rot.to_matrix().to_4x4()
        basis = base.inverted() @ desired
        pb.rotation_mode = "QUATERNION"
        pb.rotation_quaternion = basis.to_quaternion()
        if bone.name == setup["hips"]:
            pb.location = basis.to_translation()
        pose[bone.name] = desired


_receiver: StreamReceiver | None = None
_retarget_cache = {}


def _retarget_live(scene, source):
    """Pose the scene's target rig (if any) like `source`; the setup is cached per rig pair."""
    target = scene.liveedit.target
    if target is None or target.type != "ARMATURE" or target == source:
        return
    key = (source.name, target.name)
    if key not in _retarget_cache:
        try:
            _retarget_cache[key] = retarget_setup(source, target)
        except ValueError as exc:
            scene.liveedit.status = str(exc)[:120]
            return
    bpy.context.view_layer.update()
    retarget_pose(source, target, _retarget_cache[key])


def _timer():
    """Main-thread timer: apply the newest frame; keyframe it when recording."""
    if _receiver is None:
        return None
    scene = bpy.context.scene
    obj = bpy.data.objects.get(ARMATURE_NAME)
    hello, frame, count = _receiver.latest()
    scene.liveedit.status = _receiver.status
    if obj is not None and frame is not None and count != scene.liveedit.applied:
        scene.liveedit.applied = count
        apply_frame(obj, frame)
        _retarget_live(scene, obj)
        if scene.liveedit.record:
            for pb in obj.pose.bones:
                pb.keyframe_insert("rotation_quaternion", frame=scene.frame_current)
            root = obj.pose.bones.get(list(obj.get("liveedit_joint_names", JOINT_NAMES))[0])
            if root is not None:
                root.keyframe_insert("location", frame=scene.frame_current)
            _keyframe_target(scene, scene.frame_current)
            scene.frame_set(scene.frame_current + 1)
    return 1.0 / 60.0


def _keyframe_target(scene, frame):
    target = scene.liveedit.target
    if target is None or target.type != "ARMATURE":
        return
    for key, setup in _retarget_cache.items():
        if key[1] == target.name:
            for name in setup["drive"]:
                target.pose.bones[name].keyframe_insert("rotation_quaternion", frame=frame)
            target.pose.bones[setup["hips"]].keyframe_insert("location", frame=frame)
            return


def bake_onto_rig(scene, source, target):
    """Key `target` on every frame of the scene's range as `source` (e.g. an imported BVH) moves."""
    setup = retarget_setup(source, target)
    _retarget_cache[(source.name, target.name)] = setup
    for f in range(scene.frame_start, scene.frame_end + 1):
        scene.frame_set(f)
        retarget_pose(source, target, setup)
        for name in setup["drive"]:
            target.pose.bones[name].keyframe_insert("rotation_quaternion", frame=f)
        target.pose.bones[setup["hips"]].keyframe_insert("location", frame=f)
    return scene.frame_end - scene.frame_start + 1


def _is_armature(self, obj):
    return obj.type == "ARMATURE"


if bpy is not None:

    class LiveEditSettings(bpy.types.PropertyGroup):
        url: bpy.props.StringProperty(name="Stream", default=DEFAULT_URL)
        prompt: bpy.props.StringProperty(name="Edit", default="swing arms wider")
        status: bpy.props.StringProperty(name="Status", default="idle")
        record: bpy.props.BoolProperty(name="Record keyframes", default=False,
                                       description="Insert a keyframe per received frame and advance the scene frame")
        applied: bpy.props.IntProperty(default=0)
        target: bpy.props.PointerProperty(
            name="Your rig", type=bpy.types.Object, poll=_is_armature,
            description="A humanoid armature (VRM, Mixamo or SMPL bone names) that follows the dance too")
        source: bpy.props.PointerProperty(
            name="From", type=bpy.types.Object, poll=_is_armature,
            description="The SMPL armature to bake from, e.g. an imported liveedit BVH (default: liveedit_smpl)")

    class LIVEEDIT_OT_build(bpy.types.Operator):
        bl_idname = "liveedit.build_armature"
        bl_label = "Build armature"
        bl_description = "Create an armature with SMPL proportions"

        def execute(self, context):
            hello = _receiver.latest()[0] if _receiver else None
            build_armature(context, hello)
            return {"FINISHED"}

    class LIVEEDIT_OT_connect(bpy.types.Operator):
        bl_idname = "liveedit.connect"
        bl_label = "Connect"
        bl_description = "Receive the live pose stream and animate the armature"

        def execute(self, context):
            global _receiver
            if _receiver is not None:
                _receiver.stop()
            if bpy.data.objects.get(ARMATURE_NAME) is None:
                build_armature(context)
            context.scene.liveedit.applied = 0
            _receiver = StreamReceiver(context.scene.liveedit.url).start()
            if not bpy.app.timers.is_registered(_timer):
                bpy.app.timers.register(_timer, first_interval=0.1)
            return {"FINISHED"}

    class LIVEEDIT_OT_disconnect(bpy.types.Operator):
        bl_idname = "liveedit.disconnect"
        bl_label = "Disconnect"

        def execute(self, context):
            global _receiver
            if _receiver is not None:
                _receiver.stop()
                _receiver = None
            context.scene.liveedit.status = "idle"
            return {"FINISHED"}

    class LIVEEDIT_OT_send(bpy.types.Operator):
        bl_idname = "liveedit.send"
        bl_label = "Send"
        kind: bpy.props.StringProperty(default="edit")

        def execute(self, context):
            msg = {"type": self.kind}
            if self.kind == "edit":
                msg["text"] = context.scene.liveedit.prompt
            if _receiver is None or not _receiver.send(msg):
                self.report({"WARNING"}, "not connected to the liveedit stream")
                return {"CANCELLED"}
            return {"FINISHED"}

    class LIVEEDIT_OT_bake(bpy.types.Operator):
        bl_idname = "liveedit.bake_onto_rig"
        bl_label = "Bake onto rig"
        bl_description = "Key your rig on every frame of the scene as the SMPL armature (or an imported BVH) moves"

        def execute(self, context):
            s = context.scene.liveedit
            source = s.source or bpy.data.objects.get(ARMATURE_NAME)
            if source is None or s.target is None:
                self.report({"WARNING"}, "pick your rig, and a BVH armature or build the SMPL one")
                return {"CANCELLED"}
            try:
                n = bake_onto_rig(context.scene, source, s.target)
            except ValueError as exc:
                self.report({"ERROR"}, str(exc))
                return {"CANCELLED"}
            self.report({"INFO"}, f"{s.target.name}: {n} frames keyed")
            return {"FINISHED"}

    class LIVEEDIT_PT_panel(bpy.types.Panel):
        bl_label = "liveedit"
        bl_space_type = "VIEW_3D"
        bl_region_type = "UI"
        bl_category = "liveedit"

        def draw(self, context):
            s = context.scene.liveedit
            col = self.layout.column()
            col.prop(s, "url")
            col.label(text=f"Status: {s.status}")
            row = col.row()
            row.operator("liveedit.connect")
            row.operator("liveedit.disconnect")
            col.operator("liveedit.build_armature")
            col.prop(s, "target")
            col.prop(s, "source")
            col.operator("liveedit.bake_onto_rig")
            col.prop(s, "record")
            col.separator()
            col.prop(s, "prompt")
            row = col.row()
            row.operator("liveedit.send", text="Send edit").kind = "edit"
            row.operator("liveedit.send", text="Undo").kind = "undo"
            row.operator("liveedit.send", text="Reset").kind = "reset"
            if _receiver is not None and _receiver.replies:
                col.label(text=_receiver.replies[-1].get("message", "")[:60])

    _CLASSES = (LiveEditSettings, LIVEEDIT_OT_build, LIVEEDIT_OT_connect, LIVEEDIT_OT_disconnect,
                LIVEEDIT_OT_send, LIVEEDIT_OT_bake, LIVEEDIT_PT_panel)


def register():
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.liveedit = bpy.props.PointerProperty(type=LiveEditSettings)


def unregister():
    global _receiver
    if _receiver is not None:
        _receiver.stop()
        _receiver = None
    if bpy.app.timers.is_registered(_timer):
        bpy.app.timers.unregister(_timer)
    del bpy.types.Scene.liveedit
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)


if __name__ == "__main__":
    register()

"""Video of the dance: a stick figure on a floor grid, beats visible, the song muxed in; or, with
style="avatar", the viewer's avatar drawn by headless Chromium (liveedit/offline/render_avatar.py).

Frames are drawn with matplotlib's Agg backend (a fixed perspective camera that follows the dancer
around the floor, computed here, so each frame is a cheap 2-D draw) and piped as raw RGBA into
ffmpeg, which encodes H.264 + AAC (mp4) and/or a palette-optimised GIF. Beats show three ways: a
disc that flashes on each beat, a scrolling beat strip with the playhead, and a beat counter.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from contextlib import ExitStack
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.patches import Circle  # noqa: E402
from tqdm import tqdm  # noqa: E402

from liveedit.offline.errors import OfflineError, atomic_output  # noqa: E402
from model.motion import joints_from_motion  # noqa: E402
from model.music import import_pretty_midi  # noqa: E402
from model.skeleton import JOINT_NAMES, NUM_JOINTS, PARENTS  # noqa: E402

BONES = [(PARENTS[j], j) for j in range(1, NUM_JOINTS)]
CAM_DIST = 4.5      # metres from the look-at point
CAM_YAW = np.deg2rad(25.0)
CAM_PITCH = np.deg2rad(12.0)
VIEW_HALF = 1.3     # metres visible either side of the look-at point (at its depth)
LOOK_HEIGHT = 0.85
FLASH_S = 0.18      # how long a beat flash lasts
STRIP_S = 2.0       # seconds of beats either side of the playhead in the strip


def _bone_color(j: int) -> str:
    name = JOINT_NAMES[j]
    if name.startswith("left"):
        return "#1f77d0"
    if name.startswith("right"):
        return "#e0452b"
    return "#333333"


def _smooth(x: np.ndarray, seconds: float, fps: float) -> np.ndarray:
    """Centered moving average along time (camera follow without jitter)."""
    n = max(1, int(seconds * fps)) | 1
    pad = np.pad(x, ((n // 2, n // 2), (0, 0)), mode="edge")
    kernel = np.ones(n) / n
    return np.stack([np.convolve(pad[:, i], kernel, mode="valid") for i in range(x.shape[1])], axis=1)


class Camera:
    """Perspective projection from world (T, ..., 3) to screen units, following `targets` (T, 3)."""

    def __init__(self, targets: np.ndarray):
        self.targets = targets
        cy, sy = np.cos(CAM_YAW), np.sin(CAM_YAW)
        cp, sp = np.cos(CAM_PITCH), np.sin(CAM_PITCH)
        ry = np.array([[cy, 0, -sy], [0, 1, 0], [sy, 0, cy]])
        rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])  # pitch: camera above, looking down
        self.rot = rx @ ry  # world -> camera axes (camera on +z side looking at -z, body faces +z)

    def project(self, pts: np.ndarray, t: int) -> np.ndarray:
        """(..., 3) world points at frame t -> (..., 2) screen coordinates."""
        p = (pts - self.targets[t]) @ self.rot.T
        depth = np.maximum(CAM_DIST - p[..., 2], 0.1)
        return p[..., :2] * (CAM_DIST / depth)[..., None]


def _floor_lines(center: np.ndarray, half: float = 3.0, step: float = 0.5) -> np.ndarray:
    """(L, 2, 3) grid lines on y = 0 around `center`, snapped to the world grid so they scroll."""
    x0 = np.floor((center[0] - half) / step) * step
    z0 = np.floor((center[2] - half) / step) * step
    xs = x0 + step * np.arange(int(2 * half / step) + 2)
    zs = z0 + step * np.arange(int(2 * half / step) + 2)
    lines = [((x, 0, zs[0]), (x, 0, zs[-1])) for x in xs] + [((xs[0], 0, z), (xs[-1], 0, z)) for z in zs]
    return np.asarray(lines, np.float64)


def probe_audio(path: str | Path) -> float:
    """Duration (s) of the audio stream of `path`; OfflineError if ffmpeg cannot read one."""
    try:
        out = subprocess.run(
            ["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries", "stream=codec_type:format=duration",
             "-of", "default=noprint_wrappers=1", str(path)],
            capture_output=True, text=True, timeout=30, check=False)
    except FileNotFoundError as exc:
        raise OfflineError("ffprobe (ffmpeg) is not installed; apt-get install ffmpeg") from exc
    if out.returncode != 0 or "codec_type=audio" not in out.stdout:
        raise OfflineError(f"{path}: no readable audio stream ({out.stderr.strip() or 'ffprobe found none'})")
    for line in out.stdout.splitlines():
        if line.startswith("duration="):
            try:
                return float(line.split("=", 1)[1])
            except ValueError:
                break
    return float("nan")


def _audio_for_ffmpeg(song: Path, stack: ExitStack) -> Path:
    """A file ffmpeg can read for `song`: the file itself, or a WAV rendered from a MIDI file."""
    if not song.exists():
        raise OfflineError(f"{song}: no such audio file")
    if song.suffix.lower() in {".mid", ".midi", ".kar"}:
        pretty_midi = import_pretty_midi()
        import soundfile as sf  # noqa: PLC0415

        try:
            audio = pretty_midi.PrettyMIDI(str(song)).fluidsynth(fs=44100)
        except Exception as exc:
            raise OfflineError(f"{song}: cannot render the MIDI file ({exc})") from exc
        tmpdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="liveedit-render-")))
        wav = tmpdir / "song.wav"
        sf.write(wav, (0.9 * audio).astype(np.float32), 44100)
        return wav
    probe_audio(song)
    return song


class Frames:
    """The figure and its artists; `draw(t)` returns frame t as RGBA bytes."""

    def __init__(self, joints: np.ndarray, fps: float, beat_times: np.ndarray, size: int = 480):
        self.ffmpeg_input = ["-f", "rawvideo", "-pix_fmt", "rgba", "-s", f"{size}x{size}"]
        self.joints, self.fps, self.size = joints, fps, size
        self.beats = np.asarray(beat_times, np.float64)
        root = joints[:, 0, :]
        targets = _smooth(root, 1.0, fps)
        targets[:, 1] = LOOK_HEIGHT
        self.cam = Camera(targets)
        lim = VIEW_HALF  # screen units are metres at the look-at depth

        self.fig = plt.figure(figsize=(size / 100, size / 100), dpi=100)
        self.ax = self.fig.add_axes((0, 0.1, 1, 0.9))
        # The axes are 1 x 0.9 of a square figure: y range 0.9 x the x range keeps pixels square.
        self.ax.set_xlim(-lim, lim)
        self.ax.set_ylim(-lim * 0.85, lim * 0.95)
        self.ax.axis("off")
        self.fig.patch.set_facecolor("white")
        self.floor = LineCollection([], colors="#c8c8c8", linewidths=0.8)
        self.ax.add_collection(self.floor)
        self.shadow = LineCollection([], colors="#d9d9d9", linewidths=5, capstyle="round")
        self.ax.add_collection(self.shadow)
        self.bones = LineCollection([], colors=[_bone_color(j) for _, j in BONES], linewidths=4, capstyle="round")
        self.ax.add_collection(self.bones)
        (self.head,) = self.ax.plot([], [], "o", color="#333333", markersize=13)
        self.flash = Circle((lim * 0.82, lim * 0.77), lim * 0.07, color="#f5a623", alpha=0.0, zorder=5)
        self.ax.add_patch(self.flash)
        self.text = self.ax.text(-lim * 0.95, lim * 0.9, "", fontsize=10, family="monospace", va="top")

        self.strip = self.fig.add_axes((0.03, 0.015, 0.94, 0.07))
        self.strip.set_xlim(-STRIP_S, STRIP_S)
        self.strip.set_ylim(0, 1)
        self.strip.set_xticks([])
        self.strip.set_yticks([])
        self.strip.set_facecolor("#f4f4f4")
        self.strip_ticks = LineCollection([], colors="#f5a623", linewidths=3)
        self.strip.add_collection(self.strip_ticks)
        self.strip.axvline(0.0, color="#333333", linewidth=2)

    def draw(self, t: int) -> bytes:
        now = t / self.fps
        j = self.joints[t]
        p2 = self.cam.project(j, t)
        self.bones.set_segments([(p2[a], p2[b]) for a, b in BONES])
        shadow = j.copy()
        shadow[:, 1] = 0.0
        s2 = self.cam.project(shadow, t)
        self.shadow.set_segments([(s2[a], s2[b]) for a, b in BONES])
        self.head.set_data([p2[15, 0]], [p2[15, 1]])
        self.floor.set_segments(list(self.cam.project(_floor_lines(self.cam.targets[t]), t)))

        past = self.beats[self.beats <= now + 0.5 / self.fps]
        # A beat up to half a frame ahead counts as now (since < 0): full flash.
        since = max(0.0, now - past[-1]) if len(past) else np.inf
        self.flash.set_alpha(float(np.clip(1.0 - since / FLASH_S, 0.0, 1.0)))
        near = self.beats[np.abs(self.beats - now) <= STRIP_S] - now
        self.strip_ticks.set_segments([((x, 0.1), (x, 0.9)) for x in near])
        self.text.set_text(f"{now:6.2f} s  beat {len(past):4d}")

        self.fig.canvas.draw()
        return bytes(self.fig.canvas.buffer_rgba())

    def close(self) -> None:
        plt.close(self.fig)


def render(motion: np.ndarray, fps: float, beat_times: np.ndarray, out: str | Path, *,
           audio: str | Path | None = None, gif: bool = False, size: int = 480,
           gif_fps: int = 15, gif_size: int = 320, progress: bool = True, style: str = "stick",
           avatar: str | Path | None = None) -> list[Path]:
    """Render the (T, 151) motion to `out` (.mp4, or .gif); `gif` also writes out.gif beside an mp4.

    style: "stick" (matplotlib) or "avatar" (the viewer's avatar, or the VRM/glTF file `avatar`, in
    headless Chromium).

    Returns the paths written. Any failure leaves existing files untouched.
    """
    if shutil.which("ffmpeg") is None:
        raise OfflineError("ffmpeg is not installed; apt-get install ffmpeg")
    out = Path(out)
    only_gif = out.suffix.lower() == ".gif"
    if not only_gif and out.suffix.lower() != ".mp4":
        raise OfflineError(f"{out}: render writes .mp4 or .gif files")
    if size < 64 or size % 2:
        raise OfflineError(f"--size must be an even number >= 64, got {size}")
    if style not in ("stick", "avatar"):
        raise OfflineError(f"--style must be stick or avatar, got {style!r}")
    targets = [] if only_gif else [out]
    if gif or only_gif:
        targets.append(out if only_gif else out.with_suffix(".gif"))

    joints = joints_from_motion(np.asarray(motion, np.float32)).numpy().astype(np.float64)  # (T, 24, 3)
    T = len(joints)
    with ExitStack() as stack:
        song = _audio_for_ffmpeg(Path(audio), stack) if (audio is not None and not only_gif) else None
        tmps = [stack.enter_context(atomic_output(p)) for p in targets]
        if style == "avatar":
            from liveedit.offline.render_avatar import AvatarFrames  # noqa: PLC0415
            targets_cam = _smooth(joints[:, 0, :], 1.0, fps)
            frames = AvatarFrames(motion, fps, beat_times, size, targets_cam, avatar)
        else:
            frames = Frames(joints, fps, beat_times, size)
        stack.callback(frames.close)
        cmd = ["ffmpeg", "-y", "-loglevel", "error", *frames.ffmpeg_input, "-r", f"{fps:g}", "-i", "-"]
        if song is not None:
            cmd += ["-i", str(song)]
        for path, tmp in zip(targets, tmps):
            if path.suffix.lower() == ".gif":
                # The avatar's shaded, fogged scene: 64 colours with ordered dithering and only the
                # changed rectangle per frame keep its GIF about half the size at the same look.
                palette = ("palettegen=max_colors=64:stats_mode=diff[p];[b][p]paletteuse=dither=bayer:bayer_scale=4"
                           ":diff_mode=rectangle" if style == "avatar" else "palettegen[p];[b][p]paletteuse")
                cmd += ["-map", "0:v", "-vf", f"fps={gif_fps},scale={gif_size}:-1:flags=lanczos,split[a][b];[a]{palette}",
                        "-f", "gif", str(tmp)]
            else:
                cmd += ["-map", "0:v", "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p"]
                if song is not None:
                    # The video sets the length: the song is cut at the end of the dance.
                    cmd += ["-map", "1:a", "-c:a", "aac", "-b:a", "160k", "-t", f"{T / fps:.3f}"]
                cmd += ["-movflags", "+faststart", "-f", "mp4", str(tmp)]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            for t in tqdm(range(T), desc="render", unit="frame", disable=not progress):
                proc.stdin.write(frames.draw(t))
            proc.stdin.close()
        except BrokenPipeError:
            pass
        err = proc.stderr.read().decode(errors="replace")
        if proc.wait() != 0:
            raise OfflineError(f"ffmpeg failed: {err.strip()[-800:]}")
    return targets

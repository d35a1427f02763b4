"""`DanceModel`: the network, its normaliser, the text encoder and the sampler behind one small API.

Everything here takes and returns UN-normalised motion (T, 151) as numpy arrays; normalisation,
classifier-free guidance and known frames are handled inside. The live engine, the offline tools
and the evaluation all go through this class.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np
from scipy.interpolate import CubicSpline
import torch

from model.beat_snap import snap_to_beats
from model.checkpoint import CheckpointError, load_checkpoint
from model.cleanup import lock_feet
from model.diffusion import SAMPLERS, DDIMSampler
from model.dynamics import ENERGY_CHECKPOINT, FLOOR, REFERENCE_SPEED, EnergyEnvelope, follow_energy
from model.motion import Normalizer
from model.music import BEAT
from model.network import DanceEditor, EditInputs, ModelConfig

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "default.pt"

# How much of the current dance an edit re-draws: 1 samples the edited window from pure noise (the
# paper); lower values start from the current dance noised that far (SDEdit) and keep more of it.
# Partial re-draws keep more of the other attributes (preservation 91-95% at 0.5 against 70-75% at 1,
# 120 held-out windows, three successive edits) but every pass makes the dance slower and plainer,
# and it compounds: at 0.5, Div_k fell from 7.8 to 4.8 and FID_k rose from 67 to 156 over three
# edits, against 78 at 1 (docs/MODEL.md). Live, a dance that freezes after a few edits is the
# worse failure.
EDIT_REDRAW = 1.0

# How windows are sampled (model/diffusion.py). New dance: DPM-Solver++(2M) over steps spaced in
# log-SNR, chosen by the long-form section of `liveedit eval` over plain DDIM, whose 10 even steps
# shrink the dance's finer motion (docs/MODEL.md: "The sampler"). Edits keep DDIM, the sampler their
# success and preservation figures were measured with.
GENERATE_SAMPLING = SAMPLERS["dpm2"]

# How much the dance slows into every beat of the beat channel (model/beat_snap.py: beat_pulse_time):
# playback at 0.6x on the beat and 1.4x half-way between. On the long-form section it lifted BAS from
# 0.240 / 0.250 to 0.300 / 0.336 (two seeds; the data 0.337) and made the dance depend on its own
# music's beats (BAS 0.06-0.09 lower with another song's music, 0.005-0.03 before), at the cost of
# sharper accelerations (seam-spike ratio 9.5 / 8.9 -> 12.2 / 11.9; docs/MODEL.md).
BEAT_PULSE = 0.4
EDIT_SAMPLING = SAMPLERS["ddim"]

# History fading: how much a continuation window's music-conditioned prediction leans on the known
# frames it continues, by distance from the seam. Up to HISTORY_NEAR frames past the last known
# frame it is the prediction given those frames (so the seam stays continuous); from HISTORY_FAR
# on it is HISTORY_FAR_WEIGHT of it, the rest a prediction of the same window without them; linear
# in between. A dance that only ever continues itself inherits and deepens its own drift (the
# pelvis sank from 0.90 m to 0.70 m within 20 s while isolated windows stood tall); this lets the
# music, not the previous window, decide where the dance goes a second after the seam.
# 1.0 turns it off. Costs a third network row per sampler step (a continuation window 1.33x).
# Only what the body does fades: contacts, pelvis height and the parent-relative rotations. Where the
# dancer stands and faces (root x, z and the pelvis's global rotation) always continues the known
# frames: a window drawn without them stands wherever the data's dancers stood, and leaning toward
# it slid the whole body across the floor (foot skating 0.044 -> 0.075).
HISTORY_NEAR = 15
HISTORY_FAR = 60
HISTORY_FAR_WEIGHT = 0.0
HISTORY_FADED = np.r_[0:4, 5, 13:151]          # channels of the 151 (model/motion.py) that fade


def history_weights(mask: torch.Tensor, far_weight: float, near: int = HISTORY_NEAR,
                    far: int = HISTORY_FAR) -> torch.Tensor:
    """Per-frame weight of the prefix-conditioned prediction (see HISTORY_FAR_WEIGHT).
    mask: (B, T) bool, known frames first. -> (B, T) float: 1 on and near the known frames, falling
    linearly to far_weight at `far` frames past the last known one. Frames before a known frame
    (an in-between, not a prefix) keep 1."""
    T = mask.shape[1]
    frame = torch.arange(T, device=mask.device)
    last_known = torch.where(mask, frame, torch.full_like(frame, -1)).amax(dim=1)        # (B,)
    past = (frame[None, :] - last_known[:, None]).float()                               # (B, T)
    ramp = ((past - near) / max(far - near, 1)).clamp(0.0, 1.0)
    ramp = ramp * (last_known >= 0)[:, None]            # a window with nothing known: nothing to fade
    return 1.0 - (1.0 - far_weight) * ramp

# How `edit_stack` composes several stacked edits into one sampler pass (see there).
STACK_COMPOSITIONS = ("tokens", "guidance")
STACK_COMPOSE = "tokens"


def describe_sampling(model, which: str = "generate_sampling") -> str:
    """How `model` samples new dance (or, with which="edit_sampling", edits), for reports and dance
    files; "DDIM" for models without the setting (test stand-ins sample that way)."""
    sampling = getattr(model, which, None)
    text = sampling.describe() if sampling is not None else "DDIM"
    fade = getattr(model, "history_far_weight", 1.0)
    if which == "generate_sampling" and fade < 1.0:
        text += f"; history fading to {fade:g} from {HISTORY_NEAR} to {HISTORY_FAR} frames past the known ones"
    return text


class TextEncoderLike(Protocol):
    def encode(self, prompts: list[str], max_tokens: int = 32): ...  # -> .tokens (B,L,384), .mask (B,L)


def _as_batch(x: np.ndarray | torch.Tensor | None, ndim: int) -> tuple[torch.Tensor | None, bool]:
    """Add a batch axis when a single item is given; -> (tensor, was_single)."""
    if x is None:
        return None, False
    t = torch.as_tensor(np.asarray(x, dtype=np.float32)) if not isinstance(x, torch.Tensor) else x.float()
    if t.ndim == ndim - 1:
        return t[None], True
    if t.ndim != ndim:
        raise ValueError(f"expected an array of {ndim - 1} or {ndim} dimensions, got shape {tuple(t.shape)}")
    return t, False


def token_rate_to_frame_rate(x: np.ndarray, p: int) -> np.ndarray:
    """Resample motion that moves in steps of p frames to a smooth frame-rate curve.

    With p frames a token, a briefly trained network tends to emit p near-identical frames per token
    and the jump in between (measured on the CPU-trained default model: 0.003 m a frame inside a token,
    0.03 m across tokens, against 0.013 m for every frame of the training data). Each token's mean is
    taken as a sample at the token's centre and a cubic spline runs through the centres, which keeps
    the motion and removes the staircase. Cubic rather than linear because dance lives in sharp
    accents: put through this resampling, the ground truth's beat alignment (BAS, 40 test windows)
    drops from 0.324 to 0.295 with the spline and to 0.288 with straight lines, and its speed from
    0.0224 m a frame to 0.0213 and 0.0198. x: (..., T, C) -> (..., T, C).
    """
    T = x.shape[-2]
    n = T // p
    if p <= 1 or n < 2:
        return x
    means = x[..., : n * p, :].reshape(*x.shape[:-2], n, p, x.shape[-1]).mean(axis=-2)   # (..., N, C)
    centres = np.arange(n) * p + (p - 1) / 2.0
    frames = np.clip(np.arange(T, dtype=np.float64), centres[0], centres[-1])   # ends held flat
    return CubicSpline(centres, means, axis=-2)(frames).astype(x.dtype)


class DanceModel:
    """A trained (or tiny random) DanceEditor ready to generate and edit 5 s windows.

    Thread-safety: one call at a time (an internal lock), so the live engine's worker thread and an
    evaluation loop can share an instance.

    beat_snap: re-time generated frames so the dance's accents land on the beats of the music's
    beat channel, and slow the dance into every beat (model/beat_snap.py, BEAT_PULSE). foot_lock: pin ankles the network marks in contact
    (model/cleanup.py). Both off give the raw network output, as the evaluation's "raw" row does.
    energy / dynamics: new dance (not edits) gets livelier or calmer with the energy that the
    music-to-energy envelope hears in its music, at strength `dynamics` (0 = off; model/dynamics.py).
    """

    def __init__(self, net: DanceEditor, normalizer: Normalizer, text_encoder: TextEncoderLike | None = None,
                 meta: dict | None = None, name: str = "model", foot_lock: bool = True,
                 beat_snap: bool = True, energy: EnergyEnvelope | None = None, dynamics: float = 1.0):
        self.net = net.eval()
        self.energy = energy
        self.dynamics = dynamics
        self.foot_lock = foot_lock
        self.beat_snap = beat_snap
        self.normalizer = normalizer
        self.meta = dict(meta or {})
        self.name = name
        self.sampler = DDIMSampler()
        self.generate_sampling = GENERATE_SAMPLING
        self.edit_sampling = EDIT_SAMPLING
        self.history_far_weight = HISTORY_FAR_WEIGHT
        self._text_encoder = text_encoder
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ construction
    @classmethod
    def load(cls, path: str | Path | None = None, text_encoder: TextEncoderLike | None = None,
             foot_lock: bool = True, beat_snap: bool = True, dynamics: float = 1.0) -> "DanceModel":
        """Load a checkpoint (default: the one shipped in model/checkpoints/default.pt) and the
        music-to-energy envelope shipped next to it (model/checkpoints/energy.pt) when there is one."""
        path = Path(path) if path is not None else DEFAULT_CHECKPOINT
        if path == DEFAULT_CHECKPOINT and not path.is_file():
            raise FileNotFoundError(f"no default checkpoint at {path}; train one with `python training/train.py`")
        net, normalizer, meta = load_checkpoint(path)
        energy = EnergyEnvelope.load(ENERGY_CHECKPOINT) if ENERGY_CHECKPOINT.is_file() else None
        return cls(net, normalizer, text_encoder, meta, name=path.name, foot_lock=foot_lock,
                   beat_snap=beat_snap, energy=energy, dynamics=dynamics)

    @classmethod
    def tiny_random(cls, seed: int = 0, text_encoder: TextEncoderLike | None = None,
                    edit_mode: str = "cem") -> "DanceModel":
        """A small randomly initialised model (for tests and development before training)."""
        torch.manual_seed(seed)
        cfg = ModelConfig(width=64, depth=2, heads=2, music_layers=1, edit_mode=edit_mode)
        net = DanceEditor(cfg, with_editor=True)
        # Random editing weights instead of zeros, so edits visibly do something even untrained.
        with torch.no_grad():
            for name, p in net.editor.named_parameters():
                if "zero" in name:
                    p.normal_(0, 0.02)
        normalizer = Normalizer.identity(cfg.motion_dim)
        normalizer.mean[5] = 0.95  # pelvis height: stand rather than sit in the floor
        normalizer.std[4:7] = 0.1
        return cls(net, normalizer, text_encoder, {"tiny_random": True, "seed": seed}, name="tiny-random")

    @property
    def cfg(self) -> ModelConfig:
        return self.net.cfg

    @property
    def window(self) -> int:
        return self.cfg.window

    @property
    def can_edit(self) -> bool:
        return self.net.editor is not None

    @property
    def text_encoder(self) -> TextEncoderLike:
        if self._text_encoder is None:
            from model.text import get_text_encoder  # lazy: loading the encoder takes seconds
            self._text_encoder = get_text_encoder()
        return self._text_encoder

    # ------------------------------------------------------------------ helpers
    def _known(self, known, known_mask, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        T, C = self.window, self.cfg.motion_dim
        if known is None or known_mask is None:
            return torch.zeros(batch, T, C), torch.zeros(batch, T, dtype=torch.bool)
        k, _ = _as_batch(known, 3)
        m = torch.as_tensor(np.asarray(known_mask)).bool()
        m = m[None] if m.ndim == 1 else m
        if k.shape[1:] != (T, C) or m.shape[-1] != T:
            raise ValueError(f"known frames must be ({T}, {C}) with a ({T},) mask, got {tuple(k.shape)} and {tuple(m.shape)}")
        return self.normalizer.normalize(k).expand(batch, -1, -1), m.expand(batch, -1)

    def _check_music(self, music) -> tuple[torch.Tensor, bool]:
        mu, single = _as_batch(music, 3)
        if mu.shape[1:] != (self.window, self.cfg.music_dim):
            raise ValueError(f"music features must be ({self.window}, {self.cfg.music_dim}) per window, got {tuple(mu.shape)}")
        return mu, single

    @staticmethod
    def _generator(seed: int | None) -> torch.Generator:
        g = torch.Generator()
        g.manual_seed(int(seed) if seed is not None else int(torch.randint(0, 2**31 - 1, (1,))))
        return g

    # ------------------------------------------------------------------ generation
    @torch.no_grad()
    def generate(self, music, known=None, known_mask=None, steps: int = 10, music_guidance: float = 2.0,
                 seed: int | None = None) -> np.ndarray:
        """Initial prediction for one window (or a batch).

        music: (150, 35) or (B, 150, 35); known: (150, 151) or (B, ...) un-normalised; known_mask:
        (150,) or (B, 150) bool. Returns (150, 151) (or (B, 150, 151)); known frames come back exactly.
        music_guidance: classifier-free guidance scale on music (1 = plain conditional model).
        """
        mu, single = self._check_music(music)
        B = mu.shape[0]
        known_n, mask = self._known(known, known_mask, B)
        with self._lock:
            net = self.net
            guided = music_guidance != 1.0
            fade = guided and self.history_far_weight < 1.0 and bool(mask.any())
            if guided:  # conditional, unconditional (and, fading, conditional without history): one batch
                rows = 3 if fade else 2
                no, yes = torch.zeros(B, dtype=torch.bool), torch.ones(B, dtype=torch.bool)
                cond = net.condition(torch.cat([mu] * rows), torch.cat([no, yes, no][:rows]))
                known_r = torch.cat([known_n] * rows)
                mask_r = torch.cat([mask, mask, torch.zeros_like(mask)][:rows])
                if fade:
                    w = torch.ones(B, self.window, self.cfg.motion_dim)                   # (B, T, 151)
                    w[..., HISTORY_FADED] = history_weights(mask, self.history_far_weight)[..., None]

                def denoise(x, t):
                    x0 = net.denoise(torch.cat([x] * rows), torch.cat([t] * rows), cond, known_r, mask_r)
                    c, u = x0[:B], x0[B:2 * B]
                    if fade:
                        fresh = x0[2 * B:]
                        c = fresh + w * (c - fresh)
                    return u + music_guidance * (c - u)
            else:
                cond = net.condition(mu)

                def denoise(x, t):
                    return net.denoise(x, t, cond, known_n, mask)

            x0 = self.sampler.sample(denoise, (B, self.window, self.cfg.motion_dim), steps=steps,
                                     known=known_n, known_mask=mask, generator=self._generator(seed),
                                     order=self.generate_sampling.order, spacing=self.generate_sampling.spacing)
        out = self._finish(x0, known, known_mask, mu, new_dance=True)
        return out[0] if single else out

    def _finish(self, x0_normalised: torch.Tensor, known, known_mask, music: torch.Tensor,
                new_dance: bool = False) -> np.ndarray:
        """De-normalise, smooth the token rate, snap contacts to {0,1}, put known frames back exactly,
        (new dance only) follow the music's energy, put accents on the beats (and, new dance only,
        slow into every beat), lock planted feet. Edits skip the two new-dance steps: an edit
        re-draws a dance that already has them, and the editing branch reproduces what it keeps, so
        applying them again would compound with every edit (the beat pulse raised the FID_k after
        three edits from 88 to 105).
        music: (B, T, 35). -> (B, T, 151)"""
        out = self.normalizer.denormalize(x0_normalised).numpy().astype(np.float32)
        out[..., 4:] = token_rate_to_frame_rate(out[..., 4:], self.cfg.frames_per_token)
        out[..., :4] = (out[..., :4] > 0.5).astype(np.float32)
        m = np.zeros(out.shape[:2], dtype=bool)
        if known is not None and known_mask is not None:
            k = np.asarray(known, dtype=np.float32)
            m = np.asarray(known_mask, dtype=bool)
            k = np.broadcast_to(k if k.ndim == 3 else k[None], out.shape)
            m = np.broadcast_to(m if m.ndim == 2 else m[None], out.shape[:2])
            out = np.where(m[..., None], k, out)
        if new_dance and self.energy is not None and self.dynamics > 0:
            out = np.stack([follow_energy(window, window_music, self.energy, window_known, self.dynamics,
                                          reference=REFERENCE_SPEED, floor=FLOOR)
                            for window, window_music, window_known in zip(out, music.numpy(), m)])
        if self.beat_snap:
            beat_frames = [np.flatnonzero(window_music[:, BEAT] > 0.5) for window_music in music.numpy()]
            out = np.stack([snap_to_beats(window, beats, window_known, pulse=BEAT_PULSE if new_dance else 0.0)
                            for window, beats, window_known in zip(out, beat_frames, m)])
        if self.foot_lock:
            out = np.stack([lock_feet(window, window_known) for window, window_known in zip(out, m)])
        return out

    # ------------------------------------------------------------------ editing
    def encode_text(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.text_encoder.encode(prompts, max_tokens=self.cfg.max_text_tokens)
        return feats.tokens.float(), feats.mask.bool()

    @torch.no_grad()
    def edit(self, music, initial, current, prompt: str | list[str], known=None, known_mask=None,
             steps: int = 10, text_guidance: float = 2.0, seed: int | None = None,
             redraw: float = EDIT_REDRAW) -> np.ndarray:
        """One editing iteration (paper 3.3.2) for one window (or a batch).

        initial: the unedited prediction; current: the dance to edit (previous iteration); both
        (150, 151) un-normalised. text_guidance scales the edit: 0 reproduces the no-edit branch
        (trained to return `current`), 1 the plain conditional model, > 1 exaggerates the edit.
        redraw: how much of the current dance the sampler re-draws: 1 starts from pure noise (the
        paper), lower starts from `current` noised that far (SDEdit) and keeps more of it.
        """
        if not self.can_edit:
            raise RuntimeError(f"{self.name} has no editing branch (stage 2 was not trained)")
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        if any(not p or not p.strip() for p in prompts):
            raise ValueError("edit prompt is empty")
        mu, single = self._check_music(music)
        B = mu.shape[0]
        init, _ = _as_batch(initial, 3)
        cur, _ = _as_batch(current, 3)
        if len(prompts) == 1 and B > 1:
            prompts = prompts * B
        if len(prompts) != B or init.shape[0] != B or cur.shape[0] != B:
            raise ValueError("music, initial, current and prompts must have the same batch size")
        known_n, mask = self._known(known, known_mask, B)
        init_n, cur_n = self.normalizer.normalize(init), self.normalizer.normalize(cur)
        text, text_mask = self.encode_text(prompts)
        with self._lock:
            net = self.net
            guided = text_guidance != 1.0
            rep = (lambda x: torch.cat([x, x])) if guided else (lambda x: x)
            drop = torch.cat([torch.zeros(B, dtype=torch.bool), torch.ones(B, dtype=torch.bool)]) if guided else None
            edit = EditInputs(current=rep(cur_n), initial=rep(init_n), text=rep(text), text_mask=rep(text_mask),
                              drop_text=drop)
            cond = net.condition(rep(mu))
            ctx = net.edit_context(edit)
            known2, mask2 = rep(known_n), rep(mask)

            def denoise(x, t):
                x0 = net.denoise(rep(x), rep(t), cond, known2, mask2, edit=edit, edit_ctx=ctx)
                if not guided:
                    return x0
                c, u = x0[:B], x0[B:]
                return u + text_guidance * (c - u)

            x0 = self.sampler.sample(denoise, (B, self.window, self.cfg.motion_dim), steps=steps,
                                     known=known_n, known_mask=mask, generator=self._generator(seed),
                                     init=cur_n, strength=redraw, order=self.edit_sampling.order,
                                     spacing=self.edit_sampling.spacing)
        out = self._finish(x0, known, known_mask, mu)
        return out[0] if single else out

    @torch.no_grad()
    def edit_stack(self, music, initial, prompts: Sequence[str] | Sequence[Sequence[str]], known=None,
                   known_mask=None, steps: int = 10, text_guidance: float = 2.0, seed: int | None = None,
                   compose: str = STACK_COMPOSE) -> np.ndarray:
        """Several stacked edits of one window (or a batch) in ONE sampler pass, from `initial`.

        The paper's iterations run one editing pass per edit, each on the previous one's output, so
        a window with K edits costs K passes. Here all K prompts condition a single pass:
          "tokens":   the prompts' token features side by side as one text (B, K*L, 384); the text
                      slots attend over all of them, so each part of the window picks its words.
                      Costs one edit.
          "guidance": one conditional row per prompt and one shared null-text row; the guided x0 is
                      u + s * sum_k (c_k - u) (classifier-free guidance composed as a conjunction,
                      Liu et al. 2022). Costs K + 1 rows instead of 2.
        prompts: K strings (the same for every window of the batch) or B sequences of K strings.
        initial, known: (150, 151) or (B, 150, 151) un-normalised. -> (150, 151) or (B, 150, 151).
        """
        if not self.can_edit:
            raise RuntimeError(f"{self.name} has no editing branch (stage 2 was not trained)")
        mu, single = self._check_music(music)
        B = mu.shape[0]
        per_window = [list(prompts)] * B if prompts and isinstance(prompts[0], str) else [list(p) for p in prompts]
        K = len(per_window[0]) if per_window else 0
        if len(per_window) != B or K == 0 or any(len(p) != K for p in per_window):
            raise ValueError("edit_stack needs the same number (>= 1) of prompts for every window")
        if any(not p or not p.strip() for ps in per_window for p in ps):
            raise ValueError("edit prompt is empty")
        if compose not in STACK_COMPOSITIONS:
            raise ValueError(f"compose must be one of {STACK_COMPOSITIONS}, got {compose!r}")
        init, _ = _as_batch(initial, 3)
        if init.shape[0] != B:
            raise ValueError("music and initial must have the same batch size")
        known_n, mask = self._known(known, known_mask, B)
        init_n = self.normalizer.normalize(init)
        text, text_mask = self.encode_text([p for ps in per_window for p in ps])   # (B*K, L, 384), (B*K, L)
        L = text.shape[1]
        with self._lock:
            net = self.net
            if compose == "tokens":
                text, text_mask = text.reshape(B, K * L, -1), text_mask.reshape(B, K * L)
                rows, k_rows = 2, 1
            else:   # rows: K conditionals per window, window-major, then one null row per window
                rows, k_rows = K + 1, K
            def rep(x):   # (B, ...) -> (rows * B, ...): conditionals, then the null rows
                return torch.cat([x.repeat_interleave(k_rows, 0), x]) if rows > 1 else x
            drop = torch.cat([torch.zeros(B * k_rows, dtype=torch.bool), torch.ones(B, dtype=torch.bool)])
            null_text = torch.cat([text, text[::k_rows]])      # dropped rows' text is replaced by the null token
            null_mask = torch.cat([text_mask, text_mask[::k_rows]])
            edit = EditInputs(current=rep(init_n), initial=rep(init_n), text=null_text, text_mask=null_mask,
                              drop_text=drop)
            cond = net.condition(rep(mu))
            ctx = net.edit_context(edit)
            known2, mask2 = rep(known_n), rep(mask)

            def denoise(x, t):
                x0 = net.denoise(rep(x), rep(t), cond, known2, mask2, edit=edit, edit_ctx=ctx)
                c, u = x0[: B * k_rows].reshape(B, k_rows, *x0.shape[1:]), x0[B * k_rows:]   # (B, k, T, C), (B, T, C)
                return u + text_guidance * (c - u[:, None]).sum(dim=1)

            x0 = self.sampler.sample(denoise, (B, self.window, self.cfg.motion_dim), steps=steps,
                                     known=known_n, known_mask=mask, generator=self._generator(seed),
                                     order=self.edit_sampling.order, spacing=self.edit_sampling.spacing)
        out = self._finish(x0, known, known_mask, mu)
        return out[0] if single else out


__all__ = ["DanceModel", "DEFAULT_CHECKPOINT", "EDIT_REDRAW", "CheckpointError", "describe_sampling"]

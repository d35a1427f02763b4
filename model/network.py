"""The DanceEditor network: a music-conditioned generation branch and a text editing branch.

One readable file, in the spirit of nanoGPT. Shapes: B batch, T = 150 frames, N = T / frames_per_token
tokens, D model width, L text tokens.

Generation branch (paper 3.3.1): a diffusion transformer that predicts clean motion x0 from noisy
motion x_t, the timestep and the music. Music is encoded once per window into N memory tokens (cached
across sampler steps) that every block cross-attends to; the timestep plus pooled music modulate every
block (adaLN, as in DiT), and each token also gets the music frames under it added to its input
(`aligned_music`), so beat timing needs no learned alignment. It also takes known frames (a mask and the known motion as extra input
channels), so the live engine can continue a dance it has already streamed; training draws random
known-frame masks so the network learns to honour them rather than relying on replacement only.

Editing branch (paper 3.3.2): a ControlNet-style trainable copy of the generation blocks. It sees the
same noisy motion plus the dance being edited (the previous iteration, through a zero-initialised
projection), and inside each copied block a Cross-modality Editing Module (CEM, eqs. 3-5) mixes in
the initial prediction and the edit text; the text slots are also added to each copied block's input
through a zero-initialised layer (the ControlNet condition). Each copied block hands its output to the frozen branch
through a zero-initialised linear layer, so at initialisation the edited model equals the generation
branch exactly.

Ablations for the paper's Table 4 are selected by `EditConfig.mode`:
  "cem"       the full model;
  "concat"    editing branch without CEM: f' = f_cur + Linear([f_cur, f_init, text_slots]);
  "no_branch" no editing branch: a fine-tuned copy of the generation branch whose music memory is
              concatenated with the text tokens and whose input also sees the dance being edited.
"""
from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

EDIT_MODES = ("cem", "concat", "no_branch")


@dataclass
class ModelConfig:
    motion_dim: int = 151
    music_dim: int = 35
    text_dim: int = 384          # MiniLM sentence-encoder width
    window: int = 150            # frames per window (5 s at 30 fps)
    frames_per_token: int = 2    # 2 frames a token halves attention cost (REFERENCE.md: ~8 vs 12 ms)
    width: int = 192
    depth: int = 4
    heads: int = 4
    mlp_ratio: float = 4.0
    music_layers: int = 1        # self-attention layers over music tokens before cross-attention
    dropout: float = 0.1
    max_text_tokens: int = 32
    edit_mode: str = "cem"       # see EDIT_MODES
    # Music frames also added to the motion tokens they are time-aligned with (zero-initialised).
    # Cross-attention alone must learn which music token sits under which motion token; a small
    # model trained briefly barely does (its dances scored the same with the music dropped).
    aligned_music: bool = True
    # The edit text also enters every copied block of the editing branch (zero-initialised, as
    # ControlNet injects its condition). Through CEM alone the text only sets one mixing weight per
    # token, which cannot say *how* to move: trained that way, the branch edited as often with a
    # shuffled prompt as with the right one.
    text_injection: bool = True
    # Where each frame sits between beats, derived from the beat channel (`beat_phase_features`):
    # sin/cos of the beat phase and of twice it, projected into the music memory and the aligned
    # music (zero-initialised, so a model trained without it warm-starts exactly). A beat is one
    # frame in 150; a small network that must find the next beat itself mostly does not (its dances
    # scored about the same with the music replaced by another song's).
    beat_phase: bool = True

    @property
    def tokens(self) -> int:
        return self.window // self.frames_per_token

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        d = {"aligned_music": False, "text_injection": False, "beat_phase": False, **d}  # keys older files lack
        return cls(**d)

    def __post_init__(self) -> None:
        if self.window % self.frames_per_token:
            raise ValueError(f"window {self.window} is not a multiple of frames_per_token {self.frames_per_token}")
        if self.width % self.heads:
            raise ValueError(f"width {self.width} is not a multiple of heads {self.heads}")
        if self.edit_mode not in EDIT_MODES:
            raise ValueError(f"edit_mode must be one of {EDIT_MODES}, got {self.edit_mode!r}")


# ----------------------------------------------------------------------------- building blocks

def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of integer diffusion steps. t: (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


PHASE_DIM = 4
BEAT_CHANNEL = 34  # model.music.BEAT (kept literal: this file imports nothing of the project)


def beat_phase_features(beats: torch.Tensor) -> torch.Tensor:
    """Beat phase from a one-hot beat channel. beats: (B, T) -> (B, T, 4).

    phase = 0 on a beat, rising linearly to 1 at the next; before the first beat and after the
    last one the mean beat interval of the window carries it on. Returns sin/cos of 2*pi*phase and
    of 4*pi*phase (the off-beat); all zeros where the window has fewer than two beats (no grid).
    """
    B, T = beats.shape
    on = beats > 0.5                                                             # (B, T)
    idx = torch.arange(T, device=beats.device, dtype=torch.float32).expand(B, T)
    big = float(4 * T)
    prev = torch.where(on, idx, torch.full_like(idx, -big)).cummax(dim=1).values
    nxt = torch.where(on, idx, torch.full_like(idx, 2 * big)).flip(1).cummin(dim=1).values.flip(1)
    count = on.sum(dim=1, keepdim=True).float()                                  # (B, 1)
    first = torch.where(on, idx, torch.full_like(idx, big)).min(dim=1, keepdim=True).values
    last = torch.where(on, idx, torch.full_like(idx, -big)).max(dim=1, keepdim=True).values
    period = ((last - first) / (count - 1).clamp_min(1)).clamp_min(1.0)         # (B, 1) frames a beat
    inside = (prev >= 0) & (nxt < T)
    phase = torch.where(inside, (idx - prev) / (nxt - prev).clamp_min(1.0),
                        torch.where(prev >= 0, (idx - last) / period, (idx - first) / period))
    angle = 2 * math.pi * phase                                                  # (B, T)
    out = torch.stack([angle.sin(), angle.cos(), (2 * angle).sin(), (2 * angle).cos()], dim=-1)
    return out * (count >= 2).to(out.dtype)[..., None]


def zero_linear(d_in: int, d_out: int) -> nn.Linear:
    """A linear layer that starts as exactly zero (ControlNet's zero convolution)."""
    layer = nn.Linear(d_in, d_out)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def patchify(x: torch.Tensor, p: int) -> torch.Tensor:
    """(B, T, C) -> (B, T/p, p*C): p consecutive frames become one token."""
    b, t, c = x.shape
    return x.reshape(b, t // p, p * c)


def unpatchify(x: torch.Tensor, p: int) -> torch.Tensor:
    """(B, N, p*C) -> (B, N*p, C)."""
    b, n, pc = x.shape
    return x.reshape(b, n * p, pc // p)


class Attention(nn.Module):
    """Multi-head attention on (B, Nq, D) queries and (B, Nk, D) keys/values (fused SDPA kernel)."""

    def __init__(self, width: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(width, width)
        self.kv = nn.Linear(width, 2 * width)
        self.out = nn.Linear(width, width)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, context: torch.Tensor, key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        b, nq, d = x.shape
        h = self.heads
        q = self.q(x).view(b, nq, h, d // h).transpose(1, 2)                      # (B, H, Nq, D/H)
        k, v = self.kv(context).view(b, -1, 2, h, d // h).permute(2, 0, 3, 1, 4)  # 2 x (B, H, Nk, D/H)
        attn_mask = None
        if key_padding_mask is not None:  # (B, Nk) True = attend
            attn_mask = key_padding_mask[:, None, None, :]
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(b, nq, d))


class Block(nn.Module):
    """Transformer block: adaLN-modulated self-attention, cross-attention to memory, MLP."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.width
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False)
        self.self_attn = Attention(d, cfg.heads, cfg.dropout)
        self.norm2 = nn.LayerNorm(d)
        self.cross_attn = Attention(d, cfg.heads, cfg.dropout)
        self.norm3 = nn.LayerNorm(d, elementwise_affine=False)
        hidden = int(d * cfg.mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU(), nn.Dropout(cfg.dropout), nn.Linear(hidden, d))
        # shift/scale/gate for self-attention and MLP from the conditioning vector (DiT's adaLN-Zero)
        self.modulation = nn.Sequential(nn.SiLU(), zero_linear(d, 6 * d))

    def forward(self, h: torch.Tensor, cond: torch.Tensor, memory: torch.Tensor,
                memory_mask: torch.Tensor | None = None) -> torch.Tensor:
        """h: (B, N, D); cond: (B, D); memory: (B, M, D) -> (B, N, D)"""
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(cond)[:, None].chunk(6, dim=-1)
        x = self.norm1(h) * (1 + scale1) + shift1
        h = h + gate1 * self.self_attn(x, x)
        h = h + self.cross_attn(self.norm2(h), memory, memory_mask)
        x = self.norm3(h) * (1 + scale2) + shift2
        return h + gate2 * self.mlp(x)


class MusicEncoder(nn.Module):
    """(B, T, 35) music features -> (B, N, D) memory tokens, with a learned null for guidance."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.p = cfg.frames_per_token
        self.proj = nn.Linear(cfg.music_dim * self.p, cfg.width)
        self.phase_proj = zero_linear(PHASE_DIM * self.p, cfg.width) if cfg.beat_phase else None
        self.pos = nn.Parameter(torch.randn(1, cfg.tokens, cfg.width) * 0.02)
        layer = nn.TransformerEncoderLayer(cfg.width, cfg.heads, int(cfg.width * cfg.mlp_ratio), cfg.dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.layers = nn.TransformerEncoder(layer, cfg.music_layers, enable_nested_tensor=False) if cfg.music_layers else None
        # Classifier-free guidance on music: "no music" is a learned memory sequence.
        self.null = nn.Parameter(torch.randn(1, cfg.tokens, cfg.width) * 0.02)

    def forward(self, music: torch.Tensor, drop: torch.Tensor | None = None,
                phase: torch.Tensor | None = None) -> torch.Tensor:
        """music: (B, T, 35); drop: (B,) bool, True = replace with the null memory; phase: (B, T, 4)
        beat phase (beat_phase_features) -> (B, N, D)"""
        m = self.proj(patchify(music, self.p)) + self.pos
        if self.phase_proj is not None:
            m = m + self.phase_proj(patchify(phase, self.p))
        if self.layers is not None:
            m = self.layers(m)
        if drop is not None:
            m = torch.where(drop[:, None, None], self.null.expand_as(m), m)
        return m


@dataclass
class Conditioning:
    """What the generation branch computes once per window and reuses at every sampler step."""

    memory: torch.Tensor                      # (B, N, D) music memory
    music_summary: torch.Tensor               # (B, D) pooled music for adaLN
    aligned: torch.Tensor | float = 0.0       # (B, N, D) music added to the time-aligned motion tokens
    extra_memory: torch.Tensor | None = None  # (B, L, D) text tokens appended to memory ("no_branch")
    extra_mask: torch.Tensor | None = None    # (B, L) True = real token


# ----------------------------------------------------------------------------- generation branch

class GenerationBranch(nn.Module):
    """Music-conditioned denoiser D_c(x_t, t, c_m) -> x0 (normalised motion), with known frames."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        d, p = cfg.width, cfg.frames_per_token
        # Per frame input: noisy motion (151) + known motion (151, zero where unknown) + mask (1).
        self.input_embed = nn.Linear((2 * cfg.motion_dim + 1) * p, d)
        self.pos = nn.Parameter(torch.randn(1, cfg.tokens, d) * 0.02)
        self.time_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.music = MusicEncoder(cfg)
        self.music_pool = nn.Linear(d, d)
        # zero-initialised so that a model trained without it starts out unchanged (warm start)
        self.music_align = zero_linear(cfg.music_dim * p, d) if cfg.aligned_music else None
        self.phase_align = zero_linear(PHASE_DIM * p, d) if cfg.aligned_music and cfg.beat_phase else None
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.final_norm = nn.LayerNorm(d, elementwise_affine=False)
        self.final_mod = nn.Sequential(nn.SiLU(), zero_linear(d, 2 * d))
        self.output = nn.Linear(d, cfg.motion_dim * p)

    def condition(self, music: torch.Tensor, drop_music: torch.Tensor | None = None) -> Conditioning:
        """Encode music once per window. music: (B, T, 35)."""
        p = self.cfg.frames_per_token
        phase = beat_phase_features(music[..., BEAT_CHANNEL]) if self.cfg.beat_phase else None  # (B, T, 4)
        memory = self.music(music, drop_music, phase)
        aligned = 0.0
        if self.music_align is not None:
            aligned = self.music_align(patchify(music, p))                               # (B, N, D)
            if self.phase_align is not None:
                aligned = aligned + self.phase_align(patchify(phase, p))
            if drop_music is not None:  # "no music" for guidance: nothing aligned either
                aligned = aligned * (~drop_music)[:, None, None].to(aligned.dtype)
        return Conditioning(memory=memory, music_summary=self.music_pool(memory.mean(dim=1)), aligned=aligned)

    def embed_time(self, t: torch.Tensor) -> torch.Tensor:
        """(B,) -> (B, D)"""
        return self.time_mlp(timestep_embedding(t, self.cfg.width))

    def embed_input(self, x_t: torch.Tensor, known: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x_t, known: (B, T, 151); mask: (B, T) -> (B, N, D)"""
        m = mask.to(x_t.dtype)[..., None]
        frames = torch.cat([x_t, known * m, m], dim=-1)
        return self.input_embed(patchify(frames, self.cfg.frames_per_token)) + self.pos

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: Conditioning, known: torch.Tensor,
                mask: torch.Tensor, control: list[torch.Tensor] | None = None,
                input_residual: torch.Tensor | None = None) -> torch.Tensor:
        """Predict x0.

        x_t, known: (B, T, 151) normalised; t: (B,); mask: (B, T) bool.
        control: per-block residuals (B, N, D) from an editing branch, added after each block.
        input_residual: (B, N, D) added to the input tokens (the "no_branch" ablation's hint).
        returns (B, T, 151).
        """
        h = self.embed_input(x_t, known, mask) + cond.aligned
        if input_residual is not None:
            h = h + input_residual
        c = self.embed_time(t) + cond.music_summary
        memory, memory_mask = cond.memory, None
        if cond.extra_memory is not None:
            memory = torch.cat([cond.memory, cond.extra_memory], dim=1)
            ones = torch.ones(cond.memory.shape[:2], dtype=torch.bool, device=memory.device)
            memory_mask = torch.cat([ones, cond.extra_mask], dim=1)
        for k, block in enumerate(self.blocks):
            h = block(h, c, memory, memory_mask)
            if control is not None:
                h = h + control[k]
        shift, scale = self.final_mod(c)[:, None].chunk(2, dim=-1)
        h = self.final_norm(h) * (1 + scale) + shift
        return unpatchify(self.output(h), self.cfg.frames_per_token)


# ----------------------------------------------------------------------------- editing branch

class TextSlots(nn.Module):
    """Edit text tokens -> N temporal slots, (B, L, 384) -> (B, N, D).

    The paper's correlation matrices M_edit, M_init are N x N, so the text must occupy N temporal
    slots; it does not say how. Decision: N learned slot queries (one per motion token, with the
    motion's positional code) cross-attend over the text tokens, so each slot can pick the words
    relevant to its part of the window ("on beats 2 and 4", "at the end"). A learned null sequence
    stands in for "no text" (classifier-free guidance on the edit = the performer's edit strength).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.width
        self.proj = nn.Linear(cfg.text_dim, d)
        self.queries = nn.Parameter(torch.randn(1, cfg.tokens, d) * 0.02)
        self.attn = Attention(d, cfg.heads, cfg.dropout)
        self.norm = nn.LayerNorm(d)
        self.null = nn.Parameter(torch.randn(1, 1, cfg.text_dim) * 0.02)

    def tokens(self, text: torch.Tensor, text_mask: torch.Tensor, drop: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Projected text tokens with dropped rows replaced by the null token. -> (B, L, D), (B, L)"""
        if drop is not None:
            null = self.null.expand(text.shape[0], text.shape[1], -1)
            text = torch.where(drop[:, None, None], null, text)
            first_only = torch.zeros_like(text_mask)
            first_only[:, 0] = True
            text_mask = torch.where(drop[:, None], first_only, text_mask)
        return self.proj(text), text_mask

    def forward(self, text: torch.Tensor, text_mask: torch.Tensor, drop: torch.Tensor | None = None) -> torch.Tensor:
        tok, mask = self.tokens(text, text_mask, drop)
        q = self.queries.expand(text.shape[0], -1, -1)
        return self.norm(q + self.attn(q, tok, mask))


def adain(content: torch.Tensor, style: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Adaptive instance normalisation over time: content's per-channel temporal statistics are
    replaced by style's. (B, N, D), (B, N, D) -> (B, N, D)"""
    c_mean, c_std = content.mean(1, keepdim=True), content.std(1, keepdim=True) + eps
    s_mean, s_std = style.mean(1, keepdim=True), style.std(1, keepdim=True) + eps
    return s_std * (content - c_mean) / c_std + s_mean


class CrossModalityEditingModule(nn.Module):
    """CEM, paper eqs. 3-5.

    1. Query = timestep + music, keys/values = the current (noisy) motion features: cross-attention
       gives the music-coherent current embedding f_cur.
    2. M_edit = f_cur x text_slots^T and M_init = f_init x text_slots^T (both (B, N, N), scaled
       dot products of learned projections).
    3. AdaptiveMaxPool along the text-slot time axis to one value per motion token, then a softmax
       over the pair gives (sigma, 1 - sigma) per token: eq. 3 in the paper's order, sigma paired with
       M_edit. Decision: per-token weights rather than one scalar per window, because edits act on
       parts of the window ("temporal-wise effects").
    4. f_fusion = sigma * f_init + (1 - sigma) * f_cur (eq. 4).
    5. f' = AdaIN(f_cur, f_fusion) (eq. 5), statistics over time.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.width
        self.norm_q = nn.LayerNorm(d)
        self.norm_kv = nn.LayerNorm(d)
        self.attn = Attention(d, cfg.heads, cfg.dropout)
        self.proj_motion = nn.Linear(d, d, bias=False)   # shared by f_cur and f_init: one metric space
        self.proj_text = nn.Linear(d, d, bias=False)
        self.pool = nn.AdaptiveMaxPool1d(1)
        self.scale = d ** -0.5

    def _pooled(self, f: torch.Tensor, tq: torch.Tensor) -> torch.Tensor:
        """Max over text slots of the temporal correlation of motion features f (B, N, D) with the
        projected text slots tq (B, N, D): (B, N)."""
        m = torch.einsum("bnd,bmd->bnm", self.proj_motion(f), tq) * self.scale     # (B, N, N)
        b, n, _ = m.shape
        return self.pool(m.reshape(b * n, 1, n)).reshape(b, n)

    def prepare(self, f_init: torch.Tensor, slots: torch.Tensor) -> dict:
        """The sampler-step-invariant half of `weights`: projected text slots and the pooled M_init."""
        tq = self.proj_text(slots)                                                # (B, N, D)
        return {"tq": tq, "a_init": self._pooled(f_init, tq)}

    def weights(self, f_cur: torch.Tensor, f_init: torch.Tensor, slots: torch.Tensor,
                static: dict | None = None) -> torch.Tensor:
        """(sigma, 1 - sigma) per token: (B, N, 2), each row sums to 1. static: `prepare`'s result
        for these f_init and slots (computed here when None)."""
        static = static or self.prepare(f_init, slots)
        a_edit = self._pooled(f_cur, static["tq"])                               # (B, N)
        return torch.softmax(torch.stack([a_edit, static["a_init"]], dim=-1), dim=-1)

    def forward(self, h: torch.Tensor, f_init: torch.Tensor, slots: torch.Tensor, query: torch.Tensor,
                return_weights: bool = False, static: dict | None = None):
        """h: current motion features (B, N, D); f_init: initial-motion features (B, N, D);
        slots: text slots (B, N, D); query: timestep + music (B, N, D); static: `prepare(f_init, slots)`."""
        f_cur = h + self.attn(self.norm_q(query), self.norm_kv(h))
        w = self.weights(f_cur, f_init, slots, static)
        sigma = w[..., :1]                                                        # (B, N, 1)
        f_fusion = sigma * f_init + (1 - sigma) * f_cur
        out = adain(f_cur, f_fusion)
        return (out, w) if return_weights else out


class ConcatFusion(nn.Module):
    """The "editing branch without CEM" ablation: plain concatenation of the three streams."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.proj = nn.Linear(3 * cfg.width, cfg.width)

    def prepare(self, f_init: torch.Tensor, slots: torch.Tensor) -> None:
        return None

    def forward(self, h, f_init, slots, query, return_weights: bool = False, static=None):
        out = h + self.proj(torch.cat([h, f_init, slots], dim=-1))
        return (out, None) if return_weights else out


@dataclass
class EditStatic:
    """The editing branch's per-window constants (EditingBranch.prepare), reused at every step."""

    hint: torch.Tensor                        # (B, N, D) the dance being edited, through the zero join
    f_init: list[torch.Tensor]                # depth x (B, N, D) initial-prediction features per block
    text: list[torch.Tensor] | None           # depth x (B, N, D) injected text slots per block
    fusion: list[dict | None]                 # per block: CEM's projected text and pooled M_init


class EditingBranch(nn.Module):
    """ControlNet-style trainable copy of the generation blocks, joined by zero-initialised layers.

    Inputs besides x_t: `current` (the dance being edited, i.e. the previous iteration, normalised),
    `initial` (the unedited prediction, normalised) and the edit text. The frozen branch's timestep
    embedding and music memory are reused (they are frozen and computed once per step anyway).
    """

    def __init__(self, cfg: ModelConfig, generation: GenerationBranch):
        super().__init__()
        self.cfg = cfg
        d, p = cfg.width, cfg.frames_per_token
        self.input_embed = copy.deepcopy(generation.input_embed)
        self.pos = nn.Parameter(generation.pos.detach().clone())
        self.blocks = copy.deepcopy(generation.blocks)
        self.hint_embed = nn.Linear(cfg.motion_dim * p, d)
        self.hint_zero = zero_linear(d, d)          # the dance being edited enters through zeros
        self.init_embed = nn.Linear(cfg.motion_dim * p, d)
        self.init_proj = nn.ModuleList(nn.Linear(d, d) for _ in range(cfg.depth))
        self.text_slots = TextSlots(cfg)
        fusion = CrossModalityEditingModule if cfg.edit_mode == "cem" else ConcatFusion
        self.fusions = nn.ModuleList(fusion(cfg) for _ in range(cfg.depth))
        self.zero_out = nn.ModuleList(zero_linear(d, d) for _ in range(cfg.depth))
        self.text_in = nn.ModuleList(zero_linear(d, d) for _ in range(cfg.depth)) if cfg.text_injection else None

    def prepare(self, current: torch.Tensor, initial: torch.Tensor, slots: torch.Tensor) -> "EditStatic":
        """Everything that depends only on the dance being edited, the initial prediction and the text:
        computed once per window and reused at every sampler step (exactly what `forward` would
        compute each step). current, initial: (B, T, 151); slots: (B, N, D)."""
        p = self.cfg.frames_per_token
        hint = self.hint_zero(self.hint_embed(patchify(current, p)))                # (B, N, D)
        f_init_base = self.init_embed(patchify(initial, p)) + self.pos              # (B, N, D)
        f_init = [proj(f_init_base) for proj in self.init_proj]                     # depth x (B, N, D)
        text = [inj(slots) for inj in self.text_in] if self.text_in is not None else None
        fusion = [f.prepare(fi, slots) for f, fi in zip(self.fusions, f_init)]
        return EditStatic(hint=hint, f_init=f_init, text=text, fusion=fusion)

    def forward(self, x_t: torch.Tensor, t_emb: torch.Tensor, cond: Conditioning, known: torch.Tensor,
                mask: torch.Tensor, current: torch.Tensor, initial: torch.Tensor, slots: torch.Tensor,
                return_weights: bool = False, static: "EditStatic | None" = None):
        """Per-block control residuals for the frozen branch: list of depth x (B, N, D).
        static: `prepare(current, initial, slots)` when the caller keeps it across sampler steps."""
        st = static if static is not None else self.prepare(current, initial, slots)
        p = self.cfg.frames_per_token
        m = mask.to(x_t.dtype)[..., None]
        h = self.input_embed(patchify(torch.cat([x_t, known * m, m], dim=-1), p)) + self.pos + cond.aligned
        h = h + st.hint
        c = t_emb + cond.music_summary                                              # (B, D)
        query = cond.memory + t_emb[:, None]                                        # timestep + music, (B, N, D)
        controls, weights = [], []
        for k, block in enumerate(self.blocks):
            if st.text is not None:
                h = h + st.text[k]                                                  # text slots, (B, N, D)
            h = block(h, c, cond.memory)
            h, w = self.fusions[k](h, st.f_init[k], slots, query, return_weights=True, static=st.fusion[k])
            weights.append(w)
            controls.append(self.zero_out[k](h))
        return (controls, weights) if return_weights else controls


class TextConcatEditor(nn.Module):
    """The "no editing branch" ablation: the generation branch itself, fine-tuned, with the text
    tokens appended to its cross-attention memory and the dance being edited as an extra input."""

    def __init__(self, cfg: ModelConfig, generation: GenerationBranch):
        super().__init__()
        self.cfg = cfg
        self.net = copy.deepcopy(generation)
        self.text_slots = TextSlots(cfg)  # only its projection and null token are used
        self.hint_embed = nn.Linear(cfg.motion_dim * cfg.frames_per_token, cfg.width)
        self.hint_zero = zero_linear(cfg.width, cfg.width)


# ----------------------------------------------------------------------------- the whole model

@dataclass
class EditInputs:
    """Everything the editing stage conditions on, normalised where it is motion."""

    current: torch.Tensor      # (B, T, 151) dance being edited (previous iteration)
    initial: torch.Tensor      # (B, T, 151) unedited initial prediction
    text: torch.Tensor         # (B, L, 384) token features of the edit prompt
    text_mask: torch.Tensor    # (B, L) bool
    drop_text: torch.Tensor | None = None  # (B,) bool: use the null text (no edit)


class DanceEditor(nn.Module):
    """Generation branch + (optional) editing branch, with one entry point for both stages.

    `denoise` predicts x0. Without `edit` it is the initial-prediction model; with `edit` it is the
    edited model of the configured ablation mode.
    """

    def __init__(self, cfg: ModelConfig, with_editor: bool = True):
        super().__init__()
        self.cfg = cfg
        self.generation = GenerationBranch(cfg)
        self.editor: nn.Module | None = None
        if with_editor:
            self.add_editor()

    def add_editor(self) -> None:
        """Create the editing branch as a copy of the CURRENT generation weights (call after stage 1)."""
        if self.cfg.edit_mode == "no_branch":
            self.editor = TextConcatEditor(self.cfg, self.generation)
        else:
            self.editor = EditingBranch(self.cfg, self.generation)

    def condition(self, music: torch.Tensor, drop_music: torch.Tensor | None = None) -> Conditioning:
        return self.generation.condition(music, drop_music)

    def edit_context(self, edit: EditInputs) -> dict:
        """Per-window edit conditioning reused across sampler steps: the text slots and the editing
        branch's step-invariant constants (EditingBranch.prepare)."""
        assert self.editor is not None, "this model has no editing branch"
        if isinstance(self.editor, TextConcatEditor):
            tok, mask = self.editor.text_slots.tokens(edit.text, edit.text_mask, edit.drop_text)
            return {"tokens": tok, "mask": mask}
        slots = self.editor.text_slots(edit.text, edit.text_mask, edit.drop_text)
        return {"slots": slots, "static": self.editor.prepare(edit.current, edit.initial, slots)}

    def denoise(self, x_t: torch.Tensor, t: torch.Tensor, cond: Conditioning, known: torch.Tensor,
                mask: torch.Tensor, edit: EditInputs | None = None, edit_ctx: dict | None = None) -> torch.Tensor:
        """x0 prediction, (B, T, 151). See GenerationBranch.forward for shapes."""
        if edit is None:
            return self.generation(x_t, t, cond, known, mask)
        if edit_ctx is None:
            edit_ctx = self.edit_context(edit)
        if isinstance(self.editor, TextConcatEditor):
            net = self.editor.net
            cond2 = Conditioning(cond.memory, cond.music_summary, cond.aligned, edit_ctx["tokens"], edit_ctx["mask"])
            hint = self.editor.hint_zero(self.editor.hint_embed(patchify(edit.current, self.cfg.frames_per_token)))
            return net(x_t, t, cond2, known, mask, input_residual=hint)
        t_emb = self.generation.embed_time(t)
        controls = self.editor(x_t, t_emb, cond, known, mask, edit.current, edit.initial, edit_ctx["slots"],
                               static=edit_ctx.get("static"))
        return self.generation(x_t, t, cond, known, mask, control=controls)

    def editor_parameters(self):
        assert self.editor is not None
        return self.editor.parameters()

    def freeze_generation(self) -> None:
        """Stage 2: the generation branch is frozen (except in the "no_branch" ablation, whose
        editor is its own fine-tuned copy and never touches self.generation)."""
        for p in self.generation.parameters():
            p.requires_grad_(False)


def parameter_count(module: nn.Module | None) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


__all__ = [
    "ModelConfig", "DanceEditor", "GenerationBranch", "EditingBranch", "CrossModalityEditingModule",
    "TextSlots", "EditInputs", "Conditioning", "adain", "parameter_count", "EDIT_MODES",
]

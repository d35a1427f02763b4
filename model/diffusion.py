"""Gaussian diffusion maths: the cosine noise schedule and a DDIM sampler.

The network predicts clean motion x0 (the paper's D_c). The sampler is a plain object that is handed
the denoising function on every call (as in improved-diffusion), so the number of steps, the guidance
and the known frames are runtime choices, and the sampler is testable with a dummy network.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

TRAIN_STEPS = 1000
SPACINGS = ("time", "logsnr")

# denoise_fn(x_t, t) -> x0 prediction; x_t: (B, T, C), t: (B,) integer steps in [0, TRAIN_STEPS)
DenoiseFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def cosine_alphas_cumprod(steps: int = TRAIN_STEPS, s: float = 0.008) -> torch.Tensor:
    """alpha_bar(t) of Nichol & Dhariwal's cosine schedule, (steps,), float64, betas clipped at 0.999."""
    t = torch.linspace(0, steps, steps + 1, dtype=torch.float64) / steps
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    return torch.cumprod(1 - betas, dim=0)


class CosineSchedule:
    def __init__(self, steps: int = TRAIN_STEPS):
        self.steps = steps
        self.alphas_cumprod = cosine_alphas_cumprod(steps)

    def to(self, device: torch.device | str) -> "CosineSchedule":
        """Keep the table on `device` (training draws t there; no copy per step)."""
        self.alphas_cumprod = self.alphas_cumprod.to(device)
        return self

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Noise clean x0 (B, T, C) to step t (B,): sqrt(ab) x0 + sqrt(1 - ab) noise."""
        ab = self.alphas_cumprod.to(x0.device)[t].to(x0.dtype)[:, None, None]
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def sample_timesteps(self, batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randint(0, self.steps, (batch,), generator=generator)


def _checked_order(order: int) -> int:
    if order not in (1, 2):
        raise ValueError(f"sampler order must be 1 (DDIM) or 2 (DPM-Solver++(2M)), got {order}")
    return order


def _checked_spacing(spacing: str) -> str:
    if spacing not in SPACINGS:
        raise ValueError(f"sampler spacing must be one of {SPACINGS}, got {spacing!r}")
    return spacing


@dataclass(frozen=True)
class Sampling:
    """How a caller wants its windows sampled: the update's order and the spacing of the steps."""

    order: int = 1
    spacing: str = "time"

    def __post_init__(self):
        _checked_order(self.order)
        _checked_spacing(self.spacing)

    def describe(self) -> str:
        update = "DDIM" if self.order == 1 else "DPM-Solver++(2M)"
        return update + (", steps even in log-SNR" if self.spacing == "logsnr" else "")


# Named choices for command lines (--sampler).
SAMPLERS = {"dpm2": Sampling(order=2, spacing="logsnr"), "ddim": Sampling(order=1, spacing="time")}


class DDIMSampler:
    """Deterministic (eta = 0) or stochastic DDIM over an evenly spaced subset of training steps.

    order 2 turns the deterministic update into DPM-Solver++(2M) (Lu et al. 2022): each step uses the
    x0 estimate linearly extrapolated in log-SNR from the last two, D = (1 + 1/2r) x0_i - 1/2r x0_{i-1}
    with r the ratio of the last two log-SNR steps, at the same one network call a step. With 10 steps
    plain DDIM follows the probability-flow ODE coarsely, and its error shows as lost motion (more
    steps give a livelier dance); the second-order update removes most of that error at no cost.
    order 1 is DDIM exactly.

    Known frames: wherever `known_mask` is True the x0 estimate is replaced by `known` before each
    update, and the returned sample equals `known` there exactly.
    """

    def __init__(self, schedule: CosineSchedule | None = None, eta: float = 0.0, order: int = 1,
                 spacing: str = "time"):
        self.schedule = schedule or CosineSchedule()
        self.eta = eta
        self.order = _checked_order(order)
        self.spacing = _checked_spacing(spacing)

    def log_snr(self, t: int | torch.Tensor) -> torch.Tensor:
        """lambda(t) = log(alpha / sigma), float64."""
        ab = self.schedule.alphas_cumprod.cpu()[t]
        return 0.5 * torch.log(ab / (1 - ab))

    def timesteps(self, steps: int, strength: float = 1.0, spacing: str | None = None) -> list[int]:
        """Descending steps from round(strength * 999) to 0.

        "time" spacing is even in t: 10 -> [999, 888, ..., 0]. strength < 1 starts lower (SDEdit)
        and, as image-to-image samplers do, takes that share of the steps (same step size): 10 steps
        at strength 0.5 -> [500, 375, 250, 125, 0].

        "logsnr" spacing keeps the first and last step and spreads the ones between evenly in
        log-SNR between -lambda(0) (or the first step's log-SNR where that is higher) and lambda(0):
        the cosine schedule's even t spends its steps where little changes and takes one big jump at
        each end, which loses most where the dance's finer detail is decided."""
        if not 1 <= steps <= self.schedule.steps:
            raise ValueError(f"sampler steps must be in [1, {self.schedule.steps}], got {steps}")
        if not 0.0 < strength <= 1.0:
            raise ValueError(f"strength must be in (0, 1], got {strength}")
        first = round(strength * (self.schedule.steps - 1))
        n = max(1, round(steps * strength))
        if _checked_spacing(spacing or self.spacing) == "time" or n <= 2:
            ts = torch.linspace(first, 0, n).round().long().tolist()
            return list(dict.fromkeys(ts))
        lam = self.log_snr(torch.arange(self.schedule.steps))           # (1000,) rising with less noise
        hi = float(lam[0])
        lo = max(float(lam[first]), -hi)
        between = torch.linspace(lo, hi, n, dtype=torch.float64)[1:-1]
        inner = [int((lam - v).abs().argmin()) for v in between]
        return sorted({first, 0, *(t for t in inner if t < first)}, reverse=True)

    @torch.no_grad()
    def sample(self, denoise_fn: DenoiseFn, shape: tuple[int, ...], steps: int = 10,
               known: torch.Tensor | None = None, known_mask: torch.Tensor | None = None,
               generator: torch.Generator | None = None, device: torch.device | str = "cpu",
               dtype: torch.dtype = torch.float32, init: torch.Tensor | None = None,
               strength: float = 1.0, order: int | None = None, spacing: str | None = None) -> torch.Tensor:
        """Draw x0 of `shape` (B, T, C). known: (B, T, C); known_mask: (B, T) bool.

        init, strength (SDEdit): start from `init` (B, T, C) noised to step strength * 1000 instead
        of from pure noise, so the sample keeps init's coarse structure; strength 1 ignores init.
        order, spacing: this call's update and step spacing (default: the sampler's own)."""
        ab_all = self.schedule.alphas_cumprod
        order = _checked_order(order or self.order)
        ts = self.timesteps(steps, strength, spacing)
        x = torch.randn(shape, generator=generator, dtype=dtype).to(device)
        if init is not None and strength < 1.0:
            ab = float(ab_all[ts[0]])
            x = math.sqrt(ab) * init.to(x) + math.sqrt(1 - ab) * x
        m = None if known_mask is None else known_mask[..., None].to(device)
        x0 = x
        x0_last: torch.Tensor | None = None   # the previous step's x0 estimate (order 2)
        lam = self.log_snr(torch.tensor(ts)).tolist() if order == 2 else []   # log-SNR of each step
        for i, t in enumerate(ts):
            tt = torch.full((shape[0],), t, dtype=torch.long, device=device)
            x0 = denoise_fn(x, tt)
            if m is not None:
                x0 = torch.where(m, known.to(x0), x0)
            if i == len(ts) - 1:
                break
            ab, ab_prev = float(ab_all[t]), float(ab_all[ts[i + 1]])
            d = x0
            if order == 2 and x0_last is not None:
                h, h_last = lam[i + 1] - lam[i], lam[i] - lam[i - 1]
                c = h / (2 * h_last)   # = 1 / 2r
                d = (1 + c) * x0 - c * x0_last
            x0_last = x0
            eps = (x - math.sqrt(ab) * d) / math.sqrt(1 - ab)
            sigma = self.eta * math.sqrt((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev))
            x = math.sqrt(ab_prev) * d + math.sqrt(max(1 - ab_prev - sigma**2, 0.0)) * eps
            if sigma > 0:
                x = x + sigma * torch.randn(shape, generator=generator, dtype=dtype).to(device)
        if m is not None:
            x0 = torch.where(m, known.to(x0), x0)
        return x0

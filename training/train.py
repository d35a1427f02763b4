"""Train liveedit's DanceEditor: stage 1 (generation branch), then stage 2 (editing branch + CEM).

    python training/train.py                       # default CPU preset on the procedural corpus
    python training/train.py --preset tiny         # seconds; what the tests run
    torchrun --nproc_per_node 4 training/train.py --preset gpu --data corpus:/data/corpus
    python training/train.py --resume runs/default # continue after an interruption

Stage 1 follows the paper's objective 10 * L_simple + L_vel + L_foot (plus a forward-kinematics
joint-position loss, which keeps limbs from drifting when rotations are slightly off) on windows with
random known-frame masks (so the engine can continue a dance), music dropped 10% of the time
(classifier-free guidance). Stage 2 freezes the generation branch and trains the editing branch on
(initial, current, text) -> edited windows with the same loss (optionally weighted toward what the
edit changes: --edit-emphasis); the text is dropped 10% of the time and
then the target is the current dance itself, so the "no text" model is the identity edit and the text
guidance scale becomes an edit-strength control (0 = no edit).

Outputs in --run-dir: last.pt (resumable: weights, EMA, optimiser, step), log.csv, loss.png, and the
final EMA model written with model.checkpoint.save_checkpoint to --out.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

if __package__ in (None, ""):  # `python training/train.py` from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.checkpoint import save_checkpoint  # noqa: E402
from model.diffusion import CosineSchedule  # noqa: E402
from model.motion import CONTACT, Normalizer, decode  # noqa: E402
from model.network import DanceEditor, EditInputs, ModelConfig, parameter_count  # noqa: E402
from model.skeleton import FOOT_JOINTS, forward_kinematics  # noqa: E402
from training.data import PreparedBatches, draw_windows, on_device, open_training_data  # noqa: E402
from training.own_dances import build_bank, mix_in  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Preset:
    model: ModelConfig
    batch: int
    stage1_steps: int
    stage2_steps: int
    lr1: float
    lr2: float
    warmup: int = 200
    ema: float = 0.999
    log_every: int = 25
    val_every: int = 250
    ckpt_every: int = 250
    corpus_chains: int = 2000


PRESETS: dict[str, Preset] = {
    # seconds on a laptop: for tests and smoke runs
    "tiny": Preset(ModelConfig(width=32, depth=2, heads=2, dropout=0.0), batch=4, stage1_steps=6,
                   stage2_steps=4, lr1=1e-3, lr2=1e-3, warmup=1, ema=0.9, log_every=2, val_every=4,
                   ckpt_every=3, corpus_chains=4),
    # the shipped checkpoint: both stages in about two hours on a 2-core CPU.
    # The paper trains stage 2 at 1e-5 for 200 epochs; with a few thousand CPU steps that would not
    # move the zero-initialised joins, so both stages use larger rates here.
    "default": Preset(ModelConfig(width=192, depth=4, heads=4), batch=32, stage1_steps=5000,
                      stage2_steps=2000, lr1=4e-4, lr2=2e-4),
    # the shipped network's size on one GPU: about 8 minutes for both stages on an H200 (docs/MODEL.md)
    "default_gpu": Preset(ModelConfig(width=192, depth=4, heads=4), batch=128, stage1_steps=20_000,
                          stage2_steps=8_000, lr1=4e-4, lr2=2e-4, warmup=500, ema=0.9995, log_every=100,
                          val_every=2000, ckpt_every=2000),
    # a GPU run (per-process batch; scale with torchrun)
    "gpu": Preset(ModelConfig(width=384, depth=8, heads=6, frames_per_token=1), batch=128,
                  stage1_steps=100_000, stage2_steps=40_000, lr1=1e-4, lr2=5e-5, warmup=2000,
                  ema=0.9999, log_every=100, val_every=2000, ckpt_every=2000, corpus_chains=20000),
}


# ----------------------------------------------------------------------------- distributed

def dist_info() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def setup_distributed() -> torch.device:
    """torchrun sets WORLD_SIZE/RANK; gloo on CPU, nccl on GPUs."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device("cpu")


# ----------------------------------------------------------------------------- masks and losses

EDIT_T_FOCUS = 0.55  # --edit-low-noise: that share of stage-2 noise levels is drawn below this point
OWN_PREFIX_MAX_T = 0.5  # --own-prefix: the prefix is the network's guess from the window noised up to here
SEAM_BLEND_FRAMES = 15  # --own-prefix: frames after the prefix over which the target returns to the data


@torch.no_grad()
def own_output_prefix(model, target_n: torch.Tensor, music: torch.Tensor, mask: torch.Tensor,
                      schedule: CosineSchedule, gen: torch.Generator, prob: float) -> torch.Tensor:
    """Targets whose known prefix is the network's own output, for a share `prob` of the windows
    that continue a prefix; the others are returned as they are. (B, T, 151) -> (B, T, 151).

    In the rolling path every window continues frames the model made itself, never the data; a
    model trained on data prefixes alone takes its own small errors (a slightly lower pelvis, knees
    a little more bent) as given and builds on them, and over a song the dancer sinks into a crouch.
    Here the prefix is the network's one-call guess of the window from the data noised part way
    (its errors are the model's own kind, from none at low noise to a re-drawn pose at high noise),
    and the target after it returns from the guess to the data over SEAM_BLEND_FRAMES with a
    cosine fade, so the network learns to pull a drifting prefix back without a jump at the seam.
    """
    B, T, _ = target_n.shape
    dev = target_n.device
    n_known = torch.argmin(mask.to(torch.uint8), dim=1)                    # (B,) first unknown frame
    prefix = mask[:, 0] & (mask.sum(1) == n_known)                         # known frames only before it
    pick = prefix & (torch.rand(B, generator=gen, device=dev) < prob)      # (B,)
    if not bool(pick.any()):
        return target_n
    x0, m, n_known = target_n[pick], mask[pick], n_known[pick]             # (b, T, C), (b, T), (b,)
    t = (torch.rand(len(x0), generator=gen, device=dev) * OWN_PREFIX_MAX_T * schedule.steps).long()
    x_t = schedule.q_sample(x0, t, torch.randn(x0.shape, generator=gen, device=dev))
    guess = model(x_t, t, music[pick], x0, torch.zeros_like(m)).float()     # (b, T, C): no known frames
    last = (n_known - 1).clamp(min=0)[:, None, None].expand(-1, 1, x0.shape[2])
    offset = guess.gather(1, last) - x0.gather(1, last)                     # (b, 1, C) at the seam
    after = torch.arange(T, device=dev)[None, :] - n_known[:, None]         # (b, T) frames past the seam
    ramp = 0.5 * (1 + torch.cos(math.pi * (after + 1).clamp(0, SEAM_BLEND_FRAMES + 1) / (SEAM_BLEND_FRAMES + 1)))
    returned = x0 + offset * ramp[..., None]                                # (b, T, C)
    out = target_n.clone()
    out[pick] = torch.where(m[..., None], guess, returned)
    return out


def edit_weights(target_n: torch.Tensor, current_n: torch.Tensor, emphasis: float) -> torch.Tensor:
    """Per-element loss weights (B, T, 151) that lean on the part of the dance the edit changes.

    An edit moves a few channels over some frames; the rest of the target is the current dance,
    which the editing branch sees as input. With a plain mean the branch scores well by copying
    its input and ignoring the text. Weighting by |target - current| (relative to its mean over the
    window) puts the loss where the text decides the answer; windows without an edit weigh 1.

    Off by default (--edit-emphasis 0): 2000 steps at emphasis 2 on top of the shipped editing branch
    raised its edit success on training windows (48% -> 52%) but not on held-out ones (validation
    split, 120 windows: 48.3% -> 45.8%, preservation 93.1% -> 92.6%); docs/MODEL.md.
    """
    change = (target_n - current_n).abs()                                  # (B, T, C)
    scale = change.mean(dim=(1, 2), keepdim=True).clamp_min(1e-6)         # (B, 1, 1)
    return 1.0 + emphasis * (change / scale).clamp(max=10.0)


def motion_losses(pred_n: torch.Tensor, target_n: torch.Tensor, normalizer: Normalizer,
                  weights: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Paper eq. 2 terms (+ FK). pred_n, target_n: normalised (B, T, 151); weights: (B, T, 151) or None."""
    if weights is None:
        simple = F.mse_loss(pred_n, target_n)
    else:  # a weighted mean keeps the term on the same scale as the unweighted one
        simple = ((pred_n - target_n).pow(2) * weights).sum() / weights.sum()
    vel = F.mse_loss(pred_n[:, 1:] - pred_n[:, :-1], target_n[:, 1:] - target_n[:, :-1])
    pred, target = normalizer.denormalize(pred_n), normalizer.denormalize(target_n)
    dp, dt = decode(pred), decode(target)
    joints_p = forward_kinematics(dp.rotmats, dp.root)          # (B, T, 24, 3)
    joints_t = forward_kinematics(dt.rotmats, dt.root)
    fk = F.mse_loss(joints_p, joints_t)
    # feet that the ground truth has planted must not move (EDGE's foot-skate term, with true contacts)
    feet_vel = joints_p[:, 1:, list(FOOT_JOINTS)] - joints_p[:, :-1, list(FOOT_JOINTS)]  # (B, T-1, 4, 3)
    contact = target[:, :-1, CONTACT][..., None]
    foot = (feet_vel.pow(2) * contact).sum(-1).mean() * 100.0  # metres/frame are small: rescale
    total = 10.0 * simple + vel + foot + fk
    return {"loss": total, "simple": simple, "vel": vel, "foot": foot, "fk": fk}


class TrainingForward(torch.nn.Module):
    """The network's training forward pass as one module call, so DDP's gradient hooks run."""

    def __init__(self, net: DanceEditor):
        super().__init__()
        self.net = net

    def forward(self, x_t, t, music, known, mask, drop_music=None, edit: EditInputs | None = None):
        cond = self.net.condition(music, drop_music)
        return self.net.denoise(x_t, t, cond, known, mask, edit=edit)


# ----------------------------------------------------------------------------- the loop

class EMA:
    """Exponential moving average of a module's floating-point weights (buffers are copied)."""

    def __init__(self, module: torch.nn.Module, decay: float):
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in module.state_dict().items()}
        self._float = [k for k, v in self.shadow.items() if v.is_floating_point()]
        self._other = [k for k, v in self.shadow.items() if not v.is_floating_point()]

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.shadow

    def load(self, shadow: dict[str, torch.Tensor]) -> None:
        for k, v in shadow.items():
            self.shadow[k].copy_(v)

    @contextlib.contextmanager
    def applied_to(self, module: torch.nn.Module):
        """Temporarily load the EMA weights into `module` (for validation and for writing the model)."""
        backup = {k: v.clone() for k, v in module.state_dict().items()}
        module.load_state_dict(self.shadow)
        try:
            yield module
        finally:
            module.load_state_dict(backup)

    @torch.no_grad()
    def update(self, module: torch.nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))  # warm start: early EMA follows the weights
        current = module.state_dict()
        shadow = [self.shadow[k] for k in self._float]
        torch._foreach_lerp_(shadow, [current[k].detach() for k in self._float], 1 - d)  # one launch for all
        for k in self._other:
            self.shadow[k].copy_(current[k])


def lr_at(step: int, total: int, base: float, warmup: int) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def batch_stream(data, stage: int, preset: Preset, args, rank: int, start: int, host: bool = False):
    """Batches of windows (training.data.PreparedBatches; finish them with training.data.on_device):
    drawn in --workers DataLoader processes that work ahead of the device, or in this process when
    --workers is 0. host=True: whole batches prepared on the host (the reference path)."""
    stream = PreparedBatches(data, stage, preset.batch, seed=(args.seed, rank, stage, start), host=host)
    if args.workers <= 0:
        return iter(stream)
    loader = torch.utils.data.DataLoader(stream, batch_size=None, num_workers=args.workers,
                                         pin_memory=torch.cuda.is_available(), prefetch_factor=4,
                                         persistent_workers=False)
    return iter(loader)


def default_workers() -> int:
    """DataLoader workers: none on a CPU (its cores do the training), else all cores but two, up to
    12. os.cpu_count(), not the affinity mask: some GPU machines report one core there but run 16."""
    return min(12, max(0, (os.cpu_count() or 1) - 2)) if torch.cuda.is_available() else 0


def to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def train_stage(stage: int, net: DanceEditor, data, normalizer: Normalizer, preset: Preset, args,
                device: torch.device, log: "RunLog | None") -> None:
    rank, world = dist_info()
    steps = preset.stage1_steps if stage == 1 else preset.stage2_steps
    base_lr = preset.lr1 if stage == 1 else preset.lr2
    trained = net.generation if stage == 1 else net.editor
    if stage == 2:
        net.freeze_generation()
        if hasattr(data, "text_cache"):
            data.text_cache()  # encode the prompts once, before the workers fork
    params = [p for p in trained.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=base_lr, weight_decay=0.01, foreach=True)
    ema = EMA(trained, preset.ema)
    start = 0
    state_path = Path(args.run_dir) / f"stage{stage}_last.pt"
    if state_path.is_file():
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        try:
            trained.load_state_dict(state["weights"])
        except RuntimeError as exc:  # a run directory of another network (run.json catches most)
            raise SystemExit(f"{state_path}: written by another network than preset {args.preset!r} builds "
                             f"(another preset or --edit-mode); pass another --run-dir\n{str(exc)[:300]}") from exc
        ema.load(state["ema"])
        opt.load_state_dict(state["optim"])
        start = int(state["step"])
        if rank == 0:
            print(f"stage {stage}: resuming at step {start}/{steps} from {state_path}")
    if start >= steps:
        trained.load_state_dict(ema.state_dict())
        return
    fwd = TrainingForward(net).to(device)
    model = torch.nn.parallel.DistributedDataParallel(fwd) if world > 1 else fwd
    if args.compile:
        model = torch.compile(model)  # the first steps compile (a minute or more); off by default
    schedule = CosineSchedule().to(device)
    gen = torch.Generator(device=device).manual_seed(args.seed + 1000 * rank + start + 7919 * stage)
    batches = batch_stream(data, stage, preset, args, rank, start)
    bank = None
    if stage == 2 and getattr(args, "own_current", 0.0) > 0:
        bank = build_bank(args.init, batches, args.own_windows, seed=args.seed, progress=rank == 0)
    try:
        from tqdm import tqdm
        bar = tqdm(total=steps, initial=start, desc=f"stage {stage}", disable=rank != 0, dynamic_ncols=True)
    except ImportError:  # pragma: no cover
        bar = None
    net.train()
    t_start = time.time()
    # loss terms summed on the device and read back once per log_every steps (a read-back waits
    # for the device, so doing it every step would stall the queue)
    running: dict[str, torch.Tensor] = {}
    n_running, done, saved = 0, start, start
    for step in range(start, steps):
        if args.time_limit and time.time() - args.t0 > args.time_limit:
            if rank == 0:
                print(f"stage {stage}: --time-limit reached after step {step}/{steps}")
            break
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps, base_lr, preset.warmup)
        batch = on_device(to_device(next(batches), device), gen)
        if bank is not None:
            batch = mix_in(batch, bank, args.own_current, gen)
        losses = optimise(model, batch, normalizer, schedule, gen, stage, opt, params, args.bf16,
                          args.edit_emphasis, args.edit_low_noise, args.own_prefix)
        ema.update(trained, step)
        for k, v in losses.items():
            running[k] = running.get(k, 0.0) + v.detach().float()
        n_running += 1
        if bar is not None:
            bar.update(1)
        if rank == 0 and (step + 1) % preset.log_every == 0:
            row = {k: v.item() / n_running for k, v in running.items()}
            running, n_running = {}, 0
            log.write(stage, step + 1, "train", row, time.time() - t_start)
            if bar is not None:
                bar.set_postfix(loss=f"{row['loss']:.3f}")
        if rank == 0 and ((step + 1) % preset.val_every == 0 or step + 1 == steps):
            val = validate(net, ema, trained, data, normalizer, schedule, stage, device, args.seed)
            log.write(stage, step + 1, "val", val, time.time() - t_start)
            if bar is not None:
                bar.write(f"stage {stage} step {step + 1}: val loss {val['loss']:.4f} (simple {val['simple']:.4f})")
        if rank == 0 and ((step + 1) % preset.ckpt_every == 0 or step + 1 == steps):
            save_state(state_path, trained, ema, opt, step + 1)
            write_model(args, net, ema, trained, normalizer, stage, step + 1, partial=step + 1 < steps)
            saved = step + 1
        done = step + 1
    if rank == 0 and done > saved:  # stopped by --time-limit between checkpoints: keep what was trained
        save_state(state_path, trained, ema, opt, done)
        write_model(args, net, ema, trained, normalizer, stage, done, partial=True)
    if bar is not None:
        bar.close()
    trained.load_state_dict(ema.state_dict())
    net.eval()


def optimise(model, batch: dict, normalizer: Normalizer, schedule: CosineSchedule, gen: torch.Generator,
             stage: int, opt: torch.optim.Optimizer, params: list, bf16: bool, edit_emphasis: float = 0.0,
             edit_low_noise: float = 0.0, own_prefix: float = 0.0) -> dict[str, torch.Tensor]:
    """One optimiser step on a prepared batch already on the device (training and `liveedit bench
    train` alike); returns the loss terms, still on the device."""
    with autocast(batch["target"].device, bf16):
        losses = compute_losses(model, batch, normalizer, schedule, gen, stage, edit_emphasis, edit_low_noise,
                                own_prefix)
    opt.zero_grad(set_to_none=True)
    losses["loss"].backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0, foreach=True)
    opt.step()
    return losses


def save_state(path: Path, trained, ema: "EMA", opt, step: int) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"weights": trained.state_dict(), "ema": ema.state_dict(), "optim": opt.state_dict(),
                "step": step}, tmp)
    os.replace(tmp, path)


def autocast(device: torch.device, bf16: bool):
    """bf16 autocast for the network on CUDA (--bf16); the losses are computed in float32."""
    if bf16 and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def compute_losses(model, batch: dict, normalizer: Normalizer, schedule: CosineSchedule,
                   gen: torch.Generator, stage: int, edit_emphasis: float = 0.0,
                   edit_low_noise: float = 0.0, own_prefix: float = 0.0) -> dict[str, torch.Tensor]:
    """The training loss of one prepared batch (training.data.on_device, on the model's device);
    the noise level, the noise and the music/text dropouts are drawn here with `gen` (a generator on
    that device). The validation loss is always the unweighted one."""
    target = normalizer.normalize(batch["target"])
    device = target.device
    B = target.shape[0]
    t = torch.randint(0, schedule.steps, (B,), generator=gen, device=device)
    if stage == 2 and edit_low_noise > 0:
        # For partial re-draws (DanceModel.edit(redraw < 1), which start from the current dance
        # noised part way): more of the training at those noise levels.
        low = torch.randint(0, int(EDIT_T_FOCUS * schedule.steps), (B,), generator=gen, device=device)
        t = torch.where(torch.rand(B, generator=gen, device=device) < edit_low_noise, low, t)
    edit, weights, drop_music = None, None, None
    if stage == 1:
        drop_music = torch.rand(B, generator=gen, device=device) < 0.1
        if own_prefix > 0:
            target = own_output_prefix(model, target, batch["music"], batch["mask"], schedule, gen, own_prefix)
    else:
        current = normalizer.normalize(batch["current"])
        initial = normalizer.normalize(batch["initial"])
        drop_text = torch.rand(B, generator=gen, device=device) < 0.1
        if "own" in batch:   # the model's own dances (--own-current): no text, no edit
            drop_text = drop_text | batch["own"]
        # no text -> no edit: the target is the dance as it was
        target = torch.where(drop_text[:, None, None], current, target)
        edit = EditInputs(current=current, initial=initial, text=batch["text"], text_mask=batch["text_mask"],
                          drop_text=drop_text)
        if edit_emphasis > 0:
            weights = edit_weights(target, current, edit_emphasis)
    noise = torch.randn(target.shape, generator=gen, device=device)
    x_t = schedule.q_sample(target, t, noise)
    pred = model(x_t, t, batch["music"], target, batch["mask"], drop_music, edit)
    with torch.autocast(device.type, enabled=False):
        return motion_losses(pred.float(), target, normalizer, weights)


@torch.no_grad()
def validate(net, ema: "EMA", trained, data, normalizer, schedule, stage, device, seed) -> dict[str, float]:
    """Loss of the EMA weights on a fixed validation batch (held-out songs)."""
    with ema.applied_to(trained):
        net.eval()
        gen = torch.Generator(device=device).manual_seed(seed + 99)
        windows = draw_windows(data, stage, 32, np.random.default_rng(seed + 99), split="val")
        batch = on_device(to_device(windows, device), gen)
        out = compute_losses(TrainingForward(net), batch, normalizer, schedule, gen, stage)
    net.train()
    return {k: float(v) for k, v in out.items()}


def write_model(args, net: DanceEditor, ema: EMA, trained, normalizer, stage: int,
                step: int, partial: bool) -> None:
    """Write the engine-loadable checkpoint with the EMA weights (also mid-run, so a long run that is
    cut off still leaves a usable model)."""
    # (the editing branch exists only from stage 2 on, so a stage-1 file holds the generation branch alone)
    meta = {"stage": stage, "step": step, "partial": partial, "preset": args.preset, "data": args.data,
            "seed": args.seed, "phrasing_mix": getattr(args, "phrasing_mix", 0.0),
            "own_current": getattr(args, "own_current", 0.0), "wall_time_s": round(time.time() - args.t0, 1),
            "torch": str(torch.__version__), "device": "cuda" if torch.cuda.is_available() else "cpu"}
    if stage == 2:  # counting the steps of the checkpoint this run continued (--init), if any
        meta["stage2_total_steps"] = args.stage2_steps_before + step
    with ema.applied_to(trained):
        save_checkpoint(args.out, net, normalizer, meta=meta, half=args.half)


class RunLog:
    FIELDS = ["stage", "step", "split", "loss", "simple", "vel", "foot", "fk", "elapsed_s"]

    def __init__(self, run_dir: Path):
        self.path = run_dir / "log.csv"
        new = not self.path.exists()
        self.file = open(self.path, "a", newline="")
        self.writer = csv.DictWriter(self.file, fieldnames=self.FIELDS)
        if new:
            self.writer.writeheader()

    def write(self, stage, step, split, values: dict, elapsed: float) -> None:
        row = {"stage": stage, "step": step, "split": split, "elapsed_s": round(elapsed, 1)}
        row.update({k: round(values[k], 6) for k in ("loss", "simple", "vel", "foot", "fk") if k in values})
        self.writer.writerow(row)
        self.file.flush()

    def plot(self, out: Path) -> None:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        rows = list(csv.DictReader(open(self.path)))
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
        for stage, ax in zip((1, 2), axes):
            for split, style in (("train", "-"), ("val", "o-")):
                pts = [(int(r["step"]), float(r["loss"])) for r in rows if r["stage"] == str(stage) and r["split"] == split]
                if pts:
                    ax.plot(*zip(*pts), style, label=split, alpha=0.8)
            ax.set_title(f"stage {stage}: {'generation' if stage == 1 else 'editing'} branch")
            ax.set_xlabel("step")
            ax.set_ylabel("10*L_simple + L_vel + L_foot + L_fk")
            if ax.lines:
                ax.set_yscale("log")
                ax.legend()
            else:
                ax.text(0.5, 0.5, "not trained in this run", ha="center", va="center", transform=ax.transAxes)
        fig.tight_layout()
        fig.savefig(out, dpi=100)
        plt.close(fig)


# ----------------------------------------------------------------------------- entry point

RUN_INFO = "run.json"


def check_run_dir(run_dir: Path, preset_name: str, model: ModelConfig, rank: int) -> None:
    """A run directory belongs to one preset: its run.json (written by the first run) names it, and
    a run of another preset or another network stops here, naming the file, instead of resuming
    from weights of another shape. (The editing-branch variant may change between stages: stage 2
    of an ablation can reuse the stage 1 of its run directory.)"""
    path = run_dir / RUN_INFO
    network = {k: v for k, v in asdict(model).items() if k != "edit_mode"}
    mine = {"preset": preset_name, "network": network}
    if path.is_file():
        try:
            theirs = json.loads(path.read_text())
        except ValueError as exc:
            raise SystemExit(f"{path}: not JSON ({exc}); is {run_dir} a training run directory?") from exc
        if theirs.get("preset") != preset_name:
            raise SystemExit(f"{path}: {run_dir} is a run of preset {theirs.get('preset')!r}, not {preset_name!r}: "
                             f"pass --preset {theirs.get('preset')} to continue it, or another --run-dir")
        # (fields a later version added are not in older files: the weights' shapes judge those)
        theirs_net = theirs.get("network", {})
        changed = sorted(k for k in network if k in theirs_net and theirs_net[k] != network[k])
        if changed:
            raise SystemExit(f"{path}: {run_dir} holds a network that differs from preset {preset_name!r}'s "
                             f"in {', '.join(changed)}: pass another --run-dir")
    elif rank == 0:
        path.write_text(json.dumps(mine, indent=1))

def shared_normalizer(path: Path, data, seed: int) -> Normalizer:
    """Fit (or reload) the normaliser on rank 0 and hand the same one to every process."""
    rank, world = dist_info()
    state = None
    if rank == 0:
        if path.exists():
            state = json.loads(path.read_text())
        else:
            state = Normalizer.fit(data.motion_sample(20000, np.random.default_rng(seed))).state_dict()
            path.write_text(json.dumps(state))
    if world > 1:
        box = [state]
        dist.broadcast_object_list(box, src=0)
        state = box[0]
    return Normalizer.from_state_dict(state)


def load_allowing_new(module: torch.nn.Module, state: dict, what: str, rank: int) -> None:
    """Load weights where `module` may have parameters the file lacks, as long as they start at zero
    (layers added since, such as the aligned-music input): the loaded model then computes exactly
    what the file's model did, and training carries on from there."""
    missing, unexpected = module.load_state_dict(state, strict=False)
    own = module.state_dict()
    nonzero = [k for k in missing if own[k].is_floating_point() and own[k].abs().max() > 0]
    if unexpected or nonzero:
        raise SystemExit(f"--init: the {what} does not match this preset's network "
                         f"(unexpected {unexpected[:5]}, missing {nonzero[:5]})")
    if missing and rank == 0:
        print(f"--init: new zero-initialised parameters in the {what}: {', '.join(missing)}")


def warm_start(net: DanceEditor, path: str, rank: int) -> tuple[Normalizer, dict | None, int]:
    """Start from a checkpoint's generation branch; returns its normaliser, and when it has an
    editing branch of the same mode, that branch's weights for stage 2 to start from and the
    editing-stage steps they already had (else None, 0)."""
    from model.checkpoint import load_checkpoint
    init_net, normalizer, meta = load_checkpoint(path)
    load_allowing_new(net.generation, init_net.generation.state_dict(), "generation branch", rank)
    editor, editor_steps = None, 0
    if init_net.editor is not None and init_net.cfg.edit_mode == net.cfg.edit_mode:
        editor = init_net.editor.state_dict()
        editor_steps = int(meta.get("stage2_total_steps", meta.get("step", 0) if meta.get("stage") == 2 else 0))
    return normalizer, editor, editor_steps


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--preset", choices=sorted(PRESETS), default="default", help="model size and schedule")
    p.add_argument("--data", default="corpus",
                   help="training data: 'corpus' (procedural corpus, built into --corpus-dir if missing), "
                        "'corpus:DIR', 'manifest:DIR' (your own edit pairs in the corpus layout), "
                        "'aist:DIR' (AIST++, stage 1 only), 'finedance:DIR' (stage 1 only)")
    p.add_argument("--corpus-dir", default=str(REPO / "data" / "corpus"), help="where the procedural corpus lives")
    p.add_argument("--run-dir", default=None, help="logs and resumable state (default runs/<preset>)")
    p.add_argument("--out", default=None, help="model checkpoint to write (default: model/checkpoints/default.pt "
                   "for the default preset, else <run-dir>/model.pt)")
    p.add_argument("--resume", default=None, metavar="RUN_DIR", help="continue the run in RUN_DIR")
    p.add_argument("--stages", default="1,2", help="which stages to run, e.g. '1', '2' or '1,2'")
    p.add_argument("--edit-mode", default=None, choices=["cem", "concat", "no_branch"],
                   help="editing-branch variant (Table 4 ablations); stage 2 starts from --init if given")
    p.add_argument("--edit-emphasis", type=float, default=0.0, metavar="W",
                   help="stage 2: weigh L_simple by 1 + W * |edit change| / mean (0 = plain mean, the shipped model)")
    p.add_argument("--edit-low-noise", type=float, default=0.0, metavar="P",
                   help=f"stage 2: draw this share of noise levels below {EDIT_T_FOCUS * 100:.0f}%% of the schedule, "
                        "for partial re-draw edits (0 = uniform, the shipped model)")
    p.add_argument("--own-prefix", type=float, default=0.0, metavar="P",
                   help="stage 1: for this share of the windows that continue a prefix, the prefix is the "
                        "network's own output and the target returns from it to the data (against the "
                        "dance sinking over successive windows; training.train.own_output_prefix)")
    p.add_argument("--own-current", type=float, default=0.0, metavar="P",
                   help="stage 2: in this share of the rows, the dance to edit is the --init model's own dance "
                        "(generated once, --own-windows of them) with the text dropped, so the branch learns to "
                        "keep the model's own dances as well as the corpus's (training/own_dances.py; 0 = off)")
    p.add_argument("--own-windows", type=int, default=512, metavar="N",
                   help="how many own dances --own-current generates before stage 2")
    p.add_argument("--phrasing-mix", type=float, default=0.0, metavar="P",
                   help="stage 2: replace this share of training prompts by a generated phrasing of the same edit "
                        "(training/corpus/phrasings.py: synonyms, intensifiers, negated opposites; 0 = corpus text only, "
                        "the shipped model)")
    p.add_argument("--init", default=None, help="start from this checkpoint: its generation branch, and for stage 2 its editing branch "
                        "when it has one of the same --edit-mode (ablations, continued training)")
    p.add_argument("--stage1-steps", type=int, default=None)
    p.add_argument("--stage2-steps", type=int, default=None)
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--lr1", type=float, default=None, help="stage-1 learning rate (default: the preset's)")
    p.add_argument("--lr2", type=float, default=None, help="stage-2 learning rate (default: the preset's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores)")
    p.add_argument("--half", action="store_true", help="store float16 weights in --out (smaller file)")
    p.add_argument("--workers", type=int, default=None,
                   help="DataLoader processes preparing batches ahead of the device (default: 0 on a CPU, "
                        "where the cores train; on a GPU, all cores but two, up to 12)")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                   help="bf16 autocast for the network on CUDA (default: on there; losses stay float32)")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the network's training forward (off by default; measure first with "
                        "liveedit bench train --compile both: the first steps compile)")
    p.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                   help="stop a stage when this much wall time has passed since the start, writing the model")
    args = p.parse_args(argv)
    if args.resume:
        args.run_dir = args.resume
    args.run_dir = args.run_dir or str(REPO / "runs" / args.preset)
    if args.workers is None:
        args.workers = default_workers()
    if args.bf16 is None:
        args.bf16 = torch.cuda.is_available()
    if args.out is None:
        args.out = str(REPO / "model" / "checkpoints" / "default.pt") if args.preset == "default" \
            else str(Path(args.run_dir) / "model.pt")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    args.t0 = time.time()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = setup_distributed()
    rank, world = dist_info()
    preset = PRESETS[args.preset]
    overrides = {k: v for k, v in (("stage1_steps", args.stage1_steps), ("stage2_steps", args.stage2_steps),
                                   ("batch", args.batch), ("lr1", args.lr1), ("lr2", args.lr2)) if v is not None}
    preset = replace(preset, **overrides)
    if args.edit_mode:
        preset = replace(preset, model=replace(preset.model, edit_mode=args.edit_mode))
    run_dir = Path(args.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    check_run_dir(run_dir, args.preset, preset.model, rank)
    torch.manual_seed(args.seed)

    if not 0.0 <= args.phrasing_mix <= 1.0:
        raise SystemExit(f"--phrasing-mix must be in [0, 1], got {args.phrasing_mix}")
    if not 0.0 <= args.own_current <= 1.0:
        raise SystemExit(f"--own-current must be in [0, 1], got {args.own_current}")
    if args.own_current > 0 and not args.init:
        raise SystemExit("--own-current needs --init CKPT: the model whose own dances the branch learns to keep")
    data = open_training_data(args.data, args.corpus_dir, preset, seed=args.seed, rank=rank,
                              phrasing_mix=args.phrasing_mix)
    stages = [int(s) for s in args.stages.split(",")]

    normalizer = shared_normalizer(run_dir / "normalizer.json", data, args.seed)
    net = DanceEditor(preset.model, with_editor=False).to(device)
    init_editor, args.stage2_steps_before = None, 0
    if args.init:
        normalizer, init_editor, args.stage2_steps_before = warm_start(net, args.init, rank)
    if rank == 0:
        print(f"liveedit training: preset {args.preset}, data {args.data}, {world} process(es) on {device}; "
              f"generation branch {parameter_count(net.generation) / 1e6:.2f} M parameters; run dir {run_dir}")
    # one writer: a second process appending to the same CSV races the header and mangles the file
    log = RunLog(run_dir) if rank == 0 else None

    stage1 = run_dir / "stage1_last.pt"
    if 1 in stages:
        train_stage(1, net, data, normalizer, preset, args, device, log)
    elif stage1.is_file():  # this run's own stage 1 (its EMA weights) comes before --init's
        net.generation.load_state_dict(torch.load(stage1, weights_only=True)["ema"])
        if rank == 0:
            print(f"stage 2: generation branch from {stage1}")
    elif not args.init:
        raise SystemExit(f"stage 2 alone needs a trained generation branch: pass --init CKPT or run stage 1 in {run_dir}")
    if 2 in stages:
        net.add_editor()
        # a resumed run picks its own weights up from stage2_last.pt (its step count still began at --init's)
        if init_editor is not None and not (run_dir / "stage2_last.pt").is_file():
            load_allowing_new(net.editor, init_editor, "editing branch", rank)
        net.to(device)
        if rank == 0:
            print(f"editing branch ({preset.model.edit_mode}): {parameter_count(net.editor) / 1e6:.2f} M parameters")
        train_stage(2, net, data, normalizer, preset, args, device, log)
    if rank == 0:
        log.plot(run_dir / "loss.png")
        print(f"done in {time.time() - args.t0:.0f} s; model written to {args.out}; log {log.path}; plot {run_dir / 'loss.png'}")
    if dist.is_initialized():
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`liveedit bench train`: training steps a second of a preset on this machine (CPU or GPU).

Three figures per setting, each the median over timed blocks after a warm-up:
  device step   one optimiser step on a batch already on the device (network, losses, AdamW, EMA):
                what the device alone can do;
  loop          the training loop as train.py runs it, batches prepared by --workers DataLoader
                processes (training.data.PreparedBatches) and moved to the device each step;
  device-bound  device step / loop time: the share of the loop the device is working, near 100%
                when batch preparation keeps up.
Samples a second = steps a second x batch. Stage 2 (the editing branch) is timed with --stage 2.
"""
from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch


def add_arguments(p: argparse.ArgumentParser) -> None:
    from training.train import PRESETS, REPO  # noqa: PLC0415
    p.add_argument("--preset", choices=sorted(PRESETS), default="default", help="model size and batch")
    p.add_argument("--batch", type=int, default=None, help="batch size (default: the preset's)")
    p.add_argument("--stage", type=int, choices=(1, 2), default=1, help="1 = generation branch, 2 = editing branch")
    p.add_argument("--corpus-dir", default=str(REPO / "data" / "corpus"), help="procedural corpus to draw batches from")
    p.add_argument("--workers", type=int, default=None, help="DataLoader workers for the loop (default as train.py)")
    p.add_argument("--steps", type=int, default=60, help="steps timed per setting")
    p.add_argument("--bf16", default="auto", choices=("auto", "on", "off", "both"),
                   help="bf16 autocast (CUDA only; auto = on with CUDA)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores)")
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")


def _median_step_time(step, n: int, device: torch.device, blocks: int = 5) -> float:
    """Seconds a step: median over `blocks` blocks of n // blocks steps, synchronised at block ends."""
    per = max(1, n // blocks)
    times = []
    for _ in range(blocks):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(per):
            step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) / per)
    return statistics.median(times)


def measure(preset_name: str, stage: int, corpus_dir: str, batch: int | None, workers: int, bf16: bool,
            steps: int, device: torch.device) -> dict:
    """Time one setting; returns the figures as a dict."""
    from model.diffusion import CosineSchedule  # noqa: PLC0415
    from model.motion import Normalizer  # noqa: PLC0415
    from model.network import DanceEditor, parameter_count  # noqa: PLC0415
    from training.data import open_training_data, prepare_batch  # noqa: PLC0415
    from training.train import (EMA, PRESETS, TrainingForward, batch_stream, optimise,  # noqa: PLC0415
                                to_device)

    preset = PRESETS[preset_name]
    if batch:
        preset = replace(preset, batch=batch)
    data = open_training_data(f"corpus:{corpus_dir}", corpus_dir, preset)
    normalizer = Normalizer.fit(data.motion_sample(5000, np.random.default_rng(0)))
    net = DanceEditor(preset.model, with_editor=False)
    if stage == 2:
        net.add_editor()
        net.freeze_generation()
        data.text_cache()
    net.to(device).train()
    trained = net.generation if stage == 1 else net.editor
    params = [p for p in trained.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, foreach=True)
    ema = EMA(trained, preset.ema)
    fwd = TrainingForward(net)
    schedule = CosineSchedule().to(device)
    gen = torch.Generator(device=device).manual_seed(0)

    def step(batch: dict) -> None:
        optimise(fwd, batch, normalizer, schedule, gen, stage, opt, params, bf16)
        ema.update(trained, 1000)

    fixed = to_device(prepare_batch(data, stage, preset.batch, np.random.default_rng(1)), device)
    for _ in range(5):  # warm-up: kernels, allocator, autotuning
        step(fixed)
    device_step = _median_step_time(lambda: step(fixed), steps, device)

    args = SimpleNamespace(seed=0, workers=workers)
    stream = batch_stream(data, stage, preset, args, rank=0, start=0)
    for _ in range(max(5, 2 * workers)):  # warm-up, and let the workers fill their queue
        step(to_device(next(stream), device))
    loop_step = _median_step_time(lambda: step(to_device(next(stream), device)), steps, device)
    del stream
    return {"preset": preset_name, "stage": stage, "batch": preset.batch, "device": str(device),
            "bf16": bool(bf16 and device.type == "cuda"), "workers": workers,
            "parameters_m": round(parameter_count(trained) / 1e6, 2),
            "device_step_ms": round(device_step * 1e3, 2), "loop_step_ms": round(loop_step * 1e3, 2),
            "steps_per_s": round(1 / loop_step, 1), "samples_per_s": round(preset.batch / loop_step),
            "device_bound": round(min(1.0, device_step / loop_step), 2)}


def run(args: argparse.Namespace) -> int:
    import json  # noqa: PLC0415
    if args.threads:
        torch.set_num_threads(args.threads)
    if not (Path(args.corpus_dir) / "manifest.jsonl").is_file():
        print(f"liveedit bench train: no corpus in {args.corpus_dir} (build one: python training/make_corpus.py "
              f"--out {args.corpus_dir}, or rebuild a pack with --rebuild)")
        return 2
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    from training.train import default_workers  # noqa: PLC0415
    workers = default_workers() if args.workers is None else args.workers
    modes = {"auto": [device.type == "cuda"], "on": [True], "off": [False], "both": [False, True]}[args.bf16]
    if device.type != "cuda":
        modes = [False]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"liveedit bench train: preset {args.preset}, stage {args.stage}, on {name}, torch {torch.__version__}")
    rows = [measure(args.preset, args.stage, args.corpus_dir, args.batch, workers, bf16, args.steps, device)
            for bf16 in modes]
    print(f"{'bf16':>5} {'batch':>5} {'workers':>7} {'device step':>12} {'loop step':>10} {'steps/s':>8} "
          f"{'samples/s':>10} {'device-bound':>12}")
    for r in rows:
        print(f"{'on' if r['bf16'] else 'off':>5} {r['batch']:>5} {r['workers']:>7} {r['device_step_ms']:>9.1f} ms "
              f"{r['loop_step_ms']:>7.1f} ms {r['steps_per_s']:>8.1f} {r['samples_per_s']:>10} {r['device_bound']:>11.0%}")
    if args.json:
        Path(args.json).write_text(json.dumps({"device": name, "torch": torch.__version__, "rows": rows}, indent=1))
    return 0

"""`liveedit bench train`: training steps a second of a preset on this machine (CPU or GPU).

Figures per setting, each the median over timed blocks after a warm-up:
  device step   one optimiser step on a batch already on the device (network, losses, AdamW, EMA):
                what the device alone can do;
  loop          the training loop as train.py runs it: windows drawn by --workers DataLoader
                processes (training.data.PreparedBatches), moved to the device, and finished there
                (known-frame masks, live music: training.data.on_device);
  device-bound  device step / loop time: the share of the loop the device is working, near 100%
                when batch preparation keeps up.
Samples a second = steps a second x batch. Stage 2 (the editing branch) is timed with --stage 2.

--compare-host also times the loop with whole batches prepared on the host (masks and music
extrapolation in numpy, one window at a time: the loop before on_device), in blocks alternating
with the loop above, and prints the ratio of the two: both see the same machine load.
--compile both times the network with and without torch.compile (compilation is in the warm-up).
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
    p.add_argument("--compile", default="off", choices=("off", "on", "both"),
                   help="torch.compile the training forward (train.py --compile)")
    p.add_argument("--compare-host", action="store_true",
                   help="also time the loop with batches prepared on the host, alternating with the device path")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores)")
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _median_step_times(steps: dict, n: int, device: torch.device, blocks: int = 5) -> dict[str, float]:
    """Seconds a step of each callable in `steps`: median over `blocks` blocks of n // blocks steps,
    synchronised at block ends; the callables take turns block by block (first one, then the other
    first), so a change in the machine's load reaches them alike."""
    per = max(1, n // blocks)
    times: dict[str, list[float]] = {k: [] for k in steps}
    order = list(steps)
    for i in range(blocks):
        for name in (order if i % 2 == 0 else order[::-1]):
            _sync(device)
            t0 = time.perf_counter()
            for _ in range(per):
                steps[name]()
            _sync(device)
            times[name].append((time.perf_counter() - t0) / per)
    return {k: statistics.median(v) for k, v in times.items()}


def measure(preset_name: str, stage: int, corpus_dir: str, batch: int | None, workers: int, bf16: bool,
            steps: int, device: torch.device, compile_net: bool = False, compare_host: bool = False) -> dict:
    """Time one setting; returns the figures as a dict."""
    from model.diffusion import CosineSchedule  # noqa: PLC0415
    from model.motion import Normalizer  # noqa: PLC0415
    from model.network import DanceEditor, parameter_count  # noqa: PLC0415
    from training.data import draw_windows, on_device, open_training_data  # noqa: PLC0415
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
    fwd = torch.compile(TrainingForward(net)) if compile_net else TrainingForward(net)
    schedule = CosineSchedule().to(device)
    gen = torch.Generator(device=device).manual_seed(0)

    def step(batch: dict) -> None:
        optimise(fwd, batch, normalizer, schedule, gen, stage, opt, params, bf16)
        ema.update(trained, 1000)

    windows = draw_windows(data, stage, preset.batch, np.random.default_rng(1))
    fixed = on_device(to_device(windows, device), gen)
    for _ in range(5):  # warm-up: kernels, allocator, autotuning, compilation
        step(fixed)
    device_step = _median_step_times({"device": lambda: step(fixed)}, steps, device)["device"]

    args = SimpleNamespace(seed=0, workers=workers)
    streams = {"device": batch_stream(data, stage, preset, args, rank=0, start=0)}
    if compare_host:  # the loop before on_device: masks and music drawn where the windows are
        streams["host"] = batch_stream(data, stage, preset, args, rank=0, start=0, host=True)
    loops = {"device": lambda: step(on_device(to_device(next(streams["device"]), device), gen))}
    if compare_host:
        loops["host"] = lambda: step(to_device(next(streams["host"]), device))
    for _ in range(max(5, 2 * workers)):  # warm-up, and let the workers fill their queues
        for loop in loops.values():
            loop()
    timed = _median_step_times(loops, steps, device)
    loop_step = timed["device"]
    streams.clear()  # lets DataLoader workers go
    row = {"preset": preset_name, "stage": stage, "batch": preset.batch, "device": str(device),
           "bf16": bool(bf16 and device.type == "cuda"), "compile": compile_net, "workers": workers,
           "parameters_m": round(parameter_count(trained) / 1e6, 2),
           "device_step_ms": round(device_step * 1e3, 2), "loop_step_ms": round(loop_step * 1e3, 2),
           "steps_per_s": round(1 / loop_step, 2), "samples_per_s": round(preset.batch / loop_step, 1),
           "device_bound": round(min(1.0, device_step / loop_step), 2)}
    if compare_host:
        row["host_loop_step_ms"] = round(timed["host"] * 1e3, 2)
        row["speedup_vs_host"] = round(timed["host"] / loop_step, 3)
        row.update(_prep_times(windows, gen, steps, device))
    return row


def _prep_times(windows: dict, gen: torch.Generator, n: int, device: torch.device) -> dict:
    """What moved to the device, timed alone on one batch of windows: the known-frame masks and the
    live music, per window in numpy on the host (with the copy to the device) against on_device."""
    from training.data import live_music, on_device, random_known_masks  # noqa: PLC0415
    from training.train import to_device  # noqa: PLC0415
    rng = np.random.default_rng(0)
    music, history = windows["music"].numpy(), windows.get("music_history")
    history = None if history is None else history.numpy()
    on_dev = to_device(windows, device)
    B, T = music.shape[:2]

    def host() -> None:
        mask = random_known_masks(B, T, rng)
        to_device({"mask": mask, "music": torch.as_tensor(live_music(music, mask.numpy(), rng, history))}, device)

    t = _median_step_times({"host": host, "device": lambda: on_device(on_dev, gen)}, max(n, 20), device)
    return {"prep_host_ms": round(t["host"] * 1e3, 2), "prep_device_ms": round(t["device"] * 1e3, 2)}


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
    compiles = {"off": [False], "on": [True], "both": [False, True]}[args.compile]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"liveedit bench train: preset {args.preset}, stage {args.stage}, on {name}, torch {torch.__version__}")
    rows = [measure(args.preset, args.stage, args.corpus_dir, args.batch, workers, bf16, args.steps, device,
                    compile_net=comp, compare_host=args.compare_host)
            for comp in compiles for bf16 in modes]
    print(f"{'bf16':>5} {'compile':>7} {'batch':>5} {'workers':>7} {'device step':>12} {'loop step':>10} "
          f"{'steps/s':>8} {'samples/s':>10} {'device-bound':>12}" + ("  host loop  speed-up" if args.compare_host else ""))
    for r in rows:
        line = (f"{'on' if r['bf16'] else 'off':>5} {'on' if r['compile'] else 'off':>7} {r['batch']:>5} "
                f"{r['workers']:>7} {r['device_step_ms']:>9.1f} ms {r['loop_step_ms']:>7.1f} ms {r['steps_per_s']:>8.2f} "
                f"{r['samples_per_s']:>10.1f} {r['device_bound']:>11.0%}")
        if args.compare_host:
            line += f"  {r['host_loop_step_ms']:>6.1f} ms  {r['speedup_vs_host']:>7.3f}x"
        print(line)
    for r in rows if args.compare_host else []:
        print(f"masks + live music of a batch: {r['prep_host_ms']:.2f} ms on the host (numpy, per window) -> "
              f"{r['prep_device_ms']:.2f} ms on {r['device']} (on_device)")
    if args.json:
        Path(args.json).write_text(json.dumps({"device": name, "torch": torch.__version__, "rows": rows}, indent=1))
    return 0

"""`liveedit bench model`: parameter counts and the time to make one 5 s window on this machine.

Prints, per branch and sampler step count, the median wall time of one 150-frame window (with
classifier-free guidance, as the engine runs it), the real-time factor (seconds of dance per second
of compute) and the FLOPs-bound estimate, so the numbers can be read against what the CPU can do.
Targets for the default live configuration: generation <= 100 ms, edit window (both branches) <= 200 ms.
"""
from __future__ import annotations

import argparse
import statistics
import time
from types import SimpleNamespace

import numpy as np
import torch

from model.network import parameter_count


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", default=None, help="model checkpoint (default: the shipped one, else a random "
                                                      "model of the default size)")
    p.add_argument("--steps", default="4,8,10,20", help="sampler step counts to time, comma separated")
    p.add_argument("--repeats", type=int, default=5, help="windows timed per setting (median reported)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    p.add_argument("--bf16", action="store_true", help="also time under bfloat16 autocast")


def _model(checkpoint: str | None):
    from model.network import DanceEditor, ModelConfig
    from model.motion import Normalizer
    from model.pipeline import DanceModel

    class StandInText:  # timing only; the real encoder's cost is measured separately below
        def encode(self, prompts, max_tokens=32):
            return SimpleNamespace(tokens=torch.randn(len(prompts), 12, 384),
                                   mask=torch.ones(len(prompts), 12, dtype=torch.bool))

    try:
        dm = DanceModel.load(checkpoint, text_encoder=StandInText())
        source = dm.name
    except FileNotFoundError:
        from training.train import PRESETS
        net = DanceEditor(PRESETS["default"].model, with_editor=True)
        dm = DanceModel(net, Normalizer.identity(), StandInText(), name="random (default preset size)")
        source = dm.name
    return dm, source


def _flops_per_forward(dm, batch: int) -> float:
    """Multiply-adds x 2 of one denoiser forward pass (linear layers + attention matmuls)."""
    cfg = dm.cfg
    n, d, m = cfg.tokens, cfg.width, cfg.tokens
    per_block = 2 * n * (4 * d * d) + 2 * n * (4 * d * d) + 2 * n * (2 * cfg.mlp_ratio * d * d) \
        + 2 * (2 * n * n * d) + 2 * (2 * n * m * d)
    io = 2 * n * d * ((2 * cfg.motion_dim + 1) * cfg.frames_per_token) + 2 * n * d * cfg.motion_dim * cfg.frames_per_token
    return batch * (cfg.depth * per_block + io)


def _time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run(args) -> int:
    threads = getattr(args, "threads", None)
    if threads:
        torch.set_num_threads(threads)
    dm, source = _model(getattr(args, "checkpoint", None))
    steps_list = [int(s) for s in str(getattr(args, "steps", "4,8,10,20")).split(",")]
    repeats = int(getattr(args, "repeats", 5))
    rng = np.random.default_rng(0)
    music = rng.normal(size=(dm.window, dm.cfg.music_dim)).astype(np.float32)
    print(f"model: {source}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"parameters: generation branch {parameter_count(dm.net.generation) / 1e6:.2f} M, "
          f"editing branch {parameter_count(dm.net.editor) / 1e6:.2f} M ({dm.cfg.edit_mode})")
    print(f"config: width {dm.cfg.width}, depth {dm.cfg.depth}, {dm.cfg.tokens} tokens/window "
          f"({dm.cfg.frames_per_token} frames a token)")
    base = dm.generate(music, steps=2, seed=0)
    gflop_fwd = _flops_per_forward(dm, batch=2) / 1e9
    # measured matmul throughput, for the FLOPs-bound estimate
    a = torch.randn(1024, 1024)
    gflops = 2 * 1024**3 / _time(lambda: a @ a, 10) / 1e9
    print(f"one guided denoiser pass (batch 2) ~ {gflop_fwd:.2f} GFLOP; this CPU: {gflops:.0f} GFLOP/s fp32 matmul\n")
    header = f"{'branch':<22}{'steps':>6}{'window ms':>11}{'x realtime':>12}{'FLOP-bound ms':>15}"
    print(header)
    print("-" * len(header))
    modes = [("fp32", torch.float32)] + ([("bf16", torch.bfloat16)] if getattr(args, "bf16", False) else [])
    for label, dtype in modes:
        for steps in steps_list:
            ctx = torch.autocast("cpu", dtype=torch.bfloat16) if dtype == torch.bfloat16 else _null()
            with ctx:
                t_gen = _time(lambda: dm.generate(music, steps=steps, seed=1), repeats)
                t_edit = _time(lambda: dm.edit(music, base, base, "swing arms wider", steps=steps, seed=1), repeats) \
                    if dm.can_edit else float("nan")
            bound = steps * gflop_fwd / gflops * 1000
            print(f"{'generation ' + label:<22}{steps:>6}{t_gen * 1000:>11.1f}{5.0 / t_gen:>12.1f}{bound:>15.1f}")
            print(f"{'edit (both) ' + label:<22}{steps:>6}{t_edit * 1000:>11.1f}{5.0 / t_edit:>12.1f}{2.2 * bound:>15.1f}")
    print("\ntargets (default live configuration, 10 steps): generation <= 100 ms, edit window <= 200 ms")
    return 0


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())

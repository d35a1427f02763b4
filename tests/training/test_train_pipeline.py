"""training/train.py end to end on a tiny corpus: both stages, resume, the engine-loadable model, DDP."""
import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from model.pipeline import DanceModel

REPO = Path(__file__).resolve().parents[2]

# Each test runs real training processes (torch import, the sentence encoder, both stages): minutes on
# a busy 2-core machine, so they get more than the suite's default time limit.
pytestmark = pytest.mark.timeout(1200)


def run_train(args, **kw):
    return subprocess.run([sys.executable, str(REPO / "training" / "train.py"), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=600, **kw)


def test_both_stages_then_resume_writes_a_loadable_model(tiny_corpus, tmp_path):
    run_dir, out = tmp_path / "run", tmp_path / "model.pt"
    r = run_train(["--preset", "tiny", "--data", f"corpus:{tiny_corpus}", "--run-dir", str(run_dir), "--out", str(out)])
    assert r.returncode == 0, r.stderr[-2000:]
    rows = list(csv.DictReader(open(run_dir / "log.csv")))
    assert {r["stage"] for r in rows} == {"1", "2"} and any(r["split"] == "val" for r in rows)
    assert all(np.isfinite(float(r["loss"])) for r in rows)
    assert (run_dir / "loss.png").stat().st_size > 1000

    dm = DanceModel.load(out)
    assert dm.can_edit and dm.meta["stage"] == 2 and not dm.meta["partial"]
    music = np.zeros((150, 35), np.float32)
    assert dm.generate(music, steps=2, seed=0).shape == (150, 151)

    # resume: more stage-2 steps continue from the saved step instead of starting over
    r2 = run_train(["--preset", "tiny", "--data", f"corpus:{tiny_corpus}", "--resume", str(run_dir),
                    "--out", str(out), "--stage2-steps", "6"])
    assert r2.returncode == 0, r2.stderr[-2000:]
    assert "stage 1: resuming at step 6/6" in r2.stdout
    assert "stage 2: resuming at step 4/6" in r2.stdout
    assert DanceModel.load(out).meta["step"] == 6


def test_ablation_variant_trains_from_a_stage1_model(tiny_corpus, tmp_path):
    base = tmp_path / "base.pt"
    r = run_train(["--preset", "tiny", "--data", f"corpus:{tiny_corpus}", "--run-dir", str(tmp_path / "a"),
                   "--out", str(base), "--stages", "1"])
    assert r.returncode == 0, r.stderr[-2000:]
    assert not DanceModel.load(base).can_edit
    abl = tmp_path / "concat.pt"
    r = run_train(["--preset", "tiny", "--data", f"corpus:{tiny_corpus}", "--run-dir", str(tmp_path / "b"),
                   "--out", str(abl), "--stages", "2", "--init", str(base), "--edit-mode", "concat"])
    assert r.returncode == 0, r.stderr[-2000:]
    dm = DanceModel.load(abl)
    assert dm.cfg.edit_mode == "concat" and dm.can_edit
    # the frozen generation branch is the stage-1 one, untouched by stage 2
    g0 = DanceModel.load(base).net.generation.state_dict()
    for k, v in dm.net.generation.state_dict().items():
        assert torch.equal(v, g0[k]), k


def test_init_carries_a_two_stage_model_into_continued_training(tiny_corpus, tmp_path):
    first = tmp_path / "first.pt"
    r = run_train(["--preset", "tiny", "--data", f"corpus:{tiny_corpus}", "--run-dir", str(tmp_path / "a"),
                   "--out", str(first)])
    assert r.returncode == 0, r.stderr[-2000:]
    more = tmp_path / "more.pt"
    r = run_train(["--preset", "tiny", "--data", f"corpus:{tiny_corpus}", "--run-dir", str(tmp_path / "b"),
                   "--out", str(more), "--init", str(first), "--stage2-steps", "1",
                   "--own-current", "0.5", "--own-windows", "6"])
    assert r.returncode == 0, r.stderr[-2000:]
    assert DanceModel.load(more).meta["own_current"] == 0.5
    # its metadata counts the editing steps of both runs
    assert DanceModel.load(more).meta["stage2_total_steps"] == DanceModel.load(first).meta["stage2_total_steps"] + 1
    # stage 2 started from the file's trained editing branch, not from a fresh zero-joined copy
    before = DanceModel.load(first).net.editor.state_dict()
    after = DanceModel.load(more).net.editor.state_dict()
    zero_joins = [k for k in before if "zero_out" in k and k.endswith("weight")]
    assert zero_joins and all(before[k].abs().max() > 0 for k in zero_joins)
    for k in zero_joins:
        assert (after[k] - before[k]).abs().max() < 0.5 * before[k].abs().max(), k


def test_ddp_two_cpu_processes_gloo(tiny_corpus, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(REPO / "training" / "train.py"), "--preset", "tiny", "--data", f"corpus:{tiny_corpus}",
           "--run-dir", str(tmp_path / "ddp"), "--out", str(tmp_path / "ddp.pt"), "--stages", "1", "--threads", "1"]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, (r.stdout[-1500:], r.stderr[-3000:])
    assert "2 process(es)" in r.stdout
    assert DanceModel.load(tmp_path / "ddp.pt").meta["step"] == 6
    # only rank 0 writes the log: exactly one header, every row parses
    lines = (tmp_path / "ddp" / "log.csv").read_text().splitlines()
    assert lines[0].startswith("stage,step,split") and sum(l.startswith("stage,") for l in lines) == 1
    assert all(len(l.split(",")) == len(lines[0].split(",")) for l in lines)

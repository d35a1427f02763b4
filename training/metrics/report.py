"""docs/RESULTS.md and its plots from the results dict that training/eval.py builds."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np

QUALITY_COLS = (("fid_k", "FID_k ↓", "{:.2f}"), ("fid_g", "FID_g ↓", "{:.2f}"), ("div_k", "Div_k ↑", "{:.2f}"),
                ("div_g", "Div_g ↑", "{:.2f}"), ("bas_music", "BAS (music beats) ↑", "{:.4f}"),
                ("bas_motion", "BAS (motion beats) ↑", "{:.4f}"), ("pfc", "PFC ↓", "{:.3f}"))
EDIT_COLS = (("edit_success", "Edit success ↑", "{:.1%}"), ("preservation", "Preservation ↑", "{:.1%}"),
             ("held_out_success", "Success, held-out phrasings ↑", "{:.1%}"),
             ("combo_success", "Success, held-out move/edit combos ↑", "{:.1%}"),
             ("align_dist", "Align. distance ↓", "{:.3f}"), ("align_r1", "R@1 ↑", "{:.2f}"),
             ("align_r3", "R@3 ↑", "{:.2f}"))


def _fmt(v, fmt: str) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return fmt.format(v)


def _table(rows: Sequence[dict], first: tuple[str, str], cols) -> list[str]:
    cols = [c for c in cols if any(c[0] in r for r in rows)]
    head = [first[1]] + [c[1] for c in cols]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [str(r.get(first[0], ""))] + [_fmt(r.get(k), f) if k in r else "–" for k, _, f in cols]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _plot_table2(rows, gt_vs_gt, path: Path) -> None:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    keys = [("fid_k", "FID_k (lower is better)"), ("fid_g", "FID_g (lower)"), ("bas_music", "BAS, music beats (higher)"),
            ("pfc", "PFC (lower)")]
    names = [r["method"] for r in rows]
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    for ax, (k, title) in zip(axes, keys):
        vals = [r.get(k, np.nan) for r in rows]
        ax.barh(range(len(vals)), vals, color=["#888"] + ["#3a7"] + ["#69c"] * (len(vals) - 2))
        ax.set_yticks(range(len(vals)))
        ax.set_yticklabels(names if k == "fid_k" else [""] * len(names), fontsize=8)
        ax.invert_yaxis()
        ax.set_title(title, fontsize=9)
        finite = [v for v in vals if v is not None and math.isfinite(v) and v > 0]
        if finite and max(finite) / max(min(finite), 1e-12) > 100:
            ax.set_xscale("log")  # an untrained or broken row would squash every other bar
            title += ", log scale"
            ax.set_title(title, fontsize=9)
        if k.startswith("fid") and gt_vs_gt and math.isfinite(gt_vs_gt.get(k, np.nan)):
            ax.axvline(2 * gt_vs_gt[k], color="r", ls="--", lw=1, label="2 x GT-vs-GT")
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _plot_iterations(model_rows, gt_rows, path: Path) -> None:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    keys = [("fid_k", "FID_k"), ("bas_music", "BAS (music beats)"), ("pfc", "PFC"), ("edit_success", "Edit success"),
            ("preservation", "Preservation"), ("align_dist", "Alignment distance")]
    keys = [k for k in keys if any(k[0] in r for r in model_rows)]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 3.2))
    for ax, (k, title) in zip(np.atleast_1d(axes), keys):
        for rows, label, style in ((model_rows, "model", "o-"), (gt_rows or [], "ground-truth edits", "s--")):
            xs = [i for i, r in enumerate(rows) if k in r]
            ax.plot(xs, [rows[i][k] for i in xs], style, label=label)
        ax.set_xticks(range(4))
        ax.set_xticklabels(["init", "1", "2", "3"])
        ax.set_title(title, fontsize=9)
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _plot_beats(beats: np.ndarray, gt: np.ndarray, gen: np.ndarray, path: Path) -> None:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    from scipy.ndimage import gaussian_filter1d  # noqa: PLC0415

    from training.metrics.beats import motion_beats  # noqa: PLC0415

    fig, axes = plt.subplots(2, 1, figsize=(10, 4.5), sharex=True)
    for ax, j, label, color in ((axes[0], gt, "ground truth", "#888"), (axes[1], gen, "model", "#3a7")):
        speed = gaussian_filter1d(np.linalg.norm(np.diff(j, axis=0), axis=-1).mean(1), 5.0) * 30
        mb = motion_beats(j)
        t = np.arange(len(speed)) / 30
        ax.plot(t, speed, color=color, label="smoothed mean joint speed")
        ax.plot(mb / 30, speed[mb], "v", color="k", label="motion beats")
        for b in beats:
            ax.axvline(b, color="r", lw=0.8, alpha=0.6)
        ax.set_ylabel("m/s")
        ax.set_title(label, fontsize=9)
        ax.legend(fontsize=7, loc="upper right")
    axes[1].set_xlabel("time (s); red lines = music beats")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_report(results: dict, out: Path, img_dir: Path, example_music_beats, example_gt, example_gen) -> None:
    """Write the markdown report and plots (image paths relative to the report)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    img_dir.mkdir(parents=True, exist_ok=True)
    rel = lambda p: Path(_relpath(p, out.parent)).as_posix()  # noqa: E731
    m = results["meta"]
    L = ["# Evaluation results", "",
         "Generated by `liveedit eval`; do not edit by hand, re-run the command.", "",
         f"- Command: `{m['command']}`",
         f"- Date: {m['date']}; machine: {m['machine']}; wall time {m.get('seconds', '?')} s",
         f"- Model: `{m['model']}` {_meta_line(m.get('model_meta', {}))}", ""]
    if results.get("longform"):
        L += longform_section(results["longform"], rel)
    for key in ("phrasings", "phrasings_own"):
        if results.get(key):
            from training.phrasing_eval import markdown as phrasing_markdown  # noqa: PLC0415
            L += phrasing_markdown(results[key])
    if "table2" not in results:
        out.write_text("\n".join(L))
        return
    L += ["# Isolated 5 s windows (diagnostic)", "",
          "Single windows from scratch on the corpus's held-out split, as the paper's tables measure; "
          "no continuation, no rolling plan. What users see is the section above.", "",
         f"- Data: {m['data']}; {m['train_windows']} training windows, {m['test_windows']} held-out windows "
         f"({m['edit_windows']} with a 3-edit chain); clips are 5 s (150 frames at 30 fps)",
         f"- Sampling: {m.get('sampler', 'DDIM')}, {m['steps']} steps (edits: {m.get('edit_sampler', 'DDIM')}), "
         f"music guidance {m['music_guidance']}, text guidance "
         f"{m['text_guidance']}, edits start from the current dance noised to {m.get('edit_redraw', 1.0)} "
         f"(1 = pure noise), seed {m['seed']}", ""]
    if m["test_windows"] < 100:
        L += [f"**Small sample ({m['test_windows']} clips): FID in 72 / 32 dimensions from so few clips is "
              "dominated by estimation noise; compare rows of this run with each other, not with papers.**", ""]

    L += ["## Protocol", "",
          "- FID_k / FID_g / Div_k / Div_g: Bailando's kinetic (72-d) and geometric (32-d relational) features "
          "from joint positions, normalised by the mean/std of all ground-truth clips used (training + held-out); "
          "Fréchet distance to the held-out ground truth; Div = mean "
          "pairwise distance of the normalised features. Ground truth's FID is against the training split "
          "(the GT-vs-GT reference).",
          "- BAS (music beats): Bailando's variant, averaged over music beats, exp(-d²/(2·3²)) with d in frames "
          "to the nearest motion beat (local minimum of the σ=5 smoothed mean joint speed). This is the number "
          "papers report. BAS (motion beats): the FACT variant, averaged over motion beats.",
          "- PFC: EDGE's physical foot contact score, 10⁴ × mean over 5 s clips (y-up).",
          "- \"Ours\" is what the engine streams: the network's output after beat snapping (model/beat_snap.py: "
          "a gentle time warp that moves the dance's accents onto the beat channel's beats, the evaluation "
          "clips' true beats here, the beat tracker's live) and foot locking (model/cleanup.py). The rows "
          "without them re-run the same samples (same seeds) with those steps off.",
          f"- Edit success: every requested attribute moved the requested way by at least {m['margin']} × its "
          f"spread (standard deviation over training ground truth); preservation: fraction of the attributes the edit "
          f"promises to keep (the corpus's keep list; all others when it has none) that moved less than "
          f"{m['tolerance']} × spread. Each iteration is compared with the previous one; attributes are measured "
          "on the 5 s clip (training/corpus/attributes.py).",
          "- Alignment distance: 1 − cosine between the edit text and the (before, after) motion pair in the "
          "contrastive alignment model's space (the analogue of the paper's MEAS; lower = better). R@1/R@3: "
          "text → motion-pair retrieval among batches of 32 pairs.", ""]

    mm = m.get("model_meta", {}) or {}
    if mm.get("partial") or mm.get("tiny_random"):
        what = "a randomly initialised test model" if mm.get("tiny_random") else (
            f"a snapshot taken during training (stage {mm.get('stage', '?')}, step {mm.get('step', '?')})")
        L += [f"**These numbers are for {what}, not a finished model.**", ""]
    for note in results.get("notes", []):
        L += [f"**Note:** {note}", ""]
    L += ["## Generation (like the paper's Table 2)", ""]
    L += _table(results.get("table2", []), ("method", "Method"), QUALITY_COLS)
    gg = results.get("gt_vs_gt", {})
    L += ["", f"GT-vs-GT reference ({m['test_windows']} training-split clips vs the held-out ground truth, the "
              "same count as every other row, since FID grows as samples shrink): FID_k "
              f"{_fmt(gg.get('fid_k'), '{:.2f}')}, FID_g {_fmt(gg.get('fid_g'), '{:.2f}')}.", ""]
    _plot_table2(results.get("table2", []), gg, img_dir / "results_table2.png")
    L += [f"![Table 2 metrics]({rel(img_dir / 'results_table2.png')})", ""]

    if "table3" in results:
        L += ["## Iterative editing (like the paper's Table 3)", ""]
        L += _table(results["table3"], ("stage", "Stage"), QUALITY_COLS + EDIT_COLS)
        if results.get("table3_gt"):
            L += ["", "The corpus's own edits, scored the same way (the ceiling of these measures):", ""]
            L += _table(results["table3_gt"], ("stage", "Stage"), QUALITY_COLS + EDIT_COLS)
        _plot_iterations(results["table3"], results.get("table3_gt"), img_dir / "results_iterations.png")
        L += ["", f"![Iterations]({rel(img_dir / 'results_iterations.png')})", ""]

    if "table4" in results:
        L += ["## Editing-branch ablations (like the paper's Table 4), iteration 1", ""]
        rows = [dict(r, variant=r["variant"] + (" — **not trained**" if r.get("status") == "not trained" else ""))
                for r in results["table4"]]
        L += _table(rows, ("variant", "Variant"), QUALITY_COLS + EDIT_COLS)
        trained = [r for r in results["table4"] if r.get("status") == "ok"]
        if trained:
            L += ["", "Checkpoints: " + "; ".join(
                f"{r['variant']}: `{r.get('checkpoint') or '?'}`, {r.get('stage2_steps') or '?'} editing-stage steps"
                for r in trained) + "."]
            if len({r.get("stage2_steps") for r in trained}) > 1:
                L += ["", "**These variants were trained for different numbers of steps, so this table does not "
                          "compare them fairly.**"]
        missing = [r for r in results["table4"] if r.get("status") == "not trained"]
        if missing:
            L += ["", "Not trained (checkpoint missing): " + "; ".join(f"{r['variant']} (`{r.get('checkpoint', '')}`)"
                                                                     for r in missing) + "."]
        L += [""]

    if "alignment" in results:
        a = results["alignment"]
        tm = a.get("train_metrics", {})
        L += ["## Alignment model (MEAS analogue)", "",
              f"- Checkpoint `{Path(a['path']).name}` ({'trained in this run' if a.get('trained_now') else 'loaded'}); "
              f"training: {tm.get('train_pairs', '?')} pairs, {tm.get('steps', '?')} steps, {tm.get('seconds', '?')} s.",
              f"- Retrieval on held-out ground-truth edit pairs ({a.get('gt_pairs', 0)} pairs, batches of 32): "
              f"R@1 {_fmt(a.get('gt_r1'), '{:.2f}')}, R@3 {_fmt(a.get('gt_r3'), '{:.2f}')} "
              "(chance: 1/32 and 3/32).", ""]

    L += ["## Goals", "", "| Goal | Value | Target | Result |", "|---|---|---|---|"]
    for g in results.get("goals", []):
        res = "–" if g["pass"] is None else ("pass" if g["pass"] else "**FAIL**")
        L.append(f"| {g['goal']} | {_fmt(g['value'], g['fmt'])} | {_fmt(g['target'], g['fmt'])} | {res} |")
    failed = [g for g in results.get("goals", []) if g["pass"] is False]
    L += [""]
    if failed:
        L += ["Short of the goals: " + "; ".join(f"{g['goal']}: {_fmt(g['value'], g['fmt'])} vs "
                                                 f"{_fmt(g['target'], g['fmt'])}" for g in failed) + ".", ""]

    if example_music_beats and example_gt is not None and len(example_gt):
        _plot_beats(example_music_beats[0][1], example_gt[0], example_gen[0], img_dir / "results_beats.png")
        L += ["## Beat alignment, one held-out clip", "",
              f"![Beats]({rel(img_dir / 'results_beats.png')})", ""]
    out.write_text("\n".join(L))


LONGFORM_COLS = (("fid_k", "FID_k ↓", "{:.1f}"), ("fid_g", "FID_g ↓", "{:.1f}"), ("div_k", "Div_k ↑", "{:.2f}"),
                 ("div_g", "Div_g ↑", "{:.2f}"), ("bas", "BAS ↑", "{:.3f}"), ("pfc", "PFC ↓", "{:.3f}"),
                 ("speed_ratio", "speed ÷ data", "{:.2f}"), ("stretch_min", "5 s min", "{:.2f}"),
                 ("stretch_median", "5 s median", "{:.2f}"), ("stretch_max", "5 s max", "{:.2f}"),
                 ("seam", "seam spikes ↓", "{:.1f}"), ("breakdown_calm", "breakdowns calmer", "{:.0%}"))
SONG_COLS = (("style", "style", "{}"), ("bpm", "BPM", "{:.0f}"), ("condition", "path", "{}"),
             ("speed_ratio", "speed ÷ data", "{:.2f}"), ("stretch_min", "5 s min", "{:.2f}"),
             ("stretch_median", "5 s median", "{:.2f}"), ("stretch_max", "5 s max", "{:.2f}"),
             ("seam", "seam spikes", "{:.1f}"), ("bas", "BAS", "{:.3f}"), ("gt_bas", "BAS data", "{:.3f}"),
             ("pfc", "PFC", "{:.3f}"), ("breakdown_calm", "breakdown calmer", "{:.0%}"),
             ("gt_breakdown_calm", "data", "{:.0%}"))


def longform_section(lf: dict, rel) -> list[str]:
    """Markdown for the long-form results of liveedit.offline.longform.evaluate."""
    c = lf["config"]
    fams = list(dict.fromkeys(s["family"] for s in lf["songs"]))
    L = ["# Whole songs through the rolling path (what users get)", "",
         f"{len(lf['songs'])} held-out songs of {c['seconds']:g} s ({', '.join(fams)}), never in the training "
         "corpus, each danced whole by the code `liveedit generate` runs (beats from the live tracker, the "
         f"rolling plan with {c['context']} known frames and a {c['hop']}-frame hop, continuation, cross-fades, "
         "post-processing). `serve` feeds each window the music only up to its playhead and extrapolates the "
         f"rest from the beats heard so far, as the live engine does (known frames end {c['live_lead']} frames "
         f"after the audio heard). {c.get('sampler', 'DDIM')}, "
         f"{c['steps']} steps, music guidance {c['music_guidance']}, seed {c['seed']}. Ground truth: the corpus "
         "choreographer's dance for each song; the GT-vs-GT reference is a second dance it makes for the same song.", "",
         "- speed ÷ data: mean joint speed over the ground truth's; 5 s min/median/max: the same ratio per 5 s "
         "stretch, each against the same stretch of the ground truth. Seam spikes: 99.5th percentile of the "
         "per-frame mean joint acceleration over its median. BAS: Bailando's music-beat variant against the "
         "true beats, on 5 s clips. FID/Div over all 5 s clips of a family (per song they would be noise). "
         "Breakdowns calmer: 1 − speed in drumless breakdowns ÷ speed in the sections around them.",
         "- \"other song's music\" dances each song to the next song's music: its distribution measures "
         "(FID, Div, speed over all songs) are those of real dances by construction; what tells whether the dance "
         "follows *this* music is BAS against this song's beats and the per-stretch ratios.", ""]
    for fam in fams + ["all"]:
        rows = [dict(r, set=r["set"]) for r in lf["pooled"] if r["family"] == fam]
        if not rows:
            continue
        n = rows[0].get("songs", "?")
        L += [f"## {'All songs' if fam == 'all' else fam.capitalize()} ({n} songs, {rows[0].get('clips', '?')} clips of 5 s)", ""]
        L += _table(rows, ("set", "Dance"), LONGFORM_COLS)
        L += [""]
    L += ["## Targets", "", "| Target | Value | Target value | Result |", "|---|---|---|---|"]
    for g in lf.get("goals", []):
        res = "–" if g["pass"] is None else ("pass" if g["pass"] else "**FAIL**")
        L.append(f"| {g['goal']} | {_fmt(g['value'], g['fmt'])} | {_fmt(g['target'], g['fmt'])} | {res} |")
    L += ["", "## Per song", ""]
    L += _table(lf["rows"], ("song", "Song"), SONG_COLS)
    imgs = lf.get("images", {})
    if imgs:
        L += ["", "## Pictures", "",
              f"![Speed over time]({rel(Path(imgs['speed']))})", "",
              f"![Contact sheet]({rel(Path(imgs['contact_sheet']))})", ""]
    return L + [""]


def _meta_line(meta: dict) -> str:
    keys = ("preset", "stage", "step", "stage2_total_steps", "steps", "partial", "wall_time_s", "data",
            "edit_mode", "tiny_random")
    parts = [f"{k}={meta[k]}" for k in keys if k in meta]
    line = f"({', '.join(parts)})" if parts else ""
    return line + (f"; trained: {meta['history']}" if meta.get("history") else "")


def _relpath(p: Path, start: Path) -> str:
    import os  # noqa: PLC0415

    return os.path.relpath(p.resolve(), start.resolve())

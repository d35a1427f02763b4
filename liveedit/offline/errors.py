"""Errors of the offline workflow and the safe-write helper every offline output goes through."""
from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator


class OfflineError(Exception):
    """Bad input to an offline command (unreadable file, wrong format, bad argument).

    The CLI prints the message and exits with status 2; nothing is written.
    """


def check_output_path(out: str | Path, inputs: list[str | Path], force: bool) -> Path:
    """Refuse to write over an input file unless `force` is set; return the output path.

    Even with `force`, the write is atomic (temp file + rename), so a failed run never damages it.
    """
    out = Path(out)
    if not force:
        for inp in inputs:
            if inp is not None and Path(inp).exists() and out.exists() and out.resolve() == Path(inp).resolve():
                raise OfflineError(
                    f"output {out} is the input file; choose another -o, or pass --force to replace it "
                    "(the replacement is atomic: the old file stays intact if the run fails)"
                )
    if out.parent and not out.parent.exists():
        raise OfflineError(f"output folder {out.parent} does not exist")
    return out


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path` (same suffix); rename it onto `path` only on success.

    Usage:  with atomic_output("dance.npz") as tmp: write(tmp)
    If the body raises, the temporary file is removed and `path` is left untouched.
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent or ".")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if not tmp.exists() or tmp.stat().st_size == 0:
            raise OfflineError(f"writing {path} produced no data")
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def run_command(name: str, func: Callable[[], int | None]) -> int:
    """Run a sub-command body; bad input (OfflineError) prints a clear message and returns 2."""
    try:
        return int(func() or 0)
    except OfflineError as exc:
        print(f"liveedit {name}: error: {exc}", file=sys.stderr)
        return 2

"""Reading R ``.rda`` files (pure Python, via ``rdata``) with one clear error on failure."""

from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path
from typing import Any

from neuromod_data._files import require_file
from neuromod_data.errors import FormatError


def read_rda_objects(path: str | os.PathLike, *, what: str) -> dict[str, Any]:
    """Every object stored in an ``.rda`` file, by name (R lists → dicts, data frames → DataFrames).

    Parsing is slow in pure Python (seconds for CellChatDB), so the result is cached per file
    (path, size, modification time); callers must not modify it in place.
    """
    p = require_file(path, what).resolve()
    st = p.stat()
    return _read_cached(p, st.st_size, st.st_mtime_ns, what)


@functools.lru_cache(maxsize=4)
def _read_cached(p: Path, size: int, mtime: int, what: str) -> dict[str, Any]:
    import rdata

    try:
        with warnings.catch_warnings():
            # rdata warns before failing on non-R input; our error below says it better
            warnings.simplefilter("ignore", UserWarning)
            objects = rdata.read_rda(p)
    except Exception as exc:  # rdata raises many exception types on non-R input
        raise FormatError(f"{what} {p} is not a readable R data (.rda) file: {exc}") from exc
    if not isinstance(objects, dict) or len(objects) == 0:
        raise FormatError(f"{what} {p} holds no R objects")
    return {str(k): v for k, v in objects.items()}


def describe(obj: Any) -> str:
    """A short description of an R object for error messages."""
    if isinstance(obj, dict):
        keys = [str(k) for k in list(obj)[:5]]
        return f"a list with {len(obj)} element(s) ({', '.join(keys)}{', ...' if len(obj) > 5 else ''})"
    shape = getattr(obj, "shape", None)
    return f"a {type(obj).__name__}" + (f" of shape {shape}" if shape is not None else "")

"""The report's provenance (:mod:`neuromod_data.report`): input files' sizes and SHA-256, package
versions, the machine and the time."""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import platform
from collections.abc import Iterable
from importlib import metadata as _metadata
from typing import Any

from neuromod_data._files import require_file

_PACKAGES = (
    "neuromod",
    "numpy",
    "scipy",
    "pandas",
    "anndata",
    "scanpy",
    "h5py",
    "networkx",
    "matplotlib",
    "torch",
    "snakemake",
)


# --------------------------------------------------------------------------------- provenance
def sha256sum(path: str | os.PathLike, *, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file, read in chunks (works for files larger than memory).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x"; _ = p.write_bytes(b"abc")
    >>> sha256sum(p)[:16]
    'ba7816bf8f01cfea'
    """
    digest = hashlib.sha256()
    with open(require_file(path, "data file"), "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _version(package: str) -> str | None:
    try:
        return _metadata.version(package)
    except _metadata.PackageNotFoundError:
        return None


def provenance(data: Iterable[str | os.PathLike] = (), config: Any = None) -> dict[str, Any]:
    """Data files with size and SHA-256, package versions, platform and the configuration.

    Package versions are read from installed metadata, so nothing (torch included) is imported.
    """
    files = []
    for f in data:
        p = require_file(f, "data file")
        files.append({"path": str(f), "bytes": p.stat().st_size, "sha256": sha256sum(p)})
    versions = {name: v for name in _PACKAGES if (v := _version(name)) is not None}
    return {
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "files": files,
        "versions": versions,
        "config": config,
    }

"""Recognise a data file's format from its name and its first bytes, and open it as bytes.

Recognition looks at content, not only the suffix: a PNG renamed ``.csv`` or a page of prose is
refused with one message naming the file, instead of failing deep inside a parser.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from neuromod_data.errors import FormatError, InputFileError

__all__ = ["detect_format", "open_binary", "source_size", "peek_text", "FORMATS"]

#: format name → one line of description (what ``read`` recognises)
FORMATS = {
    "allen_smartseq": "Allen Brain Map SMART-seq matrices (*_exon-matrix.csv + genes-rows + samples-columns; folder or zip)",
    "geo_gse115746": "GEO GSE115746 layout (GSE115746_cells_exon_counts.csv + metadata CSV)",
    "explorer": "Allen Transcriptomics Explorer sample-heatmap export (<Gene>_log10_cpm columns)",
    "summary": "per-cluster summary table (Allen trimmed_means.csv / medians.csv, genes × clusters)",
    "table": "generic counts table (CSV/TSV, plain or gzip) + optional metadata table",
    "h5ad": "AnnData h5ad (optionally backed)",
    "10x_mtx": "10x Genomics matrix folder (matrix.mtx + barcodes + features/genes)",
    "10x_h5": "10x Genomics HDF5 (filtered_feature_bc_matrix.h5)",
}

_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"%PDF": "a PDF document",
    b"GIF8": "a GIF image",
    b"RDX": "an R data file (.rda/.RData)",
    b"\xfd7zXZ": "xz-compressed data (R saves .rda files so)",
    b"BZh": "bzip2-compressed data (R saves .rda files so)",
    b"\x1f\x8b": "gzip",
    b"PK\x03\x04": "zip",
    b"\x89HDF": "HDF5",
}

_ALLEN_MATRIX = re.compile(r"_(exon|intron)-matrix\.csv(\.gz)?$", re.I)
_SUMMARY = re.compile(r"(trimmed_means|medians|means)(\.csv|\.tsv)(\.gz)?$", re.I)


def _magic(p: Path) -> str | None:
    with open(p, "rb") as fh:
        head = fh.read(8)
    for sig, what in _MAGIC.items():
        if head.startswith(sig):
            return what
    return None


def source_size(path: str | os.PathLike, member: str | None = None) -> int:
    """Bytes the progress bar counts: the size on disk (a zip member's uncompressed size)."""
    if member is not None:
        with zipfile.ZipFile(path) as zf:
            # zip members report their position uncompressed: count uncompressed bytes
            return zf.getinfo(member).file_size
    return Path(path).stat().st_size


@contextlib.contextmanager
def open_binary(
    path: str | os.PathLike, *, member: str | None = None
) -> Iterator[tuple[IO[bytes], Callable[[], int]]]:
    """Open a plain, gzip or zip-member file for binary reading.

    Yields the decompressed stream and a function returning how many bytes of the file on disk have
    been consumed so far (what a progress bar should show).
    """
    p = Path(path)
    if member is not None:
        zf = zipfile.ZipFile(p)
        try:
            raw = zf.open(member)
            yield raw, raw.tell
        finally:
            zf.close()
        return
    fh = open(p, "rb")  # noqa: SIM115 - closed in the finally below, after the gzip wrapper
    try:
        if fh.read(2) == b"\x1f\x8b":
            fh.seek(0)
            gz = gzip.GzipFile(fileobj=fh, mode="rb")
            try:
                yield gz, fh.tell
            except (OSError, EOFError) as exc:
                raise FormatError(f"{p}: corrupt or truncated gzip data ({exc})") from None
            finally:
                gz.close()
        else:
            fh.seek(0)
            yield fh, fh.tell
    finally:
        fh.close()


def peek_text(path: str | os.PathLike, *, member: str | None = None, n_bytes: int = 65536) -> str:
    """The first ``n_bytes`` of a (possibly compressed) text file, decoded; raise if not text."""
    try:
        with open_binary(path, member=member) as (stream, _):
            head = stream.read(n_bytes)
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise FormatError(f"{path}: cannot be read as text ({exc})") from None
    for sig, what in _MAGIC.items():
        if head.startswith(sig) and what not in ("gzip", "zip"):
            raise FormatError(f"{path}: this is {what} (compressed), not a delimited text table")
    if b"\x00" in head:
        raise FormatError(f"{path}: binary content, not a delimited text table")
    try:
        return head.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            # a cut in the middle of a multi-byte character at the end is fine
            return head[:-4].decode("utf-8-sig")
        except UnicodeDecodeError:
            return head.decode("latin-1")


def zip_members(path: str | os.PathLike) -> list[str]:
    """Names of the files in a zip archive (clear error for a corrupt archive)."""
    try:
        with zipfile.ZipFile(path) as zf:
            return [n for n in zf.namelist() if not n.endswith("/")]
    except zipfile.BadZipFile:
        raise FormatError(f"{path}: not a valid zip archive") from None


def _looks_tabular(text: str) -> bool:
    lines = [ln for ln in text.splitlines()[:20] if ln.strip()]
    if not lines:
        return False
    for sep in ("\t", ",", ";"):
        n = [ln.count(sep) for ln in lines[:-1] or lines]
        if n and min(n) >= 1 and (max(n) - min(n)) <= max(1, 0.01 * max(n)):
            return True
    return False


def detect_format(path: str | os.PathLike) -> str:
    """Name of the format of ``path`` (a key of :data:`FORMATS`); raise one clear error otherwise.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x_trimmed_means.csv"
    >>> _ = p.write_text("feature,A,B\\nGad2,1,2\\n")
    >>> detect_format(p)
    'summary'
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise InputFileError(f"input not found: {p}")
    if p.is_dir():
        names = {c.name for c in p.iterdir()}
        if any(n.startswith("matrix.mtx") for n in names):
            return "10x_mtx"
        if any(_ALLEN_MATRIX.search(n) for n in names):
            return "allen_smartseq"
        raise FormatError(
            f"{p}: a folder that is neither a 10x matrix folder (matrix.mtx) nor an Allen SMART-seq "
            "folder (*_exon-matrix.csv)"
        )
    name = p.name.lower()
    magic = _magic(p)
    if name.endswith(".h5ad"):
        if magic != "HDF5":
            raise FormatError(f"{p}: named .h5ad but is not an HDF5 file ({magic or 'text'})")
        return "h5ad"
    if magic == "HDF5":
        import h5py

        with h5py.File(p, "r") as f:
            keys = set(f.keys())
        if "matrix" in keys or any(k in keys for k in ("mm10", "GRCm38", "hg19", "GRCh38")):
            return "10x_h5"
        if "X" in keys and "obs" in keys:
            return "h5ad"
        raise FormatError(
            f"{p}: an HDF5 file that is neither h5ad nor 10x (groups: {sorted(keys)})"
        )
    if magic == "zip":
        members = zip_members(p)
        if any(_ALLEN_MATRIX.search(m) for m in members):
            return "allen_smartseq"
        raise FormatError(
            f"{p}: a zip archive without an Allen *_exon-matrix.csv inside (holds: "
            f"{', '.join(members[:5])}{' ...' if len(members) > 5 else ''})"
        )
    if magic is not None and magic != "gzip":
        raise FormatError(f"{p}: this is {magic}, not a supported single-cell data file")
    if ".mtx" in name:
        return "10x_mtx"
    if _ALLEN_MATRIX.search(name):
        return "allen_smartseq"
    text = peek_text(p)
    if not _looks_tabular(text):
        raise FormatError(
            f"{p}: not a delimited table (no consistent tab, comma or semicolon columns in its "
            "first lines) and not any other supported format: " + "; ".join(FORMATS.values())
        )
    header = text.splitlines()[0] if text else ""
    if "_log10_cpm" in header:
        return "explorer"
    if "gse115746" in name:
        return "geo_gse115746"
    if _SUMMARY.search(name):
        return "summary"
    return "table"

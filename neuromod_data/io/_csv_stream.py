"""Stream a large delimited numeric matrix (first column = row names) into a sparse CSR matrix.

Single-cell count tables are mostly zeros written as ``0,``. Parsing every field to float64, as a
general CSV parser does, costs time and a dense matrix worth of memory. Here the file is read in
byte chunks cut at line ends; in each chunk numpy finds the separators, skips the fields that are
exactly ``0`` and turns only the remaining digit runs into integers. Memory therefore stays at one
chunk plus the nonzeros. The vectorised numpy version does this for ordinary files; for files of
gigabytes, where numba is importable (a dependency of the package), one compiled pass over the bytes
does it about three times faster, at a fixed ~1 s / ~130 MB to load the compiled code. A chunk
holding anything but plain non-negative integers (decimals,
exponents, signs, quotes, ``NA``) is handed to pandas' C parser instead, so general numeric tables
still read correctly, only slower.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from neuromod_data.errors import DataValueError, FormatError
from neuromod_data.io._detect import open_binary, source_size

__all__ = ["DelimitedMatrix", "read_delimited_matrix", "sniff_delimiter"]

_NL = 10
_CR = 13
_ZERO = 48
# more digits than this cannot be held exactly in int64 arithmetic below: let pandas parse them
_MAX_DIGITS = 15
#: files smaller than this (uncompressed, estimated) use the numpy path: loading numba's compiled
#: code costs ~1 s and ~130 MB, which only pays off on files of gigabytes (Tasic VISp: 1.5 GB)
_COMPILED_MIN_BYTES = 1 << 30


def _scan_ints(
    arr, sep, n_cols, out_col, out_val, name_start, name_end, counts
):  # pragma: no cover
    """One pass over a chunk of lines ``name<sep>int<sep>...int\\n``; compiled by numba.

    Writes the nonzero (column, value) pairs, the byte span of each row name and the nonzeros per
    line. Returns (lines, nonzeros, status); status != 0: something other than plain
    non-negative integers in the right number of fields (the caller falls back to pandas).
    """
    n = arr.size
    i = 0
    line = 0
    nnz = 0
    while i < n:
        name_start[line] = i
        if arr[i] == 34:  # quoted row name: a separator inside quotes is part of the name
            i += 1
            while i < n and arr[i] != 34:
                i += 1
            i += 1
        while i < n and arr[i] != sep and arr[i] != 10:
            i += 1
        if i >= n or arr[i] == 10:
            return line, nnz, 1
        name_end[line] = i
        i += 1
        col = 0
        first = nnz
        while True:
            v = 0
            nd = 0
            while i < n:
                c = arr[i]
                if c == sep or c == 10:
                    break
                d = np.int64(c) - 48
                if d < 0 or d > 9:
                    return line, nnz, 2
                v = v * 10 + d
                nd += 1
                i += 1
            if nd == 0 or nd > 15 or i >= n:
                return line, nnz, 3
            if col >= n_cols:
                return line, nnz, 4
            if v != 0:
                if nnz >= out_col.shape[0]:
                    return line, nnz, 5  # output full: the caller grows it and parses again
                out_col[nnz] = col
                out_val[nnz] = v
                nnz += 1
            col += 1
            if arr[i] == 10:
                i += 1
                break
            i += 1
        if col != n_cols:
            return line, nnz, 4
        counts[line] = nnz - first
        line += 1
    return line, nnz, 0


def _compile():
    if os.environ.get("NEUROMOD_NUMBA", "1") == "0":
        return None
    try:
        from numba import njit
    except ImportError:  # pragma: no cover - numba is a dependency; a broken install lacks it
        return None
    return njit(cache=True, nogil=True)(_scan_ints)


_KERNEL = None
_KERNEL_TRIED = False


def _kernel():
    global _KERNEL, _KERNEL_TRIED
    if not _KERNEL_TRIED:
        _KERNEL, _KERNEL_TRIED = _compile(), True
    return _KERNEL


class _Store:
    """The nonzeros of all chunks in one pair of growing arrays.

    Per-chunk pieces concatenated at the end would need twice the memory and fragment the heap
    (freed small pieces are rarely returned to the system). Capacity is instead projected from
    the density seen so far, so the arrays are grown at most a few times; the compiled parser
    writes straight into them.
    """

    def __init__(self):
        self.n = 0
        self.indices = np.empty(0, np.int32)
        self.data = np.empty(0, np.float32)
        self.names: list[str] = []
        self.counts: list[np.ndarray] = []
        self._lines = np.empty(0, np.int64)

    def reserve(self, need: int, projected: float) -> None:
        if need <= self.indices.size:
            return
        cap = max(need, int(projected * 1.08) + 1024)
        for attr in ("indices", "data"):
            old = getattr(self, attr)
            new = np.empty(cap, old.dtype)
            new[: self.n] = old[: self.n]
            setattr(self, attr, new)

    def line_buffers(self, n: int):
        if self._lines.size < 3 * n:
            self._lines = np.empty(3 * n, np.int64)
        return self._lines[:n], self._lines[n : 2 * n], self._lines[2 * n : 3 * n]

    def append(self, names, counts, idx, vals, projected: float) -> None:
        k = len(idx)
        self.reserve(self.n + k, projected)
        self.indices[self.n : self.n + k] = idx
        self.data[self.n : self.n + k] = vals
        self.n += k
        self.names.extend(names)
        self.counts.append(np.asarray(counts, dtype=np.int64))


def _fast_chunk_compiled(
    kernel, arr, buf: bytes, n_cols: int, sep_byte: int, store: _Store, projected: float
):
    """Parse with the compiled kernel straight into ``store``; False if the chunk needs pandas."""
    worst = arr.size // 2 + 2  # a field takes at least 2 bytes
    if store.n == 0:
        store.reserve(worst, projected)
    ns, ne, cnt = store.line_buffers(arr.size // max(1, 2 * n_cols) + 2)
    while True:
        n_lines, nnz, status = kernel(
            arr, sep_byte, n_cols, store.indices[store.n :], store.data[store.n :], ns, ne, cnt
        )
        if status != 5:
            break
        store.reserve(store.n + worst, projected)
    if status != 0:
        return False
    store.names.extend(
        _unquote(buf[a:b].decode("utf-8", "replace"))
        for a, b in zip(ns[:n_lines].tolist(), ne[:n_lines].tolist())
    )
    store.counts.append(cnt[:n_lines].copy())
    store.n += int(nnz)
    return True


@dataclass
class DelimitedMatrix:
    """A matrix read as laid out in its file: ``X`` is rows × columns (float32 CSR)."""

    X: sp.csr_matrix
    row_names: list[str]
    col_names: list[str]
    index_header: str
    n_fast_chunks: int = 0
    n_fallback_chunks: int = 0


def sniff_delimiter(line: str) -> str:
    """The most frequent of tab, comma and semicolon in ``line`` (comma if none occurs).

    Examples
    --------
    >>> sniff_delimiter("Number\\tCell\\tRNA type")
    '\\t'
    >>> sniff_delimiter('"",a,b')
    ','
    """
    counts = {d: line.count(d) for d in ("\t", ",", ";")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _unquote(s: str) -> str:
    s = s.strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"'":
        return s[1:-1]
    return s


def _parse_header(line: str, sep: str) -> list[str]:
    return [_unquote(f) for f in next(csv.reader([line], delimiter=sep))]


def _fast_chunk(arr: np.ndarray, buf: bytes, n_cols: int, sep_byte: int):
    """Parse a chunk of plain non-negative integers; ``None`` if the chunk needs the slow path.

    Returns (row names, nnz per row, column indices, values).
    """
    nl = arr == _NL
    n_lines = int(np.count_nonzero(nl))
    is_sep = arr == sep_byte
    is_sep |= nl
    pos = np.flatnonzero(is_sep)
    width = n_cols + 1
    if pos.size != n_lines * width:
        return None
    pos2 = pos.reshape(n_lines, width)
    if not np.all(arr[pos2[:, -1]] == _NL):
        return None
    field_start = pos2[:, :-1] + 1  # start of value field j (j = 0 .. n_cols-1)
    lengths = pos2[:, 1:] - field_start
    first = arr[field_start]
    nz = np.flatnonzero((lengths != 1) | (first != _ZERO))
    row = nz // n_cols
    col = nz - row * n_cols
    start = field_start.ravel()[nz]
    length = lengths.ravel()[nz]
    if length.size:
        if length.min() < 1 or length.max() > _MAX_DIGITS:
            return None  # empty field (missing value) or huge number
        value = np.zeros(length.size, dtype=np.int64)
        for j in range(int(length.max())):
            live = length > j
            if live.all():
                d = arr[start + j].astype(np.int64) - _ZERO
                if d.min() < 0 or d.max() > 9:
                    return None
                value *= 10
                value += d
            else:
                idx = np.flatnonzero(live)
                d = arr[start[idx] + j].astype(np.int64) - _ZERO
                if d.min() < 0 or d.max() > 9:
                    return None
                value[idx] = value[idx] * 10 + d
        keep = value != 0
        if not keep.all():
            row, col, value = row[keep], col[keep], value[keep]
    else:
        value = np.zeros(0, dtype=np.int64)
    line_start = np.empty(n_lines, dtype=np.int64)
    line_start[0] = 0
    line_start[1:] = pos2[:-1, -1] + 1
    name_end = pos2[:, 0]
    names = [_unquote(buf[a:b].decode("utf-8", "replace")) for a, b in zip(line_start, name_end)]
    counts = np.bincount(row, minlength=n_lines)
    return names, counts, col.astype(np.int32), value.astype(np.float32)


def _slow_chunk(
    buf: bytes,
    n_cols: int,
    sep: str,
    where: str,
    line0: int,
    col_names: list[str] = (),
    kinds: tuple[str, str] = ("row", "column"),
):
    """Parse a chunk with pandas' C parser (any numeric format); validate values, name culprits."""
    try:
        df = pd.read_csv(
            io.BytesIO(buf),
            sep=sep,
            header=None,
            index_col=0,
            dtype={0: str},
            na_values=["", "NA", "NaN", "nan"],
            keep_default_na=False,
        )
    except (ValueError, pd.errors.ParserError) as exc:
        msg = str(exc).splitlines()[0]
        raise FormatError(f"{where}: cannot parse lines near {line0 + 1}: {msg}") from None
    if df.shape[1] != n_cols:
        raise FormatError(
            f"{where}: lines near {line0 + 1} have {df.shape[1]} values, the header names {n_cols} "
            "columns"
        )
    try:
        vals = df.to_numpy(dtype=np.float64)
    except (ValueError, TypeError):
        bad = [c for c in df.columns if df[c].dtype == object]
        cell = bad[0]
        r = int(pd.to_numeric(df[cell], errors="coerce").isna().to_numpy().argmax())
        name = col_names[int(cell) - 1] if 0 < int(cell) <= len(col_names) else int(cell)
        raise DataValueError(
            f"{where}: non-numeric value {df[cell].iloc[r]!r} in {kinds[0]} {df.index[r]!r}, "
            f"{kinds[1]} {name!r} (line {line0 + 2 + r}); a count table holds numbers only — if "
            "this is a cell annotation, give it as the metadata table (--metadata / metadata=)"
        ) from None
    names = [str(x) for x in df.index]
    m = sp.csr_matrix(vals.astype(np.float32))
    m.eliminate_zeros()
    return names, vals, m


def read_delimited_matrix(
    path: str | os.PathLike,
    *,
    member: str | None = None,
    sep: str | None = None,
    progress: bool = True,
    desc: str | None = None,
    chunk_bytes: int | None = None,
    kinds: tuple[str, str] = ("row", "column"),
) -> DelimitedMatrix:
    """Read a numeric table whose first column names the rows into float32 CSR, chunk by chunk.

    Parameters
    ----------
    path
        A plain, gzip-compressed or zip file (``member`` names the file inside a zip).
    sep
        Field delimiter; sniffed from the header line if ``None``.
    progress
        Show a tqdm bar counting the bytes read from disk.
    kinds
        What rows and columns are (e.g. ``("gene", "cell")``), for error messages.
    chunk_bytes
        Bytes parsed at once (default 1 MB, 4 MB on the compiled path); memory use is a small
        multiple of this plus the nonzeros.

    Returns
    -------
    DelimitedMatrix with ``X`` laid out as in the file (rows × columns).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.csv"
    >>> _ = p.write_text('"",c1,c2\\ng1,0,3\\ng2,5,0\\n')
    >>> m = read_delimited_matrix(p, progress=False)
    >>> m.X.toarray().tolist(), m.row_names, m.col_names
    ([[0.0, 3.0], [5.0, 0.0]], ['g1', 'g2'], ['c1', 'c2'])
    """
    from tqdm.auto import tqdm

    where = f"{path}" + (f" [{member}]" if member else "")
    total = source_size(path, member)
    store = _Store()
    n_fast = n_slow = 0
    use_fast = True
    gz = str(member or path).lower().endswith(".gz")
    kernel = _kernel() if total * (5 if gz else 1) >= _COMPILED_MIN_BYTES else None
    if chunk_bytes is None:
        # the numpy path's temporaries are ~25 bytes per input byte: keep its chunks small
        chunk_bytes = (4 << 20) if kernel is not None else (1 << 20)
    with open_binary(path, member=member) as (stream, tell):
        header_raw = stream.readline()
        if not header_raw:
            raise FormatError(f"{where}: the file is empty")
        header = header_raw.decode("utf-8-sig", "replace").rstrip("\r\n")
        if sep is None:
            sep = sniff_delimiter(header)
        fields = _parse_header(header, sep)
        if len(fields) < 2:
            raise FormatError(
                f"{where}: the header has a single field; expected a row-name column and one column "
                f"per sample (delimiter {sep!r})"
            )
        sep_byte = ord(sep)
        bar = tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            disable=not progress,
            desc=desc or os.path.basename(str(member or path)),
            leave=False,
            delay=1.0,  # only reads that take a while show a bar
        )
        done = tell()
        bar.update(done)
        carry = b""
        first_chunk = True
        n_cols = None
        index_header = ""
        line0 = 0
        text_bytes = 0  # decompressed bytes parsed so far, to project the final number of nonzeros
        while True:
            block = stream.read(chunk_bytes)
            at_end = not block
            buf = carry + block
            if at_end:
                if not buf.strip():
                    break
                if not buf.endswith(b"\n"):
                    buf += b"\n"
                cut = len(buf)
            else:
                cut = buf.rfind(b"\n") + 1
                if cut == 0:
                    carry = buf
                    continue
            chunk, carry = buf[:cut], buf[cut:]
            if b"\r" in chunk:
                chunk = chunk.replace(b"\r", b"")
            if first_chunk:
                # R's write.csv-style headers lack the row-name field: compare with line 2
                first_line = chunk[: chunk.find(b"\n")].decode("utf-8", "replace")
                n_first = len(next(csv.reader([first_line], delimiter=sep)))
                if n_first == len(fields) + 1:
                    index_header, col_names = "", fields
                elif n_first == len(fields):
                    index_header, col_names = fields[0], fields[1:]
                else:
                    raise FormatError(
                        f"{where}: the header has {len(fields)} fields but the first data line has "
                        f"{n_first} (delimiter {sep!r})"
                    )
                n_cols = len(col_names)
                first_chunk = False
            prev_bytes = text_bytes
            text_bytes += len(chunk)
            now = tell()
            # nonzeros expected in the whole file, from the density so far and the share of the
            # file on disk read so far (so gzip is projected through its compression ratio)
            density = store.n / prev_bytes if prev_bytes else 0.0
            projected = density * text_bytes * total / max(now, 1)
            n_before = len(store.names)
            ok = False
            if use_fast:
                arr = np.frombuffer(chunk, dtype=np.uint8)
                if kernel is not None:
                    ok = _fast_chunk_compiled(
                        kernel, arr, chunk, n_cols, sep_byte, store, projected
                    )
                else:
                    parsed = _fast_chunk(arr, chunk, n_cols, sep_byte)
                    if parsed is not None:
                        store.append(*parsed, projected)
                        ok = True
            if ok:
                n_fast += 1
            else:
                use_fast = False  # a table of decimals stays one: stop trying the fast path
                names, dense, m = _slow_chunk(chunk, n_cols, sep, where, line0, col_names, kinds)
                _check_values(dense, names, col_names, where, kinds)
                store.append(names, np.diff(m.indptr), m.indices, m.data, projected)
                n_slow += 1
            names = store.names[n_before:]
            line0 += len(names)
            bar.update(now - done)
            done = now
            if at_end:
                break
        bar.close()
    if n_cols is None:
        raise FormatError(f"{where}: the file has a header but no data lines")
    counts = np.concatenate(store.counts) if store.counts else np.zeros(0, np.int64)
    indptr = np.zeros(len(store.names) + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    if indptr[-1] < np.iinfo(np.int32).max:
        indptr = indptr.astype(np.int32)
    indices, data = store.indices[: store.n], store.data[: store.n]
    if store.indices.size > 1.25 * store.n + (1 << 20):  # projection overshot: give the rest back
        indices, data = indices.copy(), data.copy()
    X = sp.csr_matrix((data, indices, indptr), shape=(len(store.names), n_cols))
    return DelimitedMatrix(X, store.names, list(col_names), index_header, n_fast, n_slow)


def _check_values(
    dense: np.ndarray, rows: list[str], cols: list[str], where: str, kinds=("row", "column")
) -> None:
    """Negative or non-finite values: one error naming the row, column and how many there are."""
    bad_nf = ~np.isfinite(dense)
    if bad_nf.any():
        r, c = np.argwhere(bad_nf)[0]
        raise DataValueError(
            f"{where}: {int(bad_nf.sum())} non-finite or missing value(s), first in {kinds[0]} {rows[r]!r}, "
            f"{kinds[1]} {cols[c]!r} ({dense[r, c]})"
        )
    neg = dense < 0
    if neg.any():
        r, c = np.argwhere(neg)[0]
        raise DataValueError(
            f"{where}: {int(neg.sum())} negative count(s), first in {kinds[0]} {rows[r]!r}, "
            f"{kinds[1]} {cols[c]!r} ({dense[r, c]:g})"
        )

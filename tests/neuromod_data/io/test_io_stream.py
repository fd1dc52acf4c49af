"""The chunked CSV → sparse reader against pandas' dense parse of the same text."""

from __future__ import annotations

import gzip
import zipfile

import numpy as np
import pandas as pd
import pytest

from neuromod_data.io import _csv_stream
from neuromod_data.io._csv_stream import read_delimited_matrix, sniff_delimiter


@pytest.fixture(params=["compiled", "numpy"], autouse=True)
def parser_path(request, monkeypatch):
    """Run every test on both fast paths: the numba kernel and the pure-numpy one."""
    if request.param == "numpy":
        monkeypatch.setattr(_csv_stream, "_KERNEL", None)
        monkeypatch.setattr(_csv_stream, "_KERNEL_TRIED", True)
    elif _csv_stream._kernel() is None:
        pytest.skip("numba not installed")
    else:
        monkeypatch.setattr(_csv_stream, "_COMPILED_MIN_BYTES", 0)  # test files are tiny
    return request.param


def _write(path, M, rows, cols, *, sep=",", quote=True, header_blank=True, newline="\n"):
    q = (lambda s: f'"{s}"') if quote else (lambda s: s)
    head = ([q("")] if header_blank else []) + [q(c) for c in cols]
    lines = [sep.join(head)] + [sep.join([q(r)] + [str(v) for v in row]) for r, row in zip(rows, M)]
    path.write_text(newline.join(lines) + newline)
    return path


def _random(seed=0, n_rows=37, n_cols=23, density=0.2):
    rng = np.random.default_rng(seed)
    M = rng.integers(1, 5000, (n_rows, n_cols)) * (rng.random((n_rows, n_cols)) < density)
    M[0, :] = 0  # an all-zero row
    M[:, 3] = 0  # an all-zero column
    M[-1, -1] = 123456789  # wide value in the last field of the file
    return M, [f"g{i}" for i in range(n_rows)], [f"c{i}" for i in range(n_cols)]


@pytest.mark.parametrize("chunk_bytes", [64, 333, 1 << 20])
def test_matches_pandas_across_chunk_sizes(tmp_path, chunk_bytes):
    M, rows, cols = _random()
    p = _write(tmp_path / "m.csv", M, rows, cols)
    m = read_delimited_matrix(p, progress=False, chunk_bytes=chunk_bytes)
    ref = pd.read_csv(p, index_col=0)
    np.testing.assert_array_equal(m.X.toarray(), ref.to_numpy(np.float32))
    assert m.row_names == list(ref.index) and m.col_names == list(ref.columns)
    assert m.X.dtype == np.float32 and m.X.format == "csr"
    assert m.X.nnz == np.count_nonzero(M)  # explicit zeros never stored
    assert m.n_fallback_chunks == 0 and m.n_fast_chunks >= 1


def test_gzip_zip_tab_crlf_and_r_style_header(tmp_path):
    M, rows, cols = _random(seed=1)
    ref = M.astype(np.float32)
    plain = _write(
        tmp_path / "a.tsv", M, rows, cols, sep="\t", quote=False, header_blank=False, newline="\r\n"
    )
    gz = tmp_path / "a.tsv.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    zp = tmp_path / "a.zip"
    with zipfile.ZipFile(zp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.write(plain, "inner/a.tsv")
    for kw in ({"path": plain}, {"path": gz}, {"path": zp, "member": "inner/a.tsv"}):
        m = read_delimited_matrix(progress=False, chunk_bytes=200, **kw)
        np.testing.assert_array_equal(m.X.toarray(), ref)
        assert m.col_names == cols and m.row_names == rows


def test_decimals_fall_back_to_pandas_exactly(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text(",a,b,c\nx,0,1.5,0\ny,2e3,0.0,00\nz,0,0,7\n")
    m = read_delimited_matrix(p, progress=False)
    np.testing.assert_allclose(m.X.toarray(), [[0, 1.5, 0], [2000, 0, 0], [0, 0, 7]])
    assert m.X.nnz == 3 and m.n_fallback_chunks >= 1


def test_leading_zeros_and_no_final_newline(tmp_path):
    p = tmp_path / "z.csv"
    p.write_bytes(b",a,b\nx,00,007\ny,10,0")
    m = read_delimited_matrix(p, progress=False)
    np.testing.assert_array_equal(m.X.toarray(), [[0, 7], [10, 0]])
    assert m.X.nnz == 2


def test_quoted_names_with_separator_inside(tmp_path):
    p = tmp_path / "q.csv"
    p.write_text('"",a,b\n"Gene, one",0,3\n"x",1,0\n')
    m = read_delimited_matrix(p, progress=False)
    assert m.row_names == ["Gene, one", "x"]
    np.testing.assert_array_equal(m.X.toarray(), [[0, 3], [1, 0]])


def test_output_grows_when_later_rows_are_denser(tmp_path):
    """Capacity is projected from the density so far: a sparse start must not lose later values."""
    rng = np.random.default_rng(5)
    M = np.zeros((120, 60), dtype=np.int64)
    M[:40, 0] = 1
    M[40:] = rng.integers(1, 99, (80, 60))
    p = _write(tmp_path / "g.csv", M, [f"g{i}" for i in range(120)], [f"c{i}" for i in range(60)])
    m = read_delimited_matrix(p, progress=False, chunk_bytes=256)
    np.testing.assert_array_equal(m.X.toarray(), M)
    assert m.X.nnz == np.count_nonzero(M)


def test_sniff():
    assert sniff_delimiter("a\tb\tc,d") == "\t"
    assert sniff_delimiter("a;b;c") == ";"
    assert sniff_delimiter("abc") == ","

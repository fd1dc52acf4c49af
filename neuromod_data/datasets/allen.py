"""Download the real Allen files (pooch: URL + SHA-256 registry, cache, resumable) and read them.

Downloads land in ``cache_dir``, else ``$NEUROMOD_CACHE``, else pooch's per-user cache
(``pooch.os_cache("neuromod")``), never in the repository. ``base_url`` (or ``$NEUROMOD_DATA_URL``)
replaces every source with ``<base_url>/<file name>`` — for a mirror, or a local server in tests.
An interrupted download keeps its ``.part`` file and continues from there (HTTP range request).
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path

import anndata as ad

from neuromod_data.datasets._registry import REGISTRY, RemoteFile
from neuromod_data.errors import DataValueError, InputFileError, NeuromodWarning, OutputError
from neuromod_data.io._common import warn

__all__ = [
    "resolve_cache_dir",
    "fetch_file",
    "tasic2018",
    "tasic2018_explorer",
    "m1_patchseq",
    "gse115746",
    "REGISTRY",
]

log = logging.getLogger("neuromod.datasets")

_OBSERVED = "observed_sha256.json"


def resolve_cache_dir(path: str | os.PathLike | None = None) -> Path:
    """The download cache: ``path``, else ``$NEUROMOD_CACHE``, else ``pooch.os_cache("neuromod")``."""
    import pooch

    if path is None:
        path = os.environ.get("NEUROMOD_CACHE") or pooch.os_cache("neuromod")
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise OutputError(f"download cache {p} is not a folder")
    p.mkdir(parents=True, exist_ok=True)
    return p


class _ResumableDownloader:
    """pooch downloader that appends to ``<fname>.part`` with an HTTP Range request after a break."""

    def __init__(self, part: Path, progress: bool, timeout: float = 60.0):
        self.part = part
        self.progress = progress
        self.timeout = timeout

    def __call__(self, url: str, output_file, pooch_obj, check_only: bool = False):  # noqa: ARG002
        import requests
        from tqdm.auto import tqdm

        if check_only:
            return True
        have = self.part.stat().st_size if self.part.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        with requests.get(url, headers=headers, stream=True, timeout=self.timeout) as r:
            if have and r.status_code == 416:  # the part file is already complete
                mode = None
            elif have and r.status_code == 206:
                mode = "ab"
                log.info("resuming %s at byte %d", url, have)
            else:
                r.raise_for_status()
                mode, have = "wb", 0
            if mode is not None:
                size = r.headers.get("Content-Length")
                total = have + int(size) if size is not None else None
                with (
                    open(self.part, mode) as fh,
                    tqdm(
                        total=total,
                        initial=have,
                        unit="B",
                        unit_scale=True,
                        disable=not self.progress,
                        desc=self.part.name[: -len(".part")],
                        leave=False,
                    ) as bar,
                ):
                    for block in r.iter_content(chunk_size=1 << 20):
                        fh.write(block)
                        bar.update(len(block))
        out = output_file if isinstance(output_file, (str, os.PathLike)) else output_file.name
        os.replace(self.part, out)


def _observed(cache: Path) -> dict:
    """The SHA-256 values recorded at first download; a damaged record stops everything, since
    starting it afresh would accept a swapped file as if it were downloaded for the first time."""
    f = cache / _OBSERVED
    if not f.exists():
        return {}
    try:
        record = json.loads(f.read_text())
    except (OSError, ValueError) as exc:
        problem = f"cannot be read ({exc})"
    else:
        if isinstance(record, dict) and all(
            isinstance(k, str) and isinstance(v, str) and len(v) == 64 for k, v in record.items()
        ):
            return record
        problem = "is not a mapping of file name to SHA-256"
    raise DataValueError(
        f"{f} {problem}; it holds the checksums recorded at first download and is not reset "
        "silently: restore it, or delete it together with the cached files it lists to download "
        "them again"
    )


def _record_observed(cache: Path, fname: str, digest: str) -> None:
    from neuromod_data._files import atomic_path

    obs = _observed(cache)
    obs[fname] = digest
    with atomic_path(cache / _OBSERVED) as tmp:
        tmp.write_text(json.dumps(obs, indent=1, sort_keys=True))


def fetch_file(
    name: str | RemoteFile,
    *,
    cache_dir: str | os.PathLike | None = None,
    base_url: str | None = None,
    progress: bool = True,
) -> Path:
    """Download one registry file (once; later calls use the cache) and verify its SHA-256.

    Parameters
    ----------
    name
        A key of :data:`REGISTRY` (e.g. ``"tasic2018_VISp"``) or a :class:`RemoteFile`.
    cache_dir
        Where downloads are kept (see :func:`resolve_cache_dir`).
    base_url
        Fetch ``<base_url>/<fname>`` instead of the registry URL (also ``$NEUROMOD_DATA_URL``).

    Examples
    --------
    >>> from neuromod_data.datasets.allen import REGISTRY
    >>> REGISTRY["m1_patchseq_exon"].fname
    'm1_patchseq_phys_temp_exon_counts.csv.gz'
    """
    import pooch

    if isinstance(name, RemoteFile):
        entry, key = name, name.fname
    else:
        if name not in REGISTRY:
            raise InputFileError(f"unknown dataset file {name!r}; known: {', '.join(REGISTRY)}")
        entry, key = REGISTRY[name], name
    cache = resolve_cache_dir(cache_dir)
    base = base_url or os.environ.get("NEUROMOD_DATA_URL")
    url = f"{base.rstrip('/')}/{entry.fname}" if base else entry.url
    target = cache / entry.fname
    known = entry.sha256
    recorded = _observed(cache).get(entry.fname)
    if known is None and recorded is not None:
        known = recorded  # trust on first use: the file must stay what it was when first fetched
    if target.is_file() and known is not None:
        digest = pooch.file_hash(str(target))
        if digest != known:
            raise DataValueError(
                f"cached {target} has sha256 {digest}, expected {known} "
                f"({'registry' if entry.sha256 else 'recorded at first download'}); delete it to download again"
            )
        return target
    downloader = _ResumableDownloader(cache / f"{entry.fname}.part", progress)
    try:
        path = pooch.retrieve(
            url,
            known_hash=f"sha256:{known}" if known else None,
            fname=entry.fname,
            path=cache,
            downloader=downloader,
            progressbar=False,
        )
    except ValueError as exc:
        if "hash" in str(exc).lower():
            raise DataValueError(
                f"download of {key} from {url} failed its checksum: {exc}. The file was not kept; if "
                "the source changed on purpose, update the registry"
            ) from None
        raise
    except Exception as exc:  # requests' errors: name the URL and say what to do
        if type(exc).__module__.startswith(("requests", "urllib3")):
            raise InputFileError(
                f"cannot download {key} from {url}: {exc}. Check the connection (a partial download "
                f"is kept in {cache} and resumes), or set base_url / $NEUROMOD_DATA_URL to a mirror"
            ) from None
        raise
    path = Path(path)
    if entry.sha256 is None and recorded is None:
        digest = pooch.file_hash(str(path))
        _record_observed(cache, entry.fname, digest)
        warn(
            f"{entry.fname}: no published sha256 in the registry; recorded the downloaded file's sha256 "
            f"{digest} in {cache / _OBSERVED} (later uses are checked against it)"
        )
    return path


def tasic2018(
    region: str = "VISp",
    *,
    cache_dir: str | os.PathLike | None = None,
    intron: bool = False,
    progress: bool = True,
    base_url: str | None = None,
) -> ad.AnnData:
    """Tasic et al. 2018 SMART-seq counts of mouse VISp (15,413 cells) or ALM, with Allen labels.

    Downloads the Allen zip (≈300 MB for VISp) once and streams its exon (+ intron) matrix into
    float32 CSR counts, cells × genes (45,768 gene symbols), with ``class_label``,
    ``subclass_label``, ``cluster_label`` from the samples table.

    Parameters
    ----------
    region
        ``"VISp"`` or ``"ALM"``.
    intron
        Add intronic reads to the exonic ones.

    Examples
    --------
    >>> adata = tasic2018("VISp")  # doctest: +SKIP
    >>> adata.obs["subclass_label"].value_counts().head(3)  # doctest: +SKIP
    """
    from neuromod_data.io import read_allen_smartseq

    key = f"tasic2018_{region}"
    if key not in REGISTRY:
        raise InputFileError(f"tasic2018: unknown region {region!r}; choose VISp or ALM")
    path = fetch_file(key, cache_dir=cache_dir, base_url=base_url, progress=progress)
    adata = read_allen_smartseq(path, intron=intron, make_unique=True, progress=progress)
    adata.uns["neuromod"]["dataset"] = key
    return adata


def tasic2018_explorer(
    *,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
    base_url: str | None = None,
) -> ad.AnnData:
    """The Explorer export of Tasic 2018 (23,822 cells × 7 genes, CPM in ``.X``, 133 clusters)."""
    from neuromod_data.io import read_explorer

    path = fetch_file(
        "tasic2018_explorer", cache_dir=cache_dir, base_url=base_url, progress=progress
    )
    adata = read_explorer(path)
    adata.uns["neuromod"]["dataset"] = "tasic2018_explorer"
    return adata


def m1_patchseq(
    *,
    intron: bool = True,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
    base_url: str | None = None,
) -> ad.AnnData:
    """Scala et al. 2021 M1 Patch-seq: 185 neurons × 30,749 genes with ``RNA family``/``RNA type``.

    ``cluster_label`` is ``RNA type`` (Yao 2021 MOp types); ``subclass_label`` and ``class_label``
    come from the Yao 2020 cluster annotation where the names match (cells without a type get none).
    """
    from neuromod_data.io import add_taxonomy, read_counts_table

    kw = {"cache_dir": cache_dir, "base_url": base_url, "progress": progress}
    exon = fetch_file("m1_patchseq_exon", **kw)
    if intron:
        fetch_file("m1_patchseq_intron", **kw)
    meta = fetch_file("m1_patchseq_meta", **kw)
    ann = fetch_file("yao2020_annotation", **kw)
    adata = read_counts_table(
        exon,
        metadata=meta,
        join="Cell",
        intron=bool(intron),
        progress=progress,
        orientation="genes_x_cells",
    )
    adata.obs["cluster_label"] = adata.obs["RNA type"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeuromodWarning)  # 8 low-quality cells have no type
        add_taxonomy(adata, ann, key="cluster_label")
    adata.uns["neuromod"]["dataset"] = "m1_patchseq"
    return adata


def gse115746(
    *,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
    base_url: str | None = None,
) -> ad.AnnData:
    """GEO GSE115746 (Tasic 2018 VISp + ALM exon counts) with its metadata table."""
    from neuromod_data.io import read_gse115746

    kw = {"cache_dir": cache_dir, "base_url": base_url, "progress": progress}
    counts = fetch_file("gse115746_counts", **kw)
    meta = fetch_file("gse115746_metadata", **kw)
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore", NeuromodWarning
        )  # metadata covers more cells than the counts
        adata = read_gse115746(counts, metadata=meta, progress=progress)
    adata.uns["neuromod"]["dataset"] = "gse115746"
    return adata

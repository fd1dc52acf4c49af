"""Datasets: the synthetic ``toy_cortex`` and (later) downloaders of the real Allen files."""

from __future__ import annotations

from neuromod_data.datasets.allen import (
    REGISTRY,
    fetch_file,
    gse115746,
    m1_patchseq,
    resolve_cache_dir,
    tasic2018,
    tasic2018_explorer,
)
from neuromod_data.datasets.toy import toy_cortex, toy_cortex_profile

__all__ = [
    "toy_cortex",
    "toy_cortex_profile",
    "REGISTRY",
    "fetch_file",
    "gse115746",
    "m1_patchseq",
    "resolve_cache_dir",
    "tasic2018",
    "tasic2018_explorer",
]

"""Datasets: the synthetic ``toy_cortex`` and (later) downloaders of the real Allen files."""

from __future__ import annotations

from neuromod_data.datasets.toy import toy_cortex, toy_cortex_profile

__all__ = ["toy_cortex", "toy_cortex_profile"]

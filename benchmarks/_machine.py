"""The machine a benchmark ran on, in the words its results table uses (shared by the scripts)."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (else what platform knows, else "?")."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "?"


def describe() -> str:
    """Cores, CPU model, operating system and release, e.g. ``2 cores, AMD EPYC, Linux 6.1``."""
    return f"{os.cpu_count()} cores, {cpu_model()}, {platform.system()} {platform.release()}"

"""Experiments: finished training runs → summary numbers, statistics, learning curves and pages.

Reads run folders (``metrics.csv`` + ``summary.json``) and never imports torch. One
implementation used by the HTML report (:mod:`neuromod_data.report`), the results page
(``docs/results.md``) and the ``neuromod results`` command.

* :mod:`~neuromod_data.experiments.runs` — find runs, read their metrics, name them by folder;
* :mod:`~neuromod_data.experiments.summary` — final loss, accuracy and iterations to 80 %, ours
  and the authors' definitions (docs/design.md, "Summary statistics");
* :mod:`~neuromod_data.experiments.stats` — Welch tests, effect sizes with confidence
  intervals, the smallest detectable effect;
* :mod:`~neuromod_data.experiments.curves` — learning curves (mean ± SD over seeds) and figures;
* :mod:`~neuromod_data.experiments.pages` — the results page;
* :mod:`~neuromod_data.experiments.grid` — the reproduction grid (jobs, folders, commands);
* :mod:`~neuromod_data.experiments.record` — keep a finished run (metrics + provenance).
"""

from __future__ import annotations

from neuromod_data.experiments.runs import (
    REPRODUCTION,
    WORKFLOW,
    Run,
    find_runs,
    group_runs,
    read_metrics,
    runs_table,
)
from neuromod_data.experiments.stats import compare, detectable_effect
from neuromod_data.experiments.summary import (
    first_crossing,
    run_summary,
    smoothed_crossing,
    summarize,
    summary_table,
    window_mean,
)

__all__ = [
    "REPRODUCTION",
    "WORKFLOW",
    "Run",
    "compare",
    "detectable_effect",
    "find_runs",
    "first_crossing",
    "group_runs",
    "read_metrics",
    "run_summary",
    "runs_table",
    "smoothed_crossing",
    "summarize",
    "summary_table",
    "window_mean",
]

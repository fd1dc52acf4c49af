"""The results page's provenance: the commits and arithmetic versions each grid's runs ran under
and where the runs came from (:mod:`neuromod_data.experiments.pages`)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from neuromod_data.experiments.page_tables import Key
from neuromod_data.experiments.runs import Run


def arithmetic_version(run: Run) -> int | None:
    """The arithmetic version a run was trained under (``metrics.arithmetic_version`` of its
    ``summary.json``, written by ``neuromod train``); None for runs from before versioning."""
    for where in (run.summary.get("metrics") or {}, run.summary):
        value = where.get("arithmetic_version")
        if value is not None:
            return int(value)
    return None


def _version_label(run: Run) -> str:
    """``before versioning``, ``arithmetic version N``, or, for a run resumed across versions on
    purpose (``--allow-arithmetic-change``), both and the iteration where it changed."""
    version = arithmetic_version(run)
    if version is None:
        return "before versioning"
    label = f"arithmetic version {version}"
    changed = (run.summary.get("metrics") or {}).get("arithmetic_version_resumed_from")
    if isinstance(changed, dict):
        old = changed.get("version")
        was = "before versioning" if old is None else f"version {old}"
        label += f" (resumed from {was} at iteration {changed.get('iteration')})"
    return label


def _code_versions(found: Sequence[Run], grid_names: Sequence[str]) -> list[str]:
    """Per grid, the commits its runs started from and the arithmetic version(s) they ran
    under (docs/design.md, "Reproducibility")."""
    L = [
        "Code each grid's runs ran under: the git commit a job started from and its *arithmetic "
        "version* (`ARITHMETIC_VERSION` in `neuromod_models/_arithmetic.py`, raised whenever a "
        "change alters floating-point results; the number of runs in brackets). A run is "
        "reproduced bit for bit by its command under its arithmetic version; under another one "
        "the losses can drift apart, so rerun a run from before versioning at its own commit, "
        "and `neuromod train` refuses to resume a checkpoint of another arithmetic version.",
        "",
    ]
    for g in grid_names:
        runs = [r for r in found if r["grid"] == g]
        if not runs:
            continue
        by_version: dict[str, dict[str, int]] = {}
        for r in runs:
            commit = str(r.summary.get("git_commit") or "unknown")[:7]
            commits = by_version.setdefault(_version_label(r), {})
            commits[commit] = commits.get(commit, 0) + 1
        parts = []
        # runs from before versioning first, then by version
        for label in sorted(by_version, key=lambda v: (v != "before versioning", v)):
            commits = by_version[label]
            listed = ", ".join(
                f"`{c}` ({n})" for c, n in sorted(commits.items(), key=lambda kv: (-kv[1], kv[0]))
            )
            parts.append(f"{label}, commit{'s' if len(commits) > 1 else ''} {listed}")
        L += [f"- `{g}` ({len(runs)} runs): {'; '.join(parts)}"]
    return L + [""]


def _provenance_section(
    found: list[Run],
    keys: list[Key],
    groups: dict,
    configs: dict,
    grid_names: list[str],
) -> list[str]:
    L = ["## Machine, run time and provenance", ""]
    machines = {json.dumps(r.summary.get("machine", {}), sort_keys=True) for r in found}
    for m in sorted(machines):
        d = json.loads(m)
        if d:
            L += [
                f"- machine: {d.get('cpu', '?')}, {d.get('cores', '?')} cores, "
                f"{d.get('memory_gb', '?')} GB RAM (shared with other work while these ran: "
                "timings are noisy upper bounds)"
            ]
    tv = sorted({str(r.summary.get("torch")) for r in found if r.summary.get("torch")})
    if tv:
        L += [f"- torch {', '.join(tv)}, CPU, one thread per job, `nice -n 19`"]
    total = sum(r.seconds or 0.0 for r in found)
    L += [
        f"- total training time of the runs listed: {total / 3600:.2f} h (sum over jobs, "
        "wall-clock inside `train`)"
    ]
    commits = sorted(
        {str(r.summary.get("git_commit"))[:10] for r in found if r.summary.get("git_commit")}
    )
    if commits:
        L += [f"- git commits the runs started from ({len(commits)}): {', '.join(commits)}"]
    dirty = [r for r in found if (r.summary.get("uncommitted_files_in_models_at_start") or 0) > 0]
    if found:
        L += [
            f"- runs that started while files under neuromod_models/ or neuromod_data/ had uncommitted "
            f"changes: {len(dirty)} of {len(found)} (see each summary.json)"
        ]
    L += ["", "Example training command of each group (every run's own is in its `summary.json`):"]
    L += ["", "```bash"]
    L += [groups[k][0].summary["command"] for k in keys if groups[k][0].summary.get("command")]
    L += ["```", ""]
    for g in grid_names:
        if g in configs:
            path, _ = configs[g]
            L += [
                f"Config of grid `{g}` (`{path.as_posix()}`):",
                "",
                "```yaml",
                path.read_text().rstrip(),
                "```",
                "",
            ]
    return L

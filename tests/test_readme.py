"""README.md and the reference pages of docs/ work as written.

Each document's ``bash`` and ``python`` blocks run **in order**, as a reader would run them, in a
scratch copy of the repository's tracked files (a fresh clone) with ``../shared/data`` (the real
public files) beside it: Python blocks in one namespace per document, shell blocks through
``bash -euo pipefail``. Not run: ``pip install`` (the package is installed already),
``snakemake`` (the workflow tests in ``tests/workflows/`` run the workflow; here only the files it
names are checked) and the test command itself. A block whose first line is
``# needs the internet`` is skipped with that reason (it downloads data). Every command also
parses, names only files that exist or that an earlier command writes, and writes only into
``scratch/`` (which git ignores).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
#: the documents whose code blocks run: the front door and the reference pages it links to
DOCS = [
    "README.md",
    *(f"docs/{p}.md" for p in ("reading", "scoring", "models", "workflow", "errors")),
]
INTERNET = "# needs the internet"
#: commands the documents show but the run leaves out (see the module docstring)
NOT_RUN = ("pip", "snakemake")
#: what each document's run must have made (relative to the scratch copy)
MADE = {
    "README.md": ["scratch/graph/structure.npz", "scratch/physiology/fit_validation.csv",
                  "scratch/mdgl/metrics.json", "scratch/runs/bptt/metrics.csv"],
    "docs/scoring.md": ["scratch/m1/structure.npz", "scratch/structure.npz"],
    "docs/models.md": ["scratch/m1_physiology/structure.npz", "scratch/runs/m1_mdgl/metrics.json",
                       "scratch/runs/mdgl/metrics.csv"],
}  # fmt: skip


def _fenced(doc: str) -> list[tuple[int, str, str]]:
    """``(line number, language, text)`` of every fenced block of ``doc``, in order."""
    out, lang, current, start = [], None, None, 0
    for i, line in enumerate((REPO / doc).read_text().splitlines(), 1):
        if current is None and line.strip().startswith("```"):
            lang, current, start = line.strip()[3:].strip(), [], i + 1
        elif current is not None and line.strip() == "```":
            out.append((start, lang, "\n".join(current) + "\n"))
            current = None
        elif current is not None:
            current.append(line)
    assert current is None, f"{doc}: unclosed ```{lang} block from line {start}"
    return out


def _blocks(lang: str, doc: str = "README.md") -> list[tuple[int, str]]:
    """``(line number, text)`` of every fenced block of ``lang`` in ``doc``, in order."""
    return [(s, t) for s, b, t in _fenced(doc) if b == lang]


def _lines(text: str) -> list[str]:
    """The shell lines of a block with continuation lines joined."""
    out, pending = [], ""
    for line in text.splitlines():
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        out.append(pending + line)
        pending = ""
    return out


def _commands(doc: str = "README.md") -> list[tuple[int, list[str]]]:
    """Every command of the bash blocks: continuation lines joined, comments dropped, ``&&``,
    ``||`` and ``|`` split."""
    return [(line, argv) for line, argv, _ in _commands_and_fallbacks(doc)]


def _commands_and_fallbacks(doc: str) -> list[tuple[int, list[str], bool]]:
    """:func:`_commands` with, for each, whether ``||`` follows it (a failure shown on purpose)."""
    out = []
    for start, text in _blocks("bash", doc):
        lines = text.splitlines()
        i = 0
        while i < len(lines):
            first, cmd = i, lines[i]
            while cmd.rstrip().endswith("\\"):
                i += 1
                cmd = cmd.rstrip()[:-1] + " " + lines[i]
            i += 1
            words = shlex.split(cmd, comments=True)
            part: list[str] = []
            for w in [*words, "&&"]:
                if w in ("&&", "||", "|"):
                    if part:
                        out.append((start + first, part, w == "||"))
                    part = []
                else:
                    part.append(w)
    return out


SHARED = "../shared/data/"


def _needs_shared_data(doc: str) -> bool:
    return any(SHARED in t for _, _, t in _fenced(doc))


def _exists(word: str) -> bool | None:
    """Whether a file a command names exists: in the repository, or among the real public files
    (``None`` where those are absent here)."""
    if word.startswith(SHARED):
        from neuromod_data._files import shared_data_dir

        data = shared_data_dir()
        return None if data is None else (data / word[len(SHARED) :]).exists()
    return (REPO / word).exists()


# --------------------------------------------------------------- the blocks, run in order
def _scratch_clone(root: Path) -> Path:
    """The repository's tracked files (as a fresh clone has them) under ``root/main``."""
    clone = root / "main"
    files = (
        subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    for f in filter(None, files):
        src = REPO / f
        if src.is_file():
            (clone / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, clone / f)
    return clone


def _run_bash(doc: str, start: int, text: str, cwd: Path) -> None:
    kept = []
    for line in _lines(text):
        words = shlex.split(line, comments=True)
        if not words or words[0] in NOT_RUN or words[:3] == ["python3", "-m", "pytest"]:
            continue
        kept.append(line)
    if not kept:
        return
    env = {
        **os.environ,
        "MPLBACKEND": "Agg",
        # the interpreter running the tests and its `neuromod` first
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }
    script = "set -euo pipefail\n" + "\n".join(kept) + "\n"
    p = subprocess.run(
        ["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=1800
    )
    if p.returncode != 0:
        pytest.fail(
            f"{doc}, shell block at line {start} failed (exit {p.returncode}):\n{script}\n"
            f"{p.stderr[-3000:]}"
        )


@pytest.mark.slow
@pytest.mark.parametrize("doc", DOCS)
def test_blocks_run_in_order(doc, tmp_path, monkeypatch):
    if _needs_shared_data(doc):
        from neuromod_data._files import shared_data_dir

        data = shared_data_dir()
        if data is None:
            pytest.skip(f"{doc} reads ../shared/data, absent here (set NEUROMOD_SHARED_DATA)")
        (tmp_path / "shared").mkdir()
        (tmp_path / "shared" / "data").symlink_to(data)
    import matplotlib

    matplotlib.use("Agg")
    clone = _scratch_clone(tmp_path)
    before = {p for p in clone.rglob("*") if p.is_file()}
    monkeypatch.chdir(clone)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict = {"__name__": "__readme__"}
    ran = 0
    for start, lang, text in _fenced(doc):
        if lang not in ("bash", "python") or text.startswith(INTERNET):
            continue
        if lang == "python":
            try:
                exec(compile(text, f"{doc}, block at line {start}", "exec"), namespace)
            except Exception as exc:
                pytest.fail(f"{doc}, block at line {start} failed: {type(exc).__name__}: {exc}")
        else:
            _run_bash(doc, start, text, clone)
        ran += 1
    assert ran, f"{doc}: no block ran"
    for made in MADE.get(doc, []):
        assert (clone / made).is_file(), f"{doc}: the blocks did not make {made}"
    # nothing written outside scratch/ (files the reader's clone did not have)
    new = sorted(
        str(p.relative_to(clone))
        for p in clone.rglob("*")
        if p.is_file() and p not in before and "__pycache__" not in p.parts
    )
    outside = [p for p in new if not p.startswith("scratch/")]
    assert not outside, f"{doc}: the examples wrote outside scratch/: {outside}"
    if doc == "docs/reading.md":
        assert namespace["m1"].shape == (185, 30749)
    if doc == "docs/scoring.md":
        families = ["ET", "IT", "NP", "Pvalb", "Sst"]  # the M1 families
        assert sorted(namespace["counts"].index) == families


# ------------------------------------------------------------------------- static checks
@pytest.mark.parametrize("doc", DOCS)
def test_internet_blocks_are_marked_and_few(doc):
    marked = [s for s, _, t in _fenced(doc) if t.startswith(INTERNET)]
    assert len(marked) <= 2, f"{doc}: keep the blocks that need the internet few: lines {marked}"
    if doc == "README.md":
        assert not marked, "README.md: the front door runs without the internet"
    unmarked = [
        s
        for s, lang, t in _fenced(doc)
        if not t.startswith(INTERNET)
        and re.search(r"\b(tasic2018|m1_patchseq|gse115746)\(|neuromod fetch ", t)
        and lang in ("bash", "python")
    ]
    assert not unmarked, f"{doc}: blocks at lines {unmarked} download data but are not marked"


def _looks_like_path(word: str) -> bool:
    return not word.startswith(("-", "http")) and (
        "/" in word or bool(re.search(r"\.(csv|gz|h5ad|npz|yaml|yml|json|rda|zip|tsv|py)$", word))
    )


def _option_values(argv: list[str], names: tuple[str, ...]) -> list[str]:
    return [argv[i + 1] for i, w in enumerate(argv[:-1]) if w in names]


def _written_by_python(doc: str) -> list[str]:
    """Paths the Python blocks write: ``out_dir=``, ``save=``, ``.save(``, ``.to_csv(``, ``write_*(``."""
    pattern = r"""(?:out_dir=|save=|\.save\(|\.to_csv\(|write_\w+\([^,()]+,\s*)"([^"]+)\""""
    return [m for _, t in _blocks("python", doc) for m in re.findall(pattern, t)]


@pytest.mark.parametrize("doc", DOCS)
def test_examples_write_into_scratch(doc):
    outs = [o for _, a in _commands(doc) for o in _option_values(a, ("--out", "--figures"))]
    outs += _written_by_python(doc)
    bad = [o for o in outs if not o.startswith("scratch/")]
    assert not bad, f"{doc}: examples write outside scratch/: {bad}"
    assert "/scratch/" in (REPO / ".gitignore").read_text().split()


@pytest.mark.parametrize("doc", DOCS)
def test_neuromod_commands_parse_and_chain(doc):
    from neuromod_data.cli import build_parser

    parser = build_parser()
    produced: list[str] = _written_by_python(doc)
    for line, argv, fails in _commands_and_fallbacks(doc):
        if argv[0] == "neuromod" and not fails:
            try:
                parser.parse_args(argv[1:])
            except SystemExit:
                pytest.fail(f"{doc} line {line}: `{shlex.join(argv)}` does not parse")
        if argv[0] not in ("neuromod", "python3", "python"):
            continue
        outs = _option_values(argv, ("--out", "--figures"))
        skip = set(outs) | set(_option_values(argv, ("--base-url", "--cache-dir", "--results")))
        for word in argv[1:]:
            if word in skip or not _looks_like_path(word) or fails:
                continue  # a command followed by `|| ...` fails on purpose (docs/errors.md)
            made = any(word == p or word.startswith(p.rstrip("/") + "/") for p in produced)
            assert made or _exists(word) is not False, (
                f"{doc} line {line}: {word} is neither in the repository nor written by an "
                "earlier command"
            )
        produced += outs


@pytest.mark.parametrize("doc", DOCS)
def test_train_reads_a_structure_written_before(doc):
    cmds = _commands(doc)
    for i, (line, argv) in enumerate(cmds):
        if argv[:2] != ["neuromod", "train"]:
            continue
        for s in _option_values(argv, ("--structure",)):
            written = [
                f"{o}/structure.npz"
                for _, a in cmds[:i]
                if a[:2] in (["neuromod", "graph"], ["neuromod", "physiology"])
                for o in _option_values(a, ("--out",))
            ]
            assert s in written, f"{doc} line {line}: {s} is not written by an earlier command"


@pytest.mark.parametrize("doc", DOCS)
def test_other_commands_name_what_exists(doc):
    try:
        import tomllib  # Python >= 3.11
    except ImportError:  # Python 3.10: the same parser as the tomli package
        tomllib = pytest.importorskip("tomli")
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    for line, argv in _commands(doc):
        if argv[0] == "snakemake":
            for opt in ("-s", "--configfile", "--profile"):
                for v in _option_values(argv, (opt,)):
                    assert (REPO / v).exists(), f"{doc} line {line}: {v} not found"
        elif argv[:2] == ["pip", "install"]:
            for w in argv[2:]:
                m = re.fullmatch(
                    r"-e|\.\[(.+)\]|torch(==[\d.]+)?|--index-url|http\S+|snakemake-executor-plugin-slurm",
                    w,
                )
                assert m, f"{doc} line {line}: unexpected `{w}`"
                if m.group(1):
                    assert set(m.group(1).split(",")) <= set(extras), w
        elif argv[0].startswith("python"):
            script = next((w for w in argv[1:] if w.endswith(".py")), None)
            assert script is None or (REPO / script).is_file(), f"{doc} line {line}: {script}"


def test_links_resolve():
    for doc in DOCS:
        text = (REPO / doc).read_text()
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if target.startswith(("http://", "https://")):
                continue
            assert ((REPO / doc).parent / target).exists(), f"{doc}: link to {target} is broken"


def test_quick_start_is_what_ci_runs():
    """Two commands: install + main job, then the tests; .ci/run installs and tests the same way."""
    start, text = next((s, t) for s, t in _blocks("bash") if "pytest" in t)
    cmds = [c for c in text.splitlines() if c.strip() and not c.lstrip().startswith("#")]
    assert len(cmds) == 2, cmds
    install, tests = cmds
    steps = [s.strip() for s in install.split("&&")]
    assert steps[0] == "pip install torch==2.13.0" and steps[1] == 'pip install -e ".[test]"'
    assert steps[-1].startswith("snakemake -s workflows/Snakefile")
    assert tests.strip() == "python3 -m pytest -q"
    ci = (REPO / ".ci" / "run").read_text()
    assert '"torch==2.13.0"' in ci and '-e ".[test]"' in ci
    last = [ln for ln in ci.splitlines() if ln.strip() and not ln.startswith("#")][-1]
    assert last.strip() == tests.strip()


def test_readme_is_a_front_door():
    """README.md stays short; the reference material lives in docs/, results in docs/results.md."""
    text = README.read_text()
    assert len(text.splitlines()) <= 200, "README.md: move reference material to a docs/ page"
    for page in DOCS[1:]:
        assert f"]({page})" in text, f"README.md does not link to {page}"
    assert "](docs/results.md)" in text

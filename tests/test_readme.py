"""README.md works as written: every Python block runs, in order, and every shell command parses,
chains (what one command reads, an earlier one wrote or the repository has) and — where its inputs
are at hand — runs.

The blocks run in a temporary working folder laid out like the repository's surroundings, so that
``../shared/data`` (the real public files) resolves and the files the examples write stay out of
the repository. A Python block whose first line is ``# needs the internet`` is skipped, with that
reason; there is only one.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
INTERNET = "# needs the internet"


def _blocks(lang: str) -> list[tuple[int, str]]:
    """``(line number, text)`` of every fenced block of ``lang``, in order."""
    out, current, start = [], None, 0
    for i, line in enumerate(README.read_text().splitlines(), 1):
        if current is None and line.strip() == f"```{lang}":
            current, start = [], i + 1
        elif current is not None and line.strip() == "```":
            out.append((start, "\n".join(current) + "\n"))
            current = None
        elif current is not None:
            current.append(line)
    assert current is None, f"README.md: unclosed ```{lang} block from line {start}"
    return out


def _commands() -> list[tuple[int, list[str]]]:
    """Every command of the bash blocks: continuation lines joined, comments dropped, ``&&`` split."""
    out = []
    for start, text in _blocks("bash"):
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
                if w == "&&":
                    if part:
                        out.append((start + first, part))
                    part = []
                else:
                    part.append(w)
    return out


@pytest.fixture
def workdir(tmp_path, monkeypatch, shared_data):
    """A working folder with ``../shared/data`` beside it, as the repository has."""
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "data").symlink_to(shared_data)
    monkeypatch.chdir(work)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    return work


# ----------------------------------------------------------------------------- Python blocks
@pytest.mark.slow
def test_python_blocks_run_in_order(workdir):
    import matplotlib

    matplotlib.use("Agg")
    namespace: dict = {"__name__": "__readme__"}
    ran = 0
    for start, text in _blocks("python"):
        if text.startswith(INTERNET):
            continue
        try:
            exec(compile(text, f"README.md, block at line {start}", "exec"), namespace)
        except Exception as exc:
            pytest.fail(f"README.md block at line {start} failed: {type(exc).__name__}: {exc}")
        ran += 1
    assert ran >= 8
    # what the blocks promise, checked on what they made
    assert namespace["m1"].shape == (185, 30749)
    assert (workdir / "structure.npz").is_file() and (workdir / "runs/mdgl/metrics.csv").is_file()
    assert sorted(namespace["counts"].index) == ["ET", "IT", "NP", "Pvalb", "Sst"]  # M1 families


@pytest.mark.parametrize(
    "start", [s for s, t in _blocks("python") if t.startswith(INTERNET)] or [None]
)
def test_internet_blocks_are_marked_and_few(start):
    marked = [s for s, t in _blocks("python") if t.startswith(INTERNET)]
    assert len(marked) <= 1, f"keep the blocks that need the internet to one: lines {marked}"
    unmarked = [
        s
        for s, t in _blocks("python")
        if not t.startswith(INTERNET) and re.search(r"\b(tasic2018|m1_patchseq|gse115746)\(", t)
    ]
    assert not unmarked, f"blocks at lines {unmarked} download data but are not marked"
    if start is not None:
        pytest.skip(f"README.md block at line {start} needs the internet (it downloads data)")


# ------------------------------------------------------------------------------ shell blocks
def _looks_like_path(word: str) -> bool:
    return not word.startswith(("-", "http")) and (
        "/" in word or bool(re.search(r"\.(csv|gz|h5ad|npz|yaml|yml|json|rda|zip|tsv|py)$", word))
    )


def _option_values(argv: list[str], names: tuple[str, ...]) -> list[str]:
    return [argv[i + 1] for i, w in enumerate(argv[:-1]) if w in names]


def test_neuromod_commands_parse_and_chain():
    from neuromod_data.cli import build_parser

    parser = build_parser()
    produced: list[str] = []
    for line, argv in _commands():
        if argv[0] != "neuromod":
            continue
        try:
            parser.parse_args(argv[1:])
        except SystemExit:
            pytest.fail(f"README.md line {line}: `{shlex.join(argv)}` does not parse")
        outs = _option_values(argv, ("--out",))
        skip = set(outs) | set(_option_values(argv, ("--base-url", "--cache-dir", "--results")))
        if argv[1] == "results":
            skip |= set(argv[2:])  # folders of committed runs, checked below
        for word in argv[2:]:
            if word in skip or not _looks_like_path(word):
                continue
            made = any(word == p or word.startswith(p.rstrip("/") + "/") for p in produced)
            assert made or (REPO / word).exists() or (REPO / word).resolve().exists(), (
                f"README.md line {line}: {word} is neither in the repository nor written by an "
                "earlier command"
            )
        produced += outs


def test_train_reads_the_structure_graph_wrote():
    graphs = [o for _, a in _commands() if a[:2] == ["neuromod", "graph"] for o in _option_values(a, ("--out",))]  # fmt: skip
    trains = [s for _, a in _commands() if a[:2] == ["neuromod", "train"] for s in _option_values(a, ("--structure",))]  # fmt: skip
    assert trains, "README shows no `neuromod train --structure`"
    for s in trains:
        assert s in [f"{g}/structure.npz" for g in graphs], s


def test_neuromod_commands_run_where_their_inputs_are_at_hand(workdir, capsys):
    """info, aggregate, graph and physiology run for real on the shared files, in order."""
    from neuromod_data.cli import main

    ran = 0
    for line, argv in _commands():
        if argv[0] != "neuromod" or argv[1] not in ("info", "aggregate", "graph", "physiology"):
            continue
        inputs = [w for w in argv[2:] if _looks_like_path(w) and w not in _option_values(argv, ("--out",))]  # fmt: skip
        if not all((workdir / w).exists() for w in inputs):
            continue  # e.g. a file `neuromod fetch` downloads
        rc = main(argv[1:])
        assert rc == 0, (
            f"README.md line {line}: `{shlex.join(argv)}` → {rc}: {capsys.readouterr().err}"
        )
        ran += 1
    assert ran >= 4


def test_other_commands_name_what_exists():
    try:
        import tomllib  # Python >= 3.11
    except ImportError:  # Python 3.10: the same parser as the tomli package
        tomllib = pytest.importorskip("tomli")
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    for line, argv in _commands():
        if argv[0] == "snakemake":
            for opt in ("-s", "--configfile", "--profile"):
                for v in _option_values(argv, (opt,)):
                    assert (REPO / v).exists(), f"README.md line {line}: {v} not found"
        elif argv[:2] == ["pip", "install"]:
            for w in argv[2:]:
                m = re.fullmatch(r"-e|\.\[(.+)\]|torch(==[\d.]+)?|--index-url|http\S+", w)
                assert m, f"README.md line {line}: unexpected `{w}`"
                if m.group(1):
                    assert set(m.group(1).split(",")) <= set(extras), w
        elif argv[0].startswith("python"):
            script = next((w for w in argv[1:] if w.endswith(".py")), None)
            assert script is None or (REPO / script).is_file(), f"README.md line {line}: {script}"


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

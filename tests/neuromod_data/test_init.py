"""The package's front door: a light hand-off, lazy exports that are the real objects, one version."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

#: modules the hand-off must not load: the data stack, the readers and the heavy steps
HEAVY = (
    "anndata",
    "h5py",
    "scanpy",
    "numba",
    "pandas",
    "scipy",
    "networkx",
    "matplotlib",
    "torch",
    "neuromod_data.io",
    "neuromod_data.aggregate",
    "neuromod_data.score",
    "neuromod_data.graph",
)


def _fresh(code: str) -> dict:
    """Run ``code`` in a new interpreter; it prints a JSON object on its last line."""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_the_structure_loads_no_data_stack():
    got = _fresh(
        "import json, sys; import neuromod_data.structure; "
        f"print(json.dumps({{m: m in sys.modules for m in {list(HEAVY)!r}}}))"
    )
    loaded = [m for m, yes in got.items() if yes]
    assert not loaded, f"import neuromod_data.structure loads {loaded}"


def test_lazy_exports_are_the_real_objects():
    got = _fresh(
        "import json, sys, neuromod_data as nd; before = 'anndata' in sys.modules; "
        "import neuromod_data.aggregate; "  # the submodule of the same name must not shadow it
        "from neuromod_data import aggregate, read, score_interactions, CellTypeStructure, "
        "load_resource, smith2019, tissue_abundances, errors; "
        "print(json.dumps({'before': before, 'aggregate': aggregate.__module__ + '.' + "
        "aggregate.__name__, 'attr': callable(nd.aggregate), 'read': read.__module__, "
        "'score': score_interactions.__module__, 'cts': CellTypeStructure.__module__, "
        "'res': load_resource.__module__, 'smith': smith2019.__module__, "
        "'ab': tissue_abundances.__module__, 'errors': errors.__name__}))"
    )
    assert got == {
        "before": False,
        "aggregate": "neuromod_data.aggregate.aggregate",
        "attr": True,
        "read": "neuromod_data.io",
        "score": "neuromod_data.score",
        "cts": "neuromod_data.structure",
        "res": "neuromod_data.resources.load",
        "smith": "neuromod_data.aggregate",
        "ab": "neuromod_data.abundances",
        "errors": "neuromod_data.errors",
    }


def test_unknown_names_and_submodules():
    import neuromod_data

    with pytest.raises(AttributeError, match="no_such_thing"):
        neuromod_data.no_such_thing  # noqa: B018
    from neuromod_data import names  # a submodule that is not an export still imports

    assert "bptt" in names.RULES
    assert set(neuromod_data.__all__) <= set(dir(neuromod_data))


def test_the_version_is_written_once():
    import neuromod_data

    text = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    project = text.split("[project]", 1)[1].split("\n[", 1)[0]
    assert not re.search(r"^version\s*=", project, re.M)  # no second copy in pyproject
    assert re.search(r'^dynamic\s*=\s*\["version"\]', project, re.M)
    assert re.search(r'^version\s*=\s*\{\s*attr\s*=\s*"neuromod_data.__version__"', text, re.M)
    assert version("neuromod") == neuromod_data.__version__  # what pip installed

"""The reproduction grid on hand-made settings: jobs, names, folders, commands, finished jobs."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from neuromod_data import names
from neuromod_data.experiments import grid


@pytest.fixture
def rc(tmp_path):
    return {
        "name": "g",
        "results": str(tmp_path / "results"),
        "runs": str(tmp_path / "runs" / "g"),
        "tasks": {
            "evidence_accumulation": {
                "iterations": 20,
                "batch_size": 4,
                "validate_every": 10,
                "l1": 0.01,
                "rate_reg": 0.1,
                "task_options": {"T": 300},
            },
            "pattern_generation": {"iterations": 5, "batch_size": 1},
        },
        "structures": {"toy": {"source": "toy", "n_cells": 100, "seed": 0, "groupby": "x"}},
        "graph": {"extra_args": "--no-figures $(touch HACKED)"},
        "grid": [
            {
                "tasks": ["evidence_accumulation", "pattern_generation"],
                "rules": ["bptt", "mdgl"],
                "structures": ["ei"],
                "seeds": [0, 1],
            },
            {
                "tasks": ["evidence_accumulation"],
                "rules": ["mdgl"],
                "structures": ["toy-data", "toy-label-permuted", "toy-ei"],
                "seeds": [0, 1],
            },
            {  # repeats are listed once
                "tasks": ["evidence_accumulation"],
                "rules": ["bptt"],
                "structures": ["ei"],
                "seeds": [1],
            },
        ],
    }


def test_jobs_are_every_combination_once(rc):
    grid.validate(rc)
    jobs = grid.jobs(rc)
    assert len(jobs) == 2 * 2 * 2 + 3 * 2
    assert len({tuple(j.values()) for j in jobs}) == len(jobs)
    assert jobs[0] == {
        "task": "evidence_accumulation",
        "rule": "bptt",
        "structure": "ei",
        "seed": 0,
    }


@pytest.mark.parametrize("gate", names.GATES)
def test_every_gate_of_the_shared_vocabulary_parses(gate):
    assert grid.parse_structure(f"m1_tissue-{gate}") == ("m1_tissue", gate)


def test_structure_names():
    assert grid.parse_structure("ei") == (None, None)
    assert grid.parse_structure("toy_cortex") == ("toy_cortex", None)
    with pytest.raises(ValueError, match="unknown gate 'sorted'"):
        grid.parse_structure("toy_cortex-sorted")


@pytest.mark.parametrize(
    "change, match",
    [
        # each key and value: the schema, one line naming it (config_check.ConfigError)
        (lambda rc: rc.pop("results"), r"^reproduction: 'results' is a required property"),
        (lambda rc: rc["tasks"].update(sorting={"iterations": 1, "batch_size": 1}),
         r"^reproduction.tasks: 'sorting' is not one of"),
        (lambda rc: rc["tasks"]["pattern_generation"].pop("batch_size"),
         r"^reproduction.tasks.pattern_generation: 'batch_size' is a required property"),
        (lambda rc: rc["grid"][0]["rules"].append("sgd"),
         r"^reproduction.grid\[0\].rules\[2\]: 'sgd' is not one of \['bptt', 'eprop', 'mdgl'\]"),
        (lambda rc: rc.update(contrasts=[["toy"]]), r"^reproduction.contrasts\[0\]: \['toy'\] is too short"),
        (lambda rc: rc["structures"]["toy"].update(source="web"),
         r"^reproduction.structures.toy.source: 'web' is not one of"),
        # rules joining several settings or another table: by hand
        (lambda rc: rc["tasks"]["pattern_generation"].update(lr_decay=0.5), "unknown settings \\['lr_decay'\\]"),
        (lambda rc: rc["grid"][1]["structures"].append("m1-data"), "needs dataset 'm1'"),
        (lambda rc: rc["grid"].append({"tasks": ["delayed_match"], "rules": ["bptt"],
                                       "structures": ["ei"], "seeds": [0]}), "without settings"),
        (lambda rc: rc["grid"].append({"tasks": ["evidence_accumulation"], "rules": ["bptt"],
                                       "structures": ["toy-uniform"], "seeds": [0]}), "needs rule mdgl"),
        (lambda rc: rc.update(contrasts=[["toy", "m1"]]), "names dataset 'm1'"),
        (lambda rc: rc.update(contrasts=[["toy", "toy"]]), "two different datasets"),
    ],
)  # fmt: skip
def test_inconsistent_grids_are_refused(rc, change, match):
    change(rc)
    with pytest.raises(ValueError, match=match):
        grid.validate(rc)


def test_a_contrast_of_two_known_datasets_is_accepted(rc):
    rc["structures"]["base"] = {"source": "toy", "n_cells": 100, "seed": 1, "groupby": "x"}
    rc["contrasts"] = [["toy", "base"]]
    grid.validate(rc)


def test_train_command_flags_and_options(rc):
    job = {
        "task": "evidence_accumulation",
        "rule": "mdgl",
        "structure": "toy-label-permuted",
        "seed": 1,
    }
    args = shlex.split(grid.train_command(rc, job))
    flag = {a: args[i + 1] for i, a in enumerate(args[:-1]) if a.startswith("--")}
    assert args[:2] == ["neuromod", "train"]
    assert flag["--gate"] == "label-permuted" and flag["--seed"] == "1"
    assert flag["--iterations"] == "20" and flag["--batch-size"] == "4"
    assert flag["--validate-every"] == "10" and flag["--lr"] == "0.0025"  # the default
    assert flag["--structure"] == f"{rc['results']}/structures/toy/structure.npz"
    assert (
        flag["--out"]
        == f"{rc['results']}/train/evidence_accumulation/mdgl/toy-label-permuted/seed1"
    )
    assert flag["--l1"] == "0.01" and flag["--rate-reg"] == "0.1"  # every single value: a flag
    # mappings go through --config
    assert grid.task_options(rc, "evidence_accumulation") == {
        "task_options": {"T": 300},
        "network": {},
    }
    bptt = {"task": "pattern_generation", "rule": "bptt", "structure": "ei", "seed": 0}
    assert "--gate" not in grid.train_command(rc, bptt)
    assert "--gate data" in grid.train_command(rc, {**job, "structure": "toy"})


def test_records_finished_jobs_and_targets(rc, tmp_path):
    job = {"task": "pattern_generation", "rule": "bptt", "structure": "ei", "seed": 0}
    local = grid.record_dir(rc, job)
    published = grid.published_dir(rc, job)
    assert local == f"{rc['results']}/runs/g/pattern_generation/bptt/ei/seed0"
    assert published == f"{rc['runs']}/pattern_generation/bptt/ei/seed0"
    assert not grid.is_finished(rc, job)
    assert grid.train_inputs(rc, job) == {
        "options": f"{rc['results']}/options/pattern_generation.json"
    }
    assert f"{local}/metrics.csv" in grid.targets(rc)
    assert f"{published}/metrics.csv" in grid.targets(rc, publish=True)
    # a published record finishes the job whether or not the local one exists
    from pathlib import Path

    Path(published).mkdir(parents=True)
    for name in ("metrics.csv", "summary.json"):
        (Path(published) / name).write_text("x")
    assert grid.is_finished(rc, job)
    assert grid.train_inputs(rc, job) == {} and grid.publish_inputs(rc, job) == {}
    assert f"{published}/metrics.csv" in grid.targets(rc)  # nothing to run for it
    mdgl = {"task": "evidence_accumulation", "rule": "mdgl", "structure": "toy-ei", "seed": 0}
    assert grid.train_inputs(rc, mdgl)["structure"].endswith("structures/toy/structure.npz")
    assert grid.publish_inputs(rc, mdgl)["metrics"] == f"{grid.record_dir(rc, mdgl)}/metrics.csv"


def test_graph_options_never_run_as_shell_code(rc):
    class Inputs:
        metadata, abundances = "meta data.csv", "sizes.csv"

    args = grid.graph_args(rc, "toy", Inputs())
    words = shlex.split(args)
    assert words[-3:] == ["--no-figures", "$(touch", "HACKED)"]  # separate, quoted words
    assert "'$(touch'" in args
    rc["structures"]["m1"] = {
        "source": "local", "path": "c.csv", "metadata": "m.csv", "groupby": "RNA family",
        "abundances": {"table": "sizes.csv", "via": "RNA type"},
    }  # fmt: skip
    words = shlex.split(grid.graph_args(rc, "m1", Inputs()))
    assert words[:2] == ["--metadata", "meta data.csv"]
    assert words[words.index("--groupby") + 1] == "RNA family"
    assert words[words.index("--abundance-via") + 1] == "RNA type"
    assert grid.structure_inputs(rc, "m1") == {
        "data": "c.csv",
        "metadata": "m.csv",
        "abundances": "sizes.csv",
    }


def test_physiology_step_of_a_structure(rc):
    rc["structures"]["m1"] = {
        "source": "local", "path": "c.csv", "groupby": "RNA family",
        "physiology": {"ephys": "e f.csv", "ephys_metadata": "m.tsv", "label": "RNA family",
                       "connectivity": "billeh.csv", "layer": "Inferred layer",
                       "extra_args": "--min-cells 3 $(touch HACKED)"},
    }  # fmt: skip
    rc["grid"].append(
        {"tasks": ["evidence_accumulation"], "rules": ["mdgl"], "structures": ["m1-uniform"],
         "seeds": [0]}
    )  # fmt: skip
    grid.validate(rc)
    res = rc["results"]
    # networks are built from the structure with physiology, made from the graph's structure
    assert grid.graph_file(rc, "m1") == f"{res}/structures/m1/structure.npz"
    assert grid.structure_file(rc, "m1") == f"{res}/physiology/m1/structure.npz"
    assert grid.structure_file(rc, "toy") == f"{res}/structures/toy/structure.npz"
    assert grid.physiology_inputs(rc, "m1") == {
        "structure": f"{res}/structures/m1/structure.npz",
        "ephys": "e f.csv",
        "ephys_metadata": "m.tsv",
        "connectivity": "billeh.csv",
    }
    words = shlex.split(grid.physiology_args(rc, "m1"))
    assert words[words.index("--label") + 1] == "RNA family"
    assert words[words.index("--ephys") + 1] == "e f.csv"
    assert words[-3:] == ["3", "$(touch", "HACKED)"]  # extra words quoted, never shell code
    job = {"task": "evidence_accumulation", "rule": "mdgl", "structure": "m1-uniform", "seed": 0}
    cmd = shlex.split(grid.train_command(rc, job))
    assert cmd[cmd.index("--structure") + 1] == f"{res}/physiology/m1/structure.npz"
    assert cmd[cmd.index("--gate") + 1] == "uniform"
    rc["structures"]["m1"]["physiology"] = {"label": "RNA family"}
    with pytest.raises(ValueError, match="physiology needs"):
        grid.validate(rc)


def test_heterogeneity_switched_off_per_dataset_or_per_task(rc):
    """`heterogeneity: false` on a dataset (or a task) gives its training commands
    --no-heterogeneity once; without it nothing is added (each neuron draws its own parameters);
    the schema takes a boolean only."""
    from pathlib import Path

    import jsonschema
    import yaml

    job = {"task": "evidence_accumulation", "rule": "mdgl", "structure": "toy-data", "seed": 0}
    assert "--no-heterogeneity" not in shlex.split(grid.train_command(rc, job))
    rc["structures"]["toy"]["heterogeneity"] = False
    assert shlex.split(grid.train_command(rc, job)).count("--no-heterogeneity") == 1
    ei = {**job, "structure": "ei", "rule": "bptt"}
    assert "--no-heterogeneity" not in shlex.split(grid.train_command(rc, ei))
    rc["tasks"]["evidence_accumulation"]["heterogeneity"] = False
    assert shlex.split(grid.train_command(rc, job)).count("--no-heterogeneity") == 1
    assert shlex.split(grid.train_command(rc, ei)).count("--no-heterogeneity") == 1
    rc["tasks"]["evidence_accumulation"]["heterogeneity"] = True
    assert "--heterogeneity" not in shlex.split(grid.train_command(rc, ei))  # no such flag
    grid.validate(rc)
    schema = yaml.safe_load(
        (Path(__file__).parents[3] / "workflows/schemas/reproduction.schema.yaml").read_text()
    )
    jsonschema.validate({"reproduction": rc}, schema)
    rc["structures"]["toy"]["heterogeneity"] = "no"
    with pytest.raises(jsonschema.ValidationError, match="heterogeneity"):
        jsonschema.validate({"reproduction": rc}, schema)


def test_abundance_options_reach_neuromod_graph(rc):
    """A dataset's abundance settings become `neuromod graph` options; the extra cells are an input
    of the structure step (so a changed file rebuilds it); the schema takes them."""
    from pathlib import Path

    import jsonschema
    import yaml

    class Inputs:
        metadata, abundances, abundance_cells = "m.csv", "sizes.csv", "more cells.tsv"

    rc["structures"]["m1"] = {
        "source": "local", "path": "c.csv", "metadata": "m.csv", "groupby": "RNA family",
        "abundances": {"table": "sizes.csv", "via": "RNA type", "expand": "subclass",
                       "subclass": "subclass_label", "extra_cells": "more cells.tsv",
                       "shared": "split"},
    }  # fmt: skip
    words = shlex.split(grid.graph_args(rc, "m1", Inputs()))
    flag = {w: words[i + 1] for i, w in enumerate(words[:-1]) if w.startswith("--abundance")}
    assert flag == {
        "--abundances": "sizes.csv",
        "--abundance-via": "RNA type",
        "--abundance-expand": "subclass",
        "--abundance-subclass": "subclass_label",
        "--abundance-shared": "split",
        "--abundance-extra-cells": "more cells.tsv",
    }
    assert grid.structure_inputs(rc, "m1")["abundance_cells"] == "more cells.tsv"
    schema = yaml.safe_load(
        (Path(__file__).parents[3] / "workflows/schemas/reproduction.schema.yaml").read_text()
    )
    jsonschema.validate({"reproduction": rc}, schema)
    rc["structures"]["m1"]["abundances"]["expand"] = "class"
    with pytest.raises(jsonschema.ValidationError, match="class"):
        jsonschema.validate({"reproduction": rc}, schema)


def test_the_schema_is_the_one_check_of_each_setting(rc):
    # grid.validate applies the workflow's JSON schema itself (the results page calls it without
    # Snakemake): a misspelt key, which no hand check looked at, is refused naming the key
    from neuromod_data.config_check import ConfigError

    rc["graph"]["methd"] = "smith2019"
    with pytest.raises(
        ConfigError, match=r"unknown key 'reproduction.graph.methd'; did you mean 'method'\?"
    ):
        grid.validate(rc)
    del rc["graph"]["methd"]
    rc["tasks"]["pattern_generation"]["batch_size"] = 0  # a range only the schema states
    with pytest.raises(ConfigError, match=r"batch_size: 0 is less than the minimum of 1"):
        grid.validate(rc)


def test_physiology_fit_options_reach_neuromod_physiology(rc):
    """The fit's settings of a dataset's physiology section (the 34 °C tables, the method, the
    temperatures) become options of `neuromod physiology`, and the warm tables are inputs of the
    step (a changed table reruns it)."""
    rc["structures"]["m1"] = {
        "source": "local", "path": "c.csv", "groupby": "RNA family",
        "physiology": {"ephys": "e.csv", "ephys_metadata": "m.tsv", "ephys_warm": "w f.csv",
                       "ephys_warm_metadata": "wm.tsv", "method": "fit", "room_celsius": 24,
                       "warm_celsius": 33.5, "label": "RNA family"},
    }  # fmt: skip
    words = shlex.split(grid.physiology_args(rc, "m1"))
    for flag, value in (("--ephys-warm", "w f.csv"), ("--ephys-warm-metadata", "wm.tsv"),
                        ("--method", "fit"), ("--room-celsius", "24"),
                        ("--warm-celsius", "33.5")):  # fmt: skip
        assert words[words.index(flag) + 1] == value, flag
    inputs = grid.physiology_inputs(rc, "m1")
    assert inputs["ephys_warm"] == "w f.csv" and inputs["ephys_warm_metadata"] == "wm.tsv"


def test_smoke_and_retrain_switches(rc, tmp_path):
    """`--config smoke=true` shrinks every task and keeps each entry's first seed; both switches
    move records and "published" copies under the grid's own results folder, so a published run
    does not count as finished there and nothing lands in the committed runs."""
    rc = dict(rc, runs=str(tmp_path / "committed"))
    job = grid.jobs(rc)[0]
    pub = Path(grid.published_dir(rc, job))
    pub.mkdir(parents=True)
    for name in ("metrics.csv", "summary.json"):
        (pub / name).write_text("x")
    assert grid.is_finished(rc, job)
    for switch in ("smoke", "retrain"):
        s = grid.switched(rc, {switch: "true"})
        assert s["results"] == f"{rc['results']}/{switch}"
        assert s["runs"] == f"{rc['results']}/{switch}/published"
        assert not grid.is_finished(s, job)  # trained again
        assert all(not t.startswith(rc["runs"]) for t in grid.targets(s, publish=True))
    s = grid.switched(rc, {"smoke": True})
    for name, settings in s["tasks"].items():
        for key, value in grid.SMOKE.items():
            assert settings[key] <= value, (name, key)
            if key in rc["tasks"][name] and rc["tasks"][name][key] is not None:
                assert settings[key] == min(rc["tasks"][name][key], value)
    assert [e["seeds"] for e in s["grid"]] == [list(e["seeds"])[:1] for e in rc["grid"]]
    assert grid.switched(rc, {"smoke": "false"}) is rc  # no switch: the grid itself
    assert rc["tasks"] == grid.switched(rc, {"retrain": "true"})["tasks"]  # not shrunk


def test_without_jsonschema_the_extra_is_named(rc, monkeypatch):
    # the results page checks grids too, also where only the core package is installed
    import sys

    from neuromod_data.errors import DependencyError

    monkeypatch.setitem(sys.modules, "jsonschema", None)
    with pytest.raises(DependencyError, match=r"neuromod\[workflows\]"):
        grid.validate(rc)

"""One table of training defaults, read by the command, the grid and (checked here) matching the
models' own keyword defaults."""

from __future__ import annotations

import inspect

import pytest

from neuromod_data.training_defaults import TRAINING_DEFAULTS


def test_the_command_and_the_grid_read_the_same_table():
    from neuromod_data.cli import train as train_cli
    from neuromod_data.experiments import grid

    assert train_cli.DEFAULTS is TRAINING_DEFAULTS
    # the grid accepts exactly the settings the table lists (run identity aside)
    assert grid._train_settings() == set(TRAINING_DEFAULTS)


def test_the_table_cannot_be_changed_by_a_caller():
    with pytest.raises(TypeError):
        TRAINING_DEFAULTS["lr"] = 1.0  # type: ignore[index]
    with pytest.raises(TypeError):
        TRAINING_DEFAULTS["network"]["n_neurons"] = 10  # type: ignore[index]
    assert dict(TRAINING_DEFAULTS["task_options"]) == {}


def test_the_authors_protocol_where_the_table_follows_it():
    # docs/design.md, "The authors' protocol": Adam at 2.5e-3, batch 64, 2000 iterations
    assert (TRAINING_DEFAULTS["lr"], TRAINING_DEFAULTS["batch_size"]) == (2.5e-3, 64)
    assert TRAINING_DEFAULTS["iterations"] == 2000


def test_the_models_keyword_defaults_agree_with_the_table():
    # the library function and the rule carry the same defaults as Python keywords; a change on one
    # side only would make `neuromod train` and a notebook's `train(...)` train differently
    pytest.importorskip("torch")
    from neuromod_models.rules import MDGL
    from neuromod_models.training import train

    params = inspect.signature(train).parameters
    shared = [
        "iterations",
        "batch_size",
        "lr",
        "seed",
        "validate_every",
        "validation_batches",
        "validation_batch_size",
        "l1",
        "checkpoint_every",
    ]
    assert {k: params[k].default for k in shared} == {k: TRAINING_DEFAULTS[k] for k in shared}
    mdgl = inspect.signature(MDGL).parameters
    assert mdgl["feedback"].default == TRAINING_DEFAULTS["feedback"]
    assert mdgl["variant"].default == TRAINING_DEFAULTS["variant"]

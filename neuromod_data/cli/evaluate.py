"""``neuromod evaluate``: run a trained network (``RUN/model.npz``) on fresh trials and write what it
does: ``evaluation.json`` (loss, accuracy, rates and MDGL's signals per type), ``rates.csv`` (one
row per neuron) and four figures — a spike raster grouped and coloured by type (``raster.png``),
rates per type over the trial (``rates.png``), the modulatory signal MDGL adds to each type's
learning signal (``modulation.png``; a run of another rule gets a figure saying so) and the readout
against the targets (``readout.png``).

Trials come from their own seed stream, never the training or validation batches
(:func:`neuromod_models.evaluation.evaluation_seed`). torch is imported only when the command runs.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from neuromod_data.cli._args import hold_output, int_at_least

#: what the command writes into its output folder
FILES = ("evaluation.json", "rates.csv", "raster.png", "rates.png", "modulation.png", "readout.png")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="run a trained network on fresh trials: loss, accuracy, rates per type, figures",
        description=(
            "Load RUN/model.npz (written by neuromod train), run fresh trials of its task (their "
            "own seed stream, not the training or validation batches) and write evaluation.json, "
            "rates.csv and figures: spike raster by type, rates per type, MDGL's modulatory "
            "signal per type, readout against targets."
        ),
        epilog="example: neuromod evaluate runs/mdgl --trials 64 --seed 1",
    )
    p.add_argument(
        "run_dir", metavar="RUN", help="a `neuromod train --out` folder (or a model.npz)"
    )
    p.add_argument(
        "--trials", type=int_at_least(1), default=64, metavar="N", help="trials (default 64)"
    )
    p.add_argument(
        "--seed",
        type=int_at_least(0),
        default=0,
        metavar="S",
        help="seed of the trials (default 0)",
    )
    p.add_argument("--out", metavar="DIR", help="output folder (default RUN/evaluation)")
    p.set_defaults(func=run)


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    # small steps: more threads wait on each other (see neuromod train); restored afterwards
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _rates_csv(path: Path, rec: Any, names: tuple[str, ...], signs: Any, adaptive: Any) -> None:
    from neuromod_data._files import atomic_path

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["neuron", "type", "sign", "adaptive", "rate_hz"])
    for j, (k, r) in enumerate(zip(rec.type_index, rec.rate_hz, strict=True)):
        w.writerow([j, names[k], int(signs[j]), int(bool(adaptive[j])), repr(float(r))])
    with atomic_path(path, suffix=".csv") as tmp:
        tmp.write_text(buf.getvalue())


def _summary(rec: Any, contents: Any, args: argparse.Namespace, model: Path) -> dict[str, Any]:
    import numpy as np

    st = contents.structure
    k = st.n_types
    rates = rec.type_rates_hz(k)
    counts = np.bincount(rec.type_index, minlength=k)
    types = []
    for i, name in enumerate(st.names):
        entry: dict[str, Any] = {
            "type": name,
            "sign": int(st.signs[i]),
            "neurons": int(counts[i]),
            "rate_hz": None if not counts[i] else float(rates[i]),
        }
        if rec.learning_signal is not None:
            entry["learning_signal_mean"] = float(rec.learning_signal[:, i].mean())
        if rec.modulation is not None:
            entry["modulation_mean"] = float(rec.modulation[:, i].mean())
        types.append(entry)
    return {
        "model": str(model),
        "trials": args.trials,
        "seed": args.seed,
        "iteration": contents.meta.get("iteration"),
        "task": contents.task,
        "rule": contents.rule,
        "loss": rec.loss,
        "accuracy": rec.accuracy,
        "rate_hz_mean": float(np.mean(rec.rate_hz)),
        "types": types,
        "provenance": contents.meta.get("provenance"),
    }


def run(args: argparse.Namespace) -> int:
    from neuromod_data._files import atomic_path, check_output
    from neuromod_data.errors import FormatError
    from neuromod_models.model_file import model_path

    model = model_path(args.run_dir)  # a run without one: the error says how to get it
    out_dir = Path(args.out) if args.out else model.parent / "evaluation"
    out = check_output(out_dir, [model], kind="dir")
    hold_output(args, out)

    from neuromod_data import plotting_evaluate as plots
    from neuromod_models.evaluation import record_trials, rule_from
    from neuromod_models.model_file import load_model, read_model

    contents = read_model(model)
    net, task = load_model(model)
    if task is None:
        raise FormatError(f"{model} records no task: it cannot be evaluated on fresh trials")
    rule = rule_from(contents.rule)
    with _one_thread():
        rec = record_trials(net, task, trials=args.trials, seed=args.seed, rule=rule)

    st = contents.structure
    names = tuple(st.names)
    colors = plots.type_colors(names, st.colors, st.signs)
    rule_name = rule.name if rule is not None else "unknown (not recorded)"
    out.mkdir(parents=True, exist_ok=True)
    summary = _summary(rec, contents, args, model)
    with atomic_path(out / "evaluation.json", suffix=".json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2, allow_nan=True) + "\n")
    _rates_csv(out / "rates.csv", rec, names, net.signs.cpu().numpy(), net.adaptive.cpu().numpy())
    figures = {
        "raster.png": plots.raster_figure(
            rec.z[:, 0], rec.type_index, names, colors, dt=rec.dt,
            title=f"{task.name} · {rule_name}: spike raster of trial 0",
        ),
        "rates.png": plots.rates_figure(rec.z, rec.type_index, names, colors, dt=rec.dt),
        "modulation.png": plots.modulation_figure(
            rec.learning_signal, rec.modulation, names, colors, rule=rule_name, dt=rec.dt
        ),
        "readout.png": plots.readout_figure(rec.y, rec.target, dt=rec.dt),
    }  # fmt: skip
    for name, fig in figures.items():
        plots.save_figure(fig, out / name)
    line = f"{task.name} · {rule_name}: {args.trials} trials, loss {rec.loss:.4g}"
    if rec.accuracy is not None:
        line += f", accuracy {rec.accuracy:.3f}"
    print(line + f", mean rate {summary['rate_hz_mean']:.3g} Hz")
    print(f"evaluation → {out}")
    return 0

"""Train a :class:`~neuromod_models.SpikingNetwork` on a task with a learning rule.

>>> from neuromod_models import SpikingNetwork, make_rule
>>> from neuromod_models.tasks import make_task
>>> from neuromod_models.training import train
>>> task = make_task("evidence_accumulation", T=300, t_cue=20, t_interval=30, recall_duration=40)
>>> net = SpikingNetwork(**task.network_kwargs(), seed=0)
>>> result = train(net, make_rule("mdgl"), task, iterations=4, batch_size=4, validate_every=2,
...                progress=False)
>>> [r["split"] for r in result.history if r["iteration"] == 2]
['train', 'validation']

Each iteration draws a fresh training batch, lets the rule write its gradient into ``.grad``, takes
an Adam step and applies the sign constraint (``net.apply_constraints()``). Every
``validate_every`` iterations (and at iteration 0 and at the end) the network is evaluated on
fresh validation batches. Batches are drawn from seeds derived from ``(seed, split, iteration)``,
so a run is deterministic, resumes bit-identically from a checkpoint, and runs with the same seed
(e.g. e-prop against MDGL) see exactly the same training and validation data.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuromod_data._files import atomic_path
from neuromod_data.errors import TrainingError

from ._arithmetic import ARITHMETIC_VERSION
from .checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from .model_file import MODEL_NAME, save_model
from .network import SpikingNetwork
from .tasks import Task

__all__ = ["TrainResult", "batch_seed", "evaluate", "plot_learning_curve", "train"]

#: ``loss`` is the task loss; ``total_loss`` adds the regulariser (equal without one)
METRIC_COLUMNS = ("iteration", "split", "loss", "accuracy", "total_loss")
_STREAMS = {"train": 0, "validation": 1}


@dataclass
class TrainResult:
    """What :func:`train` returns: the metric ``history`` (one dict per row of ``metrics.csv``),
    the ``summary`` written to ``metrics.json`` and the output directory (or ``None``)."""

    history: list[dict[str, Any]]
    summary: dict[str, Any]
    out_dir: Path | None = None
    files: dict[str, Path] = field(default_factory=dict)


def batch_seed(seed: int, split: str, iteration: int, index: int = 0) -> int:
    """The seed of batch ``index`` of ``split`` (``train``/``validation``) at ``iteration``."""
    ss = np.random.SeedSequence([int(seed), _STREAMS[split], int(iteration), int(index)])
    a, b = ss.generate_state(2)
    return int(a) << 31 ^ int(b)


@torch.no_grad()
def evaluate(
    net: torch.nn.Module,
    task: Task,
    *,
    batch_size: int,
    n_batches: int = 1,
    seed: int = 0,
    iteration: int = 0,
    regularizer: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> tuple[float, float | None, float]:
    """Mean task loss, accuracy and total loss (task loss + ``regularizer(z)``) of ``net`` on
    ``n_batches`` fresh validation batches."""
    dev, dt = _device_dtype(net)
    losses, accs, totals = [], [], []
    for k in range(n_batches):
        batch = task.sample(
            batch_size, seed=batch_seed(seed, "validation", iteration, k), device=dev, dtype=dt
        )
        y, rates, _ = net.run(batch.x)
        loss = float(task.loss(y, batch))
        losses.append(loss)
        totals.append(loss + (float(regularizer(rates)) if regularizer is not None else 0.0))
        acc = task.accuracy(y, batch)
        if acc is not None:
            accs.append(float(acc))
    return (
        float(np.mean(losses)),
        (float(np.mean(accs)) if accs else None),
        float(np.mean(totals)),
    )


def _device_dtype(net: torch.nn.Module) -> tuple[torch.device, torch.dtype]:
    p = next(net.parameters())
    return p.device, p.dtype


def _check_finite(net: torch.nn.Module, loss: float, iteration: int) -> None:
    if not math.isfinite(loss):
        raise TrainingError(f"non-finite loss ({loss}) at iteration {iteration}; training stopped")
    for name, p in net.named_parameters():
        if p.grad is not None and not bool(torch.isfinite(p.grad).all()):
            raise TrainingError(
                f"non-finite gradient of parameter {name!r} at iteration {iteration}; training stopped"
            )


def _write_metrics(path: Path, history: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(METRIC_COLUMNS)
    for r in history:
        acc = "" if r["accuracy"] is None else repr(float(r["accuracy"]))
        total = repr(float(r.get("total_loss", r["loss"])))
        w.writerow([r["iteration"], r["split"], repr(float(r["loss"])), acc, total])
    with atomic_path(path, suffix=".csv") as tmp:
        tmp.write_text(buf.getvalue())


def _write_json(path: Path, obj: Any) -> None:
    with atomic_path(path, suffix=".json") as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=str, allow_nan=True) + "\n")


def summarise(history: list[dict[str, Any]], *, threshold: float = 0.8) -> dict[str, Any]:
    """Final and best metrics of a history, and the first validation iteration reaching ``threshold``
    accuracy (the paper's "iterations to 80 %")."""
    train = [r for r in history if r["split"] == "train"]
    val = [r for r in history if r["split"] == "validation"]
    out: dict[str, Any] = {"iterations_done": max((r["iteration"] for r in history), default=0)}
    if train:
        tail = train[-10:]
        out["final_train_loss"] = float(np.mean([r["loss"] for r in tail]))
        accs = [r["accuracy"] for r in tail if r["accuracy"] is not None]
        out["final_train_accuracy"] = float(np.mean(accs)) if accs else None
    if val:
        out["final_validation_loss"] = val[-1]["loss"]
        out["final_validation_total_loss"] = val[-1].get("total_loss", val[-1]["loss"])
        out["final_validation_accuracy"] = val[-1]["accuracy"]
        best = min(val, key=lambda r: r["loss"])
        out["best_validation_loss"] = best["loss"]
        out["best_validation_iteration"] = best["iteration"]
        hit = [
            r["iteration"] for r in val if r["accuracy"] is not None and r["accuracy"] >= threshold
        ]
        out[f"iterations_to_{int(threshold * 100)}pct_accuracy"] = hit[0] if hit else None
    return out


def plot_learning_curve(
    history: list[dict[str, Any]], path: str | Path, *, title: str = ""
) -> Path:
    """Loss (and accuracy where defined) against iteration, training and validation, as a PNG.

    Drawn by :func:`neuromod_data.experiments.curves.history_figure`, the package's one
    learning-curve plotter, on a bare matplotlib ``Figure``: no backend is selected and no pyplot
    figure is left open (docs/design.md, "Reproducibility").
    """
    import pandas as pd

    # imported here: matplotlib is only needed when a figure is written
    from neuromod_data.experiments.curves import history_figure

    metrics = pd.DataFrame(
        {
            "iteration": [r["iteration"] for r in history],
            "split": [r["split"] for r in history],
            "loss": [float(r["loss"]) for r in history],
            "accuracy": [np.nan if r["accuracy"] is None else r["accuracy"] for r in history],
        }
    )
    fig = history_figure(metrics, title=title)
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    return path


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """torch's intra-op thread count set to ``threads`` (``None``: left alone), restored after."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train(
    net: torch.nn.Module,
    rule: Any,
    task: Task,
    *,
    iterations: int = 2000,
    batch_size: int = 64,
    lr: float = 2.5e-3,
    seed: int = 0,
    out_dir: str | Path | None = None,
    validate_every: int = 25,
    validation_batches: int = 1,
    validation_batch_size: int | None = None,
    l1: float = 0.0,
    rate_regularizer: Any = None,
    threads: int | None = 1,
    checkpoint_every: int | None = None,
    resume: bool = True,
    allow_arithmetic_change: bool = False,
    device: torch.device | str | None = None,
    progress: bool = True,
    figure: bool = True,
    settings: dict[str, Any] | None = None,
    callback: Callable[[int, dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train ``net`` on ``task`` with ``rule`` (Adam, sign constraint after each step).

    Parameters
    ----------
    net
        A :class:`~neuromod_models.SpikingNetwork` (any module whose ``forward(x).y`` is the readout
        and that has ``apply_constraints()``).
    rule
        A learning rule from :func:`~neuromod_models.make_rule` (writes its gradient into ``.grad``).
    task
        A task from :func:`~neuromod_models.tasks.make_task`.
    iterations, batch_size, lr
        Total iterations (a resumed run continues up to this number), trials per batch, Adam step.
    seed
        Seeds every batch (via :func:`batch_seed`); the global random states are left alone.
    out_dir
        Where ``metrics.csv`` (iteration, split, loss, accuracy), ``metrics.json`` (summary),
        ``checkpoint.pt``, ``model.npz`` (the trained network with its structure and task, written
        with every checkpoint: :mod:`neuromod_models.model_file`) and ``learning_curve.png`` go;
        ``None`` writes nothing.
    validate_every, validation_batches, validation_batch_size
        Validation schedule and size (default batch size: ``batch_size``).
    l1
        L1 shrinkage after every step: each connected weight magnitude loses ``lr · l1`` (the
        authors: 0.01; see :meth:`SpikingNetwork.apply_constraints`).
    rate_regularizer
        A penalty on the spikes added to the loss, e.g.
        :class:`~neuromod_models.regularization.FiringRateRegularizer` (the authors: 0.1 · Σ (rate −
        10 Hz)²); ``metrics.csv`` records it in ``total_loss``.
    threads
        torch's intra-op threads while training, restored afterwards (1: the per-step work is
        small, and on a busy 2-core machine more threads ran 2–2.5× slower; the compiled CPU
        kernels use one thread anyway). ``None`` keeps the process's setting.
    checkpoint_every
        Iterations between checkpoints (default ``validate_every``); one is always written at the end.
    resume
        Continue from ``out_dir/checkpoint.pt`` if it exists (settings must match). A checkpoint
        with more than ``iterations`` done is refused; one with exactly ``iterations`` returns its
        results and rewrites no file (unless one is missing). A checkpoint computed under another
        arithmetic version (:data:`neuromod_models._arithmetic.ARITHMETIC_VERSION`), or from
        before versioning, is refused.
    allow_arithmetic_change
        Resume such a checkpoint anyway; the summary then records the version the run started
        under and the iteration where it changed (``arithmetic_version_resumed_from``).
    device
        Move the network there first (``"cpu"``, ``"cuda"``); default: where it already is.
    progress, figure
        Show a tqdm progress bar; draw the learning-curve PNG.
    settings
        Extra settings recorded in the checkpoint and compared on resume (e.g. the CLI config).
    callback
        Called as ``callback(iteration, record)`` after each training iteration.

    Raises
    ------
    TrainingError
        A non-finite loss or gradient (naming the iteration), or a checkpoint written with other
        settings, under another arithmetic version or with more iterations done than asked for.
    """
    if threads is not None and int(threads) < 1:
        raise ValueError(f"threads must be a positive integer or None, got {threads}")
    with _torch_threads(threads):
        from tqdm.auto import tqdm

        if int(iterations) < 0:
            raise ValueError(f"iterations must be >= 0, got {iterations}")
        if int(batch_size) < 1 or int(validate_every) < 1:
            raise ValueError("batch_size and validate_every must be positive")
        iterations, batch_size, validate_every = (
            int(iterations),
            int(batch_size),
            int(validate_every),
        )
        checkpoint_every = int(checkpoint_every or validate_every)
        val_bs = int(validation_batch_size or batch_size)
        if device is not None:
            net.to(device)
        dev, dtype = _device_dtype(net)

        optimizer = torch.optim.Adam(net.parameters(), lr=lr)
        run_settings = {
            "task": task.config(),
            "network": getattr(net, "config", None),
            "rule": repr(rule),
            "batch_size": batch_size,
            "lr": lr,
            "seed": seed,
            "validate_every": validate_every,
            "validation_batches": validation_batches,
            "validation_batch_size": val_bs,
            "l1": float(l1),
            "rate_regularizer": (
                rate_regularizer.config()
                if hasattr(rate_regularizer, "config")
                else repr(rate_regularizer)
            ),
            **(settings or {}),
        }

        out = Path(out_dir) if out_dir is not None else None
        files: dict[str, Path] = {}
        history: list[dict[str, Any]] = []
        start, elapsed = 0, 0.0
        # where an explicitly allowed resume changed the arithmetic (kept in every later checkpoint)
        changed: dict[str, Any] | None = None
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            files = {
                "metrics_csv": out / "metrics.csv",
                "metrics_json": out / "metrics.json",
                "checkpoint": out / CHECKPOINT_NAME,
                "figure": out / "learning_curve.png",
                "model": out / MODEL_NAME,
            }
            if resume and files["checkpoint"].exists():
                payload = load_checkpoint(
                    files["checkpoint"],
                    net=net,
                    optimizer=optimizer,
                    rule=rule,
                    settings=run_settings,
                    allow_arithmetic_change=allow_arithmetic_change,
                )
                start = int(payload["iteration"])
                history = list(payload["history"])
                elapsed = float(payload["extra"].get("seconds", 0.0))
                changed = payload["extra"].get("arithmetic_version_resumed_from")
                if payload["arithmetic_version"] != ARITHMETIC_VERSION and changed is None:
                    changed = {"version": payload["arithmetic_version"], "iteration": start}

        def finish(done: int, *, write: bool = True) -> dict[str, Any]:
            summary = {
                **summarise(history),
                "iterations_requested": iterations,
                "seconds": elapsed,
                "seconds_per_iteration": elapsed / done if done else None,
                "task": task.name,
                "rule": repr(rule),
                "device": str(dev),
                "arithmetic_version": ARITHMETIC_VERSION,
            }
            if changed is not None:
                summary["arithmetic_version_resumed_from"] = changed
            if out is not None and write:
                _write_metrics(files["metrics_csv"], history)
                _write_json(files["metrics_json"], summary)
                if figure and history:
                    # the sequence arrays kept for the next iteration go back first, so that the
                    # plotting libraries load into that memory, not on top of it (the process peak)
                    workspace = getattr(net, "_workspace", None)
                    if workspace is not None:
                        workspace.clear()
                    plot_learning_curve(history, files["figure"], title=f"{task.name} · {rule!r}")
            return summary

        def checkpoint(done: int) -> None:
            if out is not None:
                save_checkpoint(
                    files["checkpoint"],
                    net=net,
                    optimizer=optimizer,
                    rule=rule,
                    iteration=done,
                    history=history,
                    settings=run_settings,
                    extra={
                        "seconds": elapsed,
                        **({} if changed is None else {"arithmetic_version_resumed_from": changed}),
                    },
                )
                _write_metrics(files["metrics_csv"], history)
                write_model(done)

        def write_model(done: int) -> None:
            # the trained network in a file of its own (neuromod_models.model_file), kept in step
            # with the checkpoint; a module other than SpikingNetwork has no model file
            if out is not None and isinstance(net, SpikingNetwork):
                save_model(files["model"], net, task=task, rule=rule, iteration=done)

        def validate(it: int) -> None:
            loss, acc, total = evaluate(
                net,
                task,
                batch_size=val_bs,
                n_batches=validation_batches,
                seed=seed,
                iteration=it,
                regularizer=rate_regularizer,
            )
            history.append(
                {"iteration": it, "split": "validation", "loss": loss, "accuracy": acc,
                 "total_loss": total}
            )  # fmt: skip

        if start > iterations:
            raise TrainingError(
                f"{out} holds a run of {start} iterations, more than the {iterations} asked for: "
                f"ask for {start} or more, or train into another folder"
            )
        if start == iterations:
            # finished: leave the files alone (new mtimes would make a workflow redo everything
            # downstream) unless one is missing, e.g. after a kill between checkpoint and summary
            wanted = [
                f
                for k, f in files.items()
                if k != "model" and (k != "figure" or (figure and history))
            ]
            if "model" in files and not files["model"].exists():
                write_model(start)  # a run finished before model files existed gets one
            return TrainResult(
                history, finish(start, write=not all(map(Path.exists, wanted))), out, files
            )

        if start == 0 and not any(r["split"] == "validation" for r in history):
            validate(0)

        bar = tqdm(
            total=iterations,
            initial=start,
            disable=not progress,
            desc=f"{task.name} {rule!r}",
            leave=False,
            dynamic_ncols=True,
        )
        it = start
        try:
            for it in range(start + 1, iterations + 1):
                t0 = time.perf_counter()
                batch = task.sample(
                    batch_size, seed=batch_seed(seed, "train", it), device=dev, dtype=dtype
                )
                optimizer.zero_grad(set_to_none=True)
                res = rule.backward(net, batch.x, task.loss_fn(batch), regularizer=rate_regularizer)
                loss = float(res.loss)
                total = loss + (float(res.penalty) if res.penalty is not None else 0.0)
                _check_finite(net, total, it)
                optimizer.step()
                net.apply_constraints(shrink=lr * float(l1))
                acc = task.accuracy(res.y, batch)
                record = {
                    "iteration": it,
                    "split": "train",
                    "loss": loss,
                    "accuracy": None if acc is None else float(acc),
                    "total_loss": total,
                }
                history.append(record)
                if it % validate_every == 0 or it == iterations:
                    validate(it)
                elapsed += time.perf_counter() - t0
                if it % checkpoint_every == 0 or it == iterations:
                    checkpoint(it)
                bar.update(1)
                bar.set_postfix(
                    loss=f"{loss:.3g}", **({} if acc is None else {"acc": f"{acc:.2f}"})
                )
                if callback is not None:
                    callback(it, record)
        except TrainingError:
            # keep what was measured up to the failure; the last good checkpoint stays untouched
            finish(max(it - 1, 0))
            raise
        finally:
            bar.close()
        return TrainResult(history, finish(iterations), out, files)

"""Measure seconds per training iteration of every (task, rule) at a grid's settings (default: the
authors' full protocol), so the results page can estimate the CPU time the pending jobs need.

    nice -n 19 python benchmarks/measure_iteration.py --config workflows/config/reproduction.yaml \\
        --iterations 3 --out experiments/timings.json

One thread, E/I network (structure ``ei``); the first iteration is a warm-up and not counted. The
task's training options that change the cost of a step (L1 shrinkage, firing-rate regulariser)
are applied as in the grid.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import yaml

from neuromod_data._files import atomic_path
from neuromod_data.experiments import grid as repro_grid
from neuromod_data.experiments.record import git_commit, machine


def measure(task_name: str, rule_name: str, settings: dict, iterations: int) -> float:
    import torch

    from neuromod_models import SpikingNetwork, make_rule
    from neuromod_models.tasks import make_task

    torch.set_num_threads(1)
    task = make_task(task_name, **(settings.get("task_options") or {}))
    net = SpikingNetwork(**{**task.network_kwargs(), **(settings.get("network") or {})}, seed=0)
    rule = make_rule(rule_name, seed=0)
    lr = float(settings.get("lr", 2.5e-3))
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    extra = {}
    if settings.get("rate_reg"):
        from neuromod_models.regularization import FiringRateRegularizer

        extra["regularizer"] = FiringRateRegularizer(
            float(settings["rate_reg"]), float(settings.get("rate_target_hz", 10.0))
        )
    shrink = lr * float(settings.get("l1") or 0.0)
    times = []
    for it in range(iterations + 1):
        batch = task.sample(int(settings["batch_size"]), seed=it)
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        rule.backward(net, batch.x, task.loss_fn(batch), **extra)
        opt.step()
        if shrink:
            net.apply_constraints(shrink=shrink)
        else:
            net.apply_constraints()
        if it:  # the first iteration warms up allocators and caches
            times.append(time.perf_counter() - t0)
    return sum(times) / len(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--config", default=repro_grid.DEFAULT_CONFIG)
    p.add_argument("--iterations", type=int, default=3)
    p.add_argument("--tasks", help="comma-separated subset of the config's tasks")
    p.add_argument("--rules", default="bptt,eprop,mdgl")
    p.add_argument("--out", default="experiments/timings.json")
    args = p.parse_args(argv)
    rc = yaml.safe_load(Path(args.config).read_text())["reproduction"]
    tasks = args.tasks.split(",") if args.tasks else list(rc["tasks"])
    out_path = Path(args.out)
    doc = json.loads(out_path.read_text()) if out_path.is_file() else {"timings": []}
    for task in tasks:
        s = rc["tasks"][task]
        for rule in args.rules.split(","):
            sec = measure(task, rule, s, args.iterations)
            row = {
                "task": task,
                "rule": rule,
                "batch_size": int(s["batch_size"]),
                "seconds_per_iteration": round(sec, 4),
                "iterations_timed": args.iterations,
                "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "git_commit": git_commit(),
                "machine": machine(),
                "python": platform.python_version(),
            }
            doc["timings"] = [
                r
                for r in doc["timings"]
                if (r["task"], r["rule"], r["batch_size"]) != (task, rule, row["batch_size"])
            ] + [row]
            print(
                f"{task:24s} {rule:6s} B={s['batch_size']:<3d} {sec:7.3f} s/iteration", flush=True
            )
    with atomic_path(out_path, suffix=".json") as tmp:
        tmp.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

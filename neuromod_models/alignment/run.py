"""The gradient alignment run: each seed's reference checkpoints (:func:`reference_states`)
and every arm scored on them (:func:`align`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from torch import Tensor

from neuromod_data.structure import CellTypeStructure

from ..network import SpikingNetwork
from .arms import make_arms
from .scoring import score_arms

#: columns of the per-(seed, batch, checkpoint, arm draw) table of :func:`align`
TABLE_COLUMNS: tuple[str, ...] = (
    "seed",
    "batch",
    "checkpoint",
    "arm",
    "draw",
    "label",
    "cosine",
    "norm_ratio",
    "cosine_exact",
    "distance_exact",
    "bptt_norm",
    "loss",
)


def reference_states(
    structure: CellTypeStructure | None,
    task: Any,
    *,
    seed: int,
    checkpoints: Iterable[int],
    network: dict[str, Any] | None = None,
    batch_size: int = 64,
    lr: float = 2.5e-3,
    variant: str = "local",
    l1: float = 0.0,
    rate_regularizer: Any = None,
) -> dict[int, dict[str, Tensor]]:
    """The reference trajectory of one seed: the network of ``seed`` trained with MDGL and the
    ``ones`` gate (so no gated arm is scored on a network its own gate trained), its state at every
    iteration of ``checkpoints`` (0: the initial network).

    Examples
    --------
    >>> from neuromod_models.tasks import make_task
    >>> task = make_task("evidence_accumulation", T=120, t_cue=10, t_interval=15, recall_duration=20)
    >>> states = reference_states(None, task, seed=0, checkpoints=[0, 2], batch_size=4)
    >>> sorted(states), bool((states[0]["theta_rec"] != states[2]["theta_rec"]).any())
    ([0, 2], True)
    """
    from ..rules import make_rule
    from ..training import train

    wanted = sorted({int(c) for c in checkpoints})
    if not wanted or wanted[0] < 0:
        raise ValueError(f"checkpoints must be iterations >= 0, got {wanted}")
    net = SpikingNetwork(
        **{**task.network_kwargs(), **(network or {})}, structure=structure, seed=int(seed)
    )
    states: dict[int, dict[str, Tensor]] = {}

    def snapshot(it: int) -> None:
        states[it] = {k: v.detach().clone() for k, v in net.state_dict().items()}

    if 0 in wanted:
        snapshot(0)
    if wanted[-1] > 0:
        rule = make_rule("mdgl", variant=variant, gate="ones", seed=int(seed))

        def on_iteration(it: int, record: dict[str, Any]) -> None:  # noqa: ARG001
            if it in wanted:
                snapshot(it)

        train(
            net,
            rule,
            task,
            iterations=wanted[-1],
            batch_size=int(batch_size),
            lr=float(lr),
            seed=int(seed),
            validate_every=max(wanted[-1], 1),
            l1=float(l1),
            rate_regularizer=rate_regularizer,
            threads=None,  # the caller's choice of threads stands
            progress=False,
            figure=False,
            callback=on_iteration,
        )
    return states


def _score_seed_batch(seed: int, index: int) -> int:
    """The seed of scoring batch ``index`` of ``seed``: a stream of its own, apart from training's
    and validation's (:func:`neuromod_models.training.batch_seed`)."""
    a, b = np.random.SeedSequence([int(seed), 7, int(index)]).generate_state(2)
    return int(a) << 31 ^ int(b)


def align(
    structure: CellTypeStructure,
    task: Any,
    *,
    seeds: Iterable[int],
    batches: int = 5,
    checkpoints: Iterable[int] = (0, 250, 500, 1000),
    batch_size: int = 64,
    network: dict[str, Any] | None = None,
    variant: str = "local",
    permutations: int = 999,
    grid_draws: int = 99,
    lr: float = 2.5e-3,
    l1: float = 0.0,
    rate_regularizer: Any = None,
    progress: Callable[[str], None] | None = None,
) -> Any:
    """Gradient alignment of every arm, per seed, scoring batch and checkpoint.

    For each seed: the reference trajectory (:func:`reference_states`), then at each checkpoint
    ``batches`` fixed batches (the same at every checkpoint), each scored for every arm
    (:func:`score_arms`). The regulariser, if any, is part of the training loss and of every
    arm's gradient.

    Returns
    -------
    pandas.DataFrame
        :data:`TABLE_COLUMNS`, one row per seed × batch × checkpoint × arm draw.

    Examples
    --------
    >>> from neuromod_models.tasks import make_task
    >>> task = make_task("evidence_accumulation", T=120, t_cue=10, t_interval=15, recall_duration=20)
    >>> t = align(CellTypeStructure.ei(), task, seeds=[0], batches=1, checkpoints=[0],
    ...           batch_size=4, network={"n_rec": 12, "n_adaptive": 6}, grid_draws=0)
    >>> sorted(t["arm"].unique())
    ['data', 'ei', 'eprop', 'exact', 'label-permuted', 'ones', 'uniform']
    """
    import pandas as pd

    arms = make_arms(structure, permutations=permutations, grid_draws=grid_draws)
    ckpts = sorted({int(c) for c in checkpoints})
    seeds = [int(s) for s in seeds]
    say = progress or (lambda _msg: None)
    parts = []
    for si, seed in enumerate(seeds):
        states = reference_states(
            structure,
            task,
            seed=seed,
            checkpoints=ckpts,
            network=network,
            batch_size=batch_size,
            lr=lr,
            variant=variant,
            l1=l1,
            rate_regularizer=rate_regularizer,
        )
        net = SpikingNetwork(
            **{**task.network_kwargs(), **(network or {})}, structure=structure, seed=seed
        )
        say(f"seed {seed} ({si + 1}/{len(seeds)}): reference trained to {ckpts[-1]}")
        batch_list = [
            task.sample(batch_size, seed=_score_seed_batch(seed, k)) for k in range(int(batches))
        ]
        for ckpt in ckpts:
            net.load_state_dict(states[ckpt])
            for k, batch in enumerate(batch_list):
                s = score_arms(
                    net,
                    batch.x,
                    task.loss_fn(batch),
                    arms,
                    variant=variant,
                    regularizer=rate_regularizer,
                )
                parts.append(
                    pd.DataFrame(
                        {
                            "seed": seed,
                            "batch": k,
                            "checkpoint": ckpt,
                            "arm": arms.name,
                            "draw": arms.draw,
                            "label": arms.label,
                            "cosine": s.cosine,
                            "norm_ratio": s.norm_ratio,
                            "cosine_exact": s.cosine_exact,
                            "distance_exact": s.distance_exact,
                            "bptt_norm": s.bptt_norm,
                            "loss": s.loss,
                        }
                    )
                )
            say(f"seed {seed}: checkpoint {ckpt} scored ({int(batches)} batches, {len(arms)} arms)")
    return pd.concat(parts, ignore_index=True)[list(TABLE_COLUMNS)]

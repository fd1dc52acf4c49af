"""neuromod_models: torch spiking networks whose neurons carry transcriptomic cell types.

Trains with BPTT, e-prop or MDGL; MDGL's modulatory signals follow the data-derived graph of a
:class:`neuromod_data.CellTypeStructure`.
"""

from __future__ import annotations

from .model_file import load_model, read_model, save_model
from .modulation import modulatory_matrix, resolve_gate, type_averaged_weights
from .network import NetworkOutput, SpikingNetwork
from .neurons import NeuronParameters, NeuronState, initial_state, make_parameters, step
from .rules import BPTT, MDGL, EProp, LearningRule, OnlineEprop, RuleOutput, make_rule

__all__ = [
    "BPTT",
    "MDGL",
    "EProp",
    "LearningRule",
    "NetworkOutput",
    "NeuronParameters",
    "NeuronState",
    "OnlineEprop",
    "RuleOutput",
    "SpikingNetwork",
    "initial_state",
    "load_model",
    "make_parameters",
    "make_rule",
    "modulatory_matrix",
    "read_model",
    "resolve_gate",
    "save_model",
    "step",
    "type_averaged_weights",
]

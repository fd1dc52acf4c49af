"""Shared helpers: config validation, paths, wildcard constraints and the target list."""

import os
import re
import shlex
import sys
from pathlib import Path

from snakemake.utils import validate

from neuromod_data.config_check import ConfigError, check_config

# One line naming the file, line and key (a key given twice, a misspelt key and the closest valid
# one, a bad value) instead of Snakemake's dump of the whole schema and config; validate() then
# fills in the schema's defaults.
try:
    check_config(
        config,
        Path(workflow.basedir) / "schemas" / "config.schema.yaml",
        # layered as Snakemake does: the Snakefile's configfile, then --configfile ones over it
        files=sorted(
            {Path(f).resolve() for f in workflow.configfiles},
            key=lambda f: f in {Path(o).resolve() for o in workflow.overwrite_configfiles},
        ),
    )
except ConfigError as _exc:
    print(f"neuromod workflow: error: {_exc}", file=sys.stderr)
    sys.exit(1)
validate(config, schema="../schemas/config.schema.yaml")

R = config["results"].rstrip("/")
DATASET = config["dataset"]
# "~" and $VARIABLES in file paths are expanded (e.g. path: $NEUROMOD_SHARED_DATA/allen_m1_patchseq/...)
for _key in ("path", "metadata"):
    if DATASET.get(_key):
        DATASET[_key] = os.path.expanduser(os.path.expandvars(DATASET[_key]))


def _slug(column):
    """A path-safe name for a label column ("RNA family" -> "RNA_family")."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", column).strip("_") or "label"


LEVELS = {_slug(c): c for c in config["groupby"]}
if len(LEVELS) != len(config["groupby"]):
    raise ValueError(f"groupby columns {config['groupby']} collide once made path-safe")

TRAIN_LEVELS = {
    _slug(c): c for c in (config["train"]["levels"] or config["groupby"])
}
_unknown = sorted(set(TRAIN_LEVELS.values()) - set(config["groupby"]))
if _unknown:
    raise ValueError(f"train.levels {_unknown} are not among groupby {config['groupby']}")

STATS = config["aggregate"]["stats"]
TRAIN = config["train"]

def q(value):
    """Shell-quote a value for a command line."""
    return shlex.quote(str(value))


def q_args(text):
    """Extra options given as one string: split like a shell would, each word quoted, so that a
    config value is never run as shell code (`$(...)`, `;`, `|` stay literal arguments)."""
    return shlex.join(shlex.split(str(text or "")))


def data_file():
    """The h5ad every reading step takes: generated, downloaded, converted, or the user's own h5ad."""
    source = DATASET["source"]
    if source == "local":
        if not DATASET.get("path"):
            raise ValueError("dataset.source is 'local' but dataset.path is not set")
        if DATASET["path"].endswith(".h5ad") and not DATASET.get("metadata"):
            return DATASET["path"]  # used in place (atlas-scale files are read backed, never copied)
    return f"{R}/data/{DATASET['name']}.h5ad"


def raw_inputs():
    """The user's file and, where given, its metadata table."""
    files = {"data": DATASET["path"]}
    if DATASET.get("metadata"):
        files["metadata"] = DATASET["metadata"]
    return files


def source_files():
    """Files whose checksums the report records."""
    if DATASET["source"] == "local":
        return list(raw_inputs().values())
    return [data_file()]


def aggregate_genes():
    """--genes option: the resource's ligand and receptor genes, all genes, or the configured list."""
    genes = config["aggregate"]["genes"]
    if genes == "all":
        return ""
    if genes == "resource":
        from neuromod_data.resources import load_resource

        table = load_resource(config["graph"]["resource"])
        symbols = []
        for column in ("ligand_genes", "receptor_genes"):
            for entry in table[column]:
                symbols.extend(g for g in str(entry).split("_") if g)
        genes = list(dict.fromkeys(symbols))
    return f"--genes {q(','.join(genes))}"


def train_variants():
    """bptt and e-prop once; MDGL once per modulation gate ("mdgl-data", "mdgl-shuffled", ...)."""
    variants = []
    for name in TRAIN["rules"]:
        if name == "mdgl":
            variants += [f"mdgl-{gate}" for gate in TRAIN["gates"]]
        else:
            variants.append(name)
    return variants


def train_targets():
    """metrics.json of every run: `neuromod train` writes it only when training has finished
    (metrics.csv and checkpoint.pt are rewritten at every checkpoint)."""
    return expand(
        f"{R}/train/{{level}}/{{variant}}/seed{{seed}}/metrics.json",
        level=TRAIN_LEVELS,
        variant=train_variants(),
        seed=TRAIN["seeds"],
    )


PHYSIOLOGY = config.get("physiology") or None
if PHYSIOLOGY:
    for _key in ("ephys", "ephys_metadata", "connectivity"):
        if PHYSIOLOGY.get(_key):
            PHYSIOLOGY[_key] = os.path.expanduser(os.path.expandvars(PHYSIOLOGY[_key]))


def structure_file(level):
    """The structure networks of a level are built from: the graph's, or with `physiology`
    configured, that structure with intrinsic parameters and connectivity added."""
    folder = "physiology" if PHYSIOLOGY else "graph"
    return f"{R}/{folder}/{level}/structure.npz"


def physiology_tables():
    """The tables the physiology step reads (its inputs)."""
    keys = ("ephys", "ephys_metadata", "ephys_warm", "ephys_warm_metadata", "connectivity")
    return [PHYSIOLOGY[k] for k in keys if PHYSIOLOGY and PHYSIOLOGY.get(k)]


def physiology_args(level):
    """Options of `neuromod physiology` for a level, every word shell-quoted: the config's keys
    and the level's label column (the types of its structure)."""
    args = []
    for key in ("ephys", "ephys_metadata", "ephys_warm", "ephys_warm_metadata", "method",
                "room_celsius", "warm_celsius", "fallback_label", "min_cells", "connectivity",
                "layer"):
        if PHYSIOLOGY.get(key) is not None:
            args += [f"--{key.replace('_', '-')}", str(PHYSIOLOGY[key])]
    args += ["--label", LEVELS[level]]
    args += shlex.split(str(PHYSIOLOGY.get("extra_args") or ""))
    return shlex.join(args)


def physiology_targets():
    return [structure_file(level) for level in TRAIN_LEVELS] if PHYSIOLOGY else []


def aggregate_targets():
    return expand(f"{R}/aggregate/{{level}}.{{stat}}.csv", level=LEVELS, stat=STATS)


def graph_targets():
    return expand(
        f"{R}/graph/{{level}}/{{name}}",
        level=LEVELS,
        name=["interactions.csv", "graph.graphml", "structure.npz"],
    )

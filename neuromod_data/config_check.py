"""Checks of YAML config files that end in one line naming the file, line and key at fault.

Used by the workflow (``workflows/rules/common.smk``) before Snakemake's own validation, which
prints the whole schema and config (hundreds of lines) for a misspelt key, and by
``neuromod train --config``:

* :func:`load_yaml` reads YAML refusing a key given twice in one mapping (PyYAML keeps the last
  one silently, so a setting edited in one place may be overridden by a forgotten copy below);
* :func:`check_config` checks a config against a JSON schema and reports the first error as one
  line: an unknown key with the closest valid one, or the value and rule at fault, with the file
  and line where the key is written.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from neuromod_data.errors import FormatError

__all__ = ["ConfigError", "UniqueKeyLoader", "check_config", "check_files", "load_yaml"]


class ConfigError(FormatError):
    """A config file or value breaks its schema or repeats a key (one line, naming both)."""


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping.

    Examples
    --------
    >>> yaml.load("a: 1\\nb: 2\\na: 3\\n", Loader=UniqueKeyLoader)
    Traceback (most recent call last):
    ...
    neuromod_data.config_check.ConfigError: <unicode string>: line 3: key 'a' is given twice (first on line 1); keep one
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` may be overridden
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: PyYAML itself refuses it below
                continue
            line = key_node.start_mark.line + 1
            if first is not None:
                raise ConfigError(
                    f"{key_node.start_mark.name}: line {line}: key {key!r} is given twice "
                    f"(first on line {first}); keep one"
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: str | os.PathLike) -> Any:
    """The content of a YAML file; a repeated key or a syntax error is one :class:`ConfigError`
    naming the file and line."""
    p = Path(path)
    text = p.read_text()
    loader = UniqueKeyLoader(text)
    loader.name = str(p)  # marks (and so messages) carry the file name
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{p}: line {mark.line + 1}" if mark is not None else str(p)
        what = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: cannot parse YAML ({' '.join(str(what).split())})") from None
    finally:
        loader.dispose()


def check_files(files: Iterable[str | os.PathLike]) -> None:
    """Read each YAML file with :func:`load_yaml` (repeated keys, syntax) and discard it."""
    for f in files:
        load_yaml(f)


def _line_of(files: Sequence[Path], path: Sequence[Any]) -> str:
    """``file: line N`` of the last file that writes the key at ``path``, else ``""``."""
    found = ""
    for f in files:
        try:
            node = yaml.compose(f.read_text(), Loader=yaml.SafeLoader)
        except (OSError, yaml.YAMLError):
            continue
        key_node = None
        for part in path:
            if isinstance(node, yaml.MappingNode):
                match = [(k, v) for k, v in node.value if k.value == str(part)]
                if not match:
                    key_node = None
                    break
                key_node, node = match[-1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if part >= len(node.value):
                    key_node = None
                    break
                key_node = node = node.value[part]
            else:
                key_node = None
                break
        if key_node is not None:
            found = f"{f}: line {key_node.start_mark.line + 1}: "
    return found


def _dotted(path: Sequence[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def check_config(
    config: Mapping[str, Any],
    schema: str | os.PathLike | Mapping[str, Any],
    *,
    files: Iterable[str | os.PathLike] = (),
) -> None:
    """Check ``config`` against a JSON ``schema`` (a file or a mapping); raise one
    :class:`ConfigError` line for the first error, naming the file and line that set the key.

    ``files`` are the config files ``config`` was read from (in the order they were layered):
    each is read again with :func:`load_yaml`, so a key given twice is refused too.

    Examples
    --------
    >>> schema = {"type": "object", "additionalProperties": False,
    ...           "properties": {"train": {"type": "object"}, "results": {"type": "string"}}}
    >>> check_config({"trian": {}}, schema)
    Traceback (most recent call last):
    ...
    neuromod_data.config_check.ConfigError: unknown key 'trian'; did you mean 'train'?
    """
    import jsonschema

    paths = [Path(f) for f in files]
    check_files(paths)
    if not isinstance(schema, Mapping):
        schema = yaml.safe_load(Path(schema).read_text())
    cls = jsonschema.validators.validator_for(schema)
    errors = list(cls(schema).iter_errors(config))
    if not errors:
        return
    # unknown keys first: a misspelt key usually also leaves a required one missing
    unknown = [e for e in errors if e.validator == "additionalProperties"]
    error = unknown[0] if unknown else jsonschema.exceptions.best_match(errors)
    path = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        known = list((error.schema.get("properties") or {}).keys())
        extra = [k for k in error.instance if k not in known]
        key = extra[0] if extra else "?"
        close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(known)}"
        name = f"{_dotted(path)}.{key}" if path else str(key)
        where = _line_of(paths, [*path, key])
        raise ConfigError(f"{where}unknown key {name!r}; {hint}")
    where = _line_of(paths, path)
    text = " ".join(error.message.split())
    if len(text) > 300:
        text = text[:297] + "..."
    at = _dotted(path) or "the config"
    raise ConfigError(f"{where}{at}: {text} (schema ValidationError)")

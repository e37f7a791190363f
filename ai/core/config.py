"""Pipeline configuration: one YAML file, validated, with ``${ENV_VAR}`` interpolation.

Secrets never sit in config files: a value such as ``${OVH_S3_SECRET_ACCESS_KEY}`` is resolved from the
environment at load time, and the file written back into the run directory keeps the ``${...}`` form.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import msgspec
import yaml

# The config vocabulary of source kinds; ai/sourcing/registry.py binds each to its reader module.
SourceKind = Literal["dataset", "academic", "books", "youtube", "synthetic"]
SOURCE_KINDS: tuple[str, ...] = get_args(SourceKind)


class ConfigError(ValueError):
    """A config problem, with a message that names the key and what is wrong."""


class RunOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str = "run"
    # numpy's and Python's seeded generators take 0 .. 2**32-1; outside it they fail deep in a stage.
    seed: Annotated[int, msgspec.Meta(ge=0, le=2**32 - 1)] = 42
    shard_size: Annotated[int, msgspec.Meta(ge=1, le=10_000_000)] = 2000
    workers: Annotated[int, msgspec.Meta(ge=0, le=4096)] = 0  # 0 = one per core
    on_error: Literal["quarantine", "fail"] = "quarantine"
    executor: Literal["local", "ray"] = "local"
    ray_address: str = ""


class SourceConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One input source. ``path`` is a file, directory or glob, relative to the config file."""

    name: str
    kind: SourceKind = "dataset"
    path: str | list[str] = ""
    format: str = "auto"
    license: str = ""
    category: str = "therapeutic"
    enabled: bool = True
    # Reader-specific settings (column mapping, windowing, encodings, API queries ...).
    options: dict[str, Any] = msgspec.field(default_factory=dict)

    def paths(self) -> list[str]:
        return [self.path] if isinstance(self.path, str) else list(self.path)


class SplitRatios(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    train: float = 0.70
    validation: float = 0.15
    test: float = 0.15

    def __post_init__(self) -> None:
        total = self.train + self.validation + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"split ratios must add up to 1.0, got {total:g}")
        if min(self.train, self.validation, self.test) < 0:
            raise ValueError("split ratios must not be negative")


class ExportOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    formats: list[str] = msgspec.field(default_factory=lambda: ["openai_jsonl"])
    options: dict[str, Any] = msgspec.field(default_factory=dict)


class CatalogOptions(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    enabled: bool = True
    url: str = ""  # empty: DATABASE_URL, else a SQLite file in the workspace


class PipelineConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    run: RunOptions = msgspec.field(default_factory=RunOptions)
    sources: list[SourceConfig] = msgspec.field(default_factory=list)
    # stage name -> options; the orchestrator owns the order and validates each stage's options.
    stages: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    split: SplitRatios = msgspec.field(default_factory=SplitRatios)
    export: ExportOptions = msgspec.field(default_factory=ExportOptions)
    catalog: CatalogOptions = msgspec.field(default_factory=CatalogOptions)
    # Directory that relative source paths are resolved against (the config file's directory).
    base_dir: str = ""

    def resolve_path(self, path: str) -> Path:
        p = Path(os.path.expanduser(path))
        return p if p.is_absolute() else Path(self.base_dir or ".") / p


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def interpolate_env(value: Any, path: str = "", env: dict[str, str] | None = None) -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string of a loaded YAML tree."""
    env = os.environ if env is None else env
    if isinstance(value, dict):
        return {k: interpolate_env(v, f"{path}.{k}" if path else str(k), env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate_env(v, f"{path}[{i}]", env) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise ConfigError(
            f"{path or '(top level)'}: environment variable {name} is not set "
            f"(write ${{{name}:-default}} to allow a default)"
        )

    return _ENV_REF.sub(substitute, value)


def parse_config(data: Any, base_dir: str | Path = ".", origin: str = "<config>") -> PipelineConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: the top level must be a mapping, got {type(data).__name__}")
    data = interpolate_env(data)
    data.setdefault("base_dir", str(base_dir))
    try:
        return msgspec.convert(data, PipelineConfig, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{origin}: {_humanise(str(exc))}") from None


# A config file is a few hundred nodes; YAML aliases can make a 500-byte file expand to billions.
MAX_EXPANDED_NODES = 100_000


def load_yaml(text: str, origin: str) -> Any:
    """``yaml.safe_load`` that first refuses aliases expanding past ``MAX_EXPANDED_NODES`` nodes.

    Aliases share one node in the composed graph, so its expanded size is counted without expanding
    it: each node once, memoised. Interpolation would otherwise copy every shared reference.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, origin) from None
    if root is not None:
        size = _expanded_size(root, {}, set(), origin)
        if size > MAX_EXPANDED_NODES:
            raise ConfigError(
                f"{origin}: YAML aliases expand to {size:,} nodes, over the limit of {MAX_EXPANDED_NODES:,} "
                "(an alias bomb?); write the values out instead"
            )
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, origin) from None


def _expanded_size(node: yaml.Node, sizes: dict[int, int], open_nodes: set[int], origin: str) -> int:
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_nodes:
        raise ConfigError(f"{origin}: a YAML alias refers to a node that contains it (a cycle)")
    open_nodes.add(key)
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(child, sizes, open_nodes, origin) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            size += _expanded_size(k, sizes, open_nodes, origin) + _expanded_size(
                v, sizes, open_nodes, origin
            )
    open_nodes.discard(key)
    sizes[key] = min(size, MAX_EXPANDED_NODES + 1)  # capped: the sum cannot grow without bound either
    return sizes[key]


def _yaml_error(exc: yaml.YAMLError, origin: str) -> ConfigError:
    mark = getattr(exc, "problem_mark", None)
    where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    return ConfigError(f"{origin}:{where}: invalid YAML: {getattr(exc, 'problem', exc)}")


def load_config(path: str | Path) -> PipelineConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    data = load_yaml(text, str(path))
    return parse_config(data, base_dir=path.resolve().parent, origin=str(path))


def _humanise(message: str) -> str:
    """msgspec says 'Expected `int`, got `str` - at `$.run.seed`'; put the key first."""
    if " - at `" in message:
        what, where = message.rsplit(" - at `", 1)
        key = where.rstrip("`").removeprefix("$.").removeprefix("$") or "(top level)"
        return f"{key}: {what}"
    return message


def stable_hash(obj: Any) -> str:
    """Hash of any msgspec-encodable value, independent of dict ordering."""
    return hashlib.sha256(msgspec.json.encode(obj, order="sorted")).hexdigest()[:16]

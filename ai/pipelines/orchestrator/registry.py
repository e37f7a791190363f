"""Finding stage classes: by name through the stage registry (``ai/core/registry.py``), or by target.

The registry is the only place that knows which stages exist and their order. A stage is found by its
``name`` attribute inside the module listed there, so modules are imported only when a plan uses them.
"""

from __future__ import annotations

import importlib
from functools import cache

from ai.core.registry import STAGE_MODULES
from ai.core.stage import Stage

STAGE_ORDER: list[str] = list(STAGE_MODULES)


class UnknownStageError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


@cache
def stage_class(name: str, module: str | None = None) -> type[Stage]:
    """The Stage subclass called ``name`` (from the registry, or from ``module`` when given)."""
    module_name = module or STAGE_MODULES.get(name)
    if module_name is None:
        raise UnknownStageError(f"unknown stage {name!r}; known stages: {', '.join(STAGE_ORDER)}")
    mod = importlib.import_module(module_name)
    for obj in vars(mod).values():
        if isinstance(obj, type) and issubclass(obj, Stage) and getattr(obj, "name", None) == name:
            return obj
    raise UnknownStageError(f"module {module_name} defines no stage named {name!r}")


def stage_target(cls: type[Stage]) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


@cache
def resolve_target(target: str) -> type[Stage]:
    module_name, _, qualname = target.partition(":")
    obj: object = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, Stage)):
        raise UnknownStageError(f"{target} is not a Stage")
    return obj

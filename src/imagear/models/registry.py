"""The model registry: built-ins, registered classes and entry-point plugins (the merge rule
of one generation's parameters is in :mod:`imagear.models.resolve`).

Lookups accept aliases, case-insensitively. Plugins (entry point group ``imagear.models``) are
loaded once, lazily, the first time a name is not found among the built-ins or when every model
is listed. A plugin that fails to load gives one :class:`PluginWarning` and is skipped.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points
from typing import TypeVar

from imagear.errors import UnknownModel
from imagear.models.base import ModelDescriptor
from imagear.models.cogvideox import CogVideoX2B, CogVideoX5BI2V
from imagear.models.kenburns import KenBurns
from imagear.models.ltx import LTXVideo
from imagear.models.svd import SVD, SVDXT
from imagear.models.wan import Wan21
from imagear.models.wan22 import Wan22, Wan22A14B

ENTRY_POINT_GROUP = "imagear.models"

BUILTINS: tuple[type[ModelDescriptor], ...] = (
    SVD,
    SVDXT,
    CogVideoX2B,
    CogVideoX5BI2V,
    Wan21,
    Wan22,
    Wan22A14B,
    LTXVideo,
    KenBurns,
)

D = TypeVar("D", bound=type[ModelDescriptor])


class PluginWarning(UserWarning):
    """A model plugin could not be loaded (or clashes with a known model); it is skipped."""


_registry: dict[str, ModelDescriptor] = {}
_plugins: list[ModelDescriptor] | None = None


def _key(name: str) -> str:
    return name.strip().lower()


def _init_builtins() -> None:
    _registry.clear()
    for cls in BUILTINS:
        _registry[cls.name] = cls()


def _names_of(desc: ModelDescriptor | type[ModelDescriptor]) -> set[str]:
    return {_key(desc.name), *(_key(a) for a in desc.aliases)}


def _taken(names: set[str], among: Iterable[ModelDescriptor]) -> ModelDescriptor | None:
    for desc in among:
        if names & _names_of(desc):
            return desc
    return None


def register(descriptor_class: D, *, replace: bool = False) -> D:
    """Add a descriptor class to the registry (usable as a class decorator); returns it.

    A name or alias already taken raises ValueError, unless ``replace`` is true, in which case
    the model holding it is dropped (:func:`reset_registry` brings the built-ins back).
    """
    if not (isinstance(descriptor_class, type) and issubclass(descriptor_class, ModelDescriptor)):
        raise TypeError(f"register() needs a ModelDescriptor subclass, not {descriptor_class!r}")
    if not descriptor_class.name or descriptor_class.name != _key(descriptor_class.name):
        raise ValueError(f"{descriptor_class.__name__}.name must be a non-empty lowercase name")
    names = _names_of(descriptor_class)
    while (clash := _taken(names, _registry.values())) is not None:
        if not replace:
            raise ValueError(
                f"model name {descriptor_class.name!r} or an alias clashes with {clash.name!r}"
            )
        del _registry[clash.name]
    _registry[descriptor_class.name] = descriptor_class()
    return descriptor_class


def unregister(name: str) -> None:
    """Remove a registered model by name or alias (a no-op when it is not registered)."""
    for desc in list(_registry.values()):
        if _key(name) in _names_of(desc):
            del _registry[desc.name]


def reset_plugin_cache() -> None:
    """Forget the loaded plugins so the next lookup reads the entry points again (tests)."""
    global _plugins
    _plugins = None


def reset_registry() -> None:
    """Back to the built-ins only, and forget the plugins (tests)."""
    _init_builtins()
    reset_plugin_cache()


def _plugin_classes(obj: object) -> list[type[ModelDescriptor]]:
    if isinstance(obj, type) and issubclass(obj, ModelDescriptor):
        return [obj]
    if isinstance(obj, type) or not callable(obj):
        raise TypeError(f"{obj!r} is not a ModelDescriptor subclass or a function returning them")
    result = obj()
    items = list(result) if isinstance(result, Iterable) else [result]
    for item in items:
        if not (isinstance(item, type) and issubclass(item, ModelDescriptor)):
            raise TypeError(f"it returned {item!r}, which is not a ModelDescriptor subclass")
    return items


def _plugin_warning(ep: EntryPoint, problem: str) -> None:
    dist = ep.dist.name if ep.dist is not None else None
    remove = (
        f"Remove it with `pip uninstall {dist}`."
        if dist
        else f"Remove the package that declares {ep.value!r} in entry point group "
        f"{ENTRY_POINT_GROUP!r}."
    )
    source = f" (package {dist})" if dist else ""
    warnings.warn(
        f"Model plugin {ep.name!r}{source} {problem}; it is skipped and every other model "
        f"still works. {remove}",
        PluginWarning,
        stacklevel=3,
    )


def _load_plugins() -> list[ModelDescriptor]:
    """Load (once) every descriptor from the ``imagear.models`` entry points."""
    global _plugins
    if _plugins is not None:
        return _plugins
    loaded: list[ModelDescriptor] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            classes = _plugin_classes(ep.load())
        except Exception as exc:  # a plugin must never break imagear
            _plugin_warning(ep, f"failed to load ({type(exc).__name__}: {exc})")
            continue
        for cls in classes:
            clash = _taken(_names_of(cls), [*_registry.values(), *loaded])
            if clash is not None:
                _plugin_warning(ep, f"offers model {cls.name!r}, which clashes with {clash.name!r}")
                continue
            loaded.append(cls())
    _plugins = loaded
    return loaded


def _find(name: str, among: Iterable[ModelDescriptor]) -> ModelDescriptor | None:
    key = _key(name)
    for desc in among:
        if key in _names_of(desc):
            return desc
    return None


def get_model(name: str) -> ModelDescriptor:
    """The descriptor for ``name`` or one of its aliases (case-insensitive).

    Plugins are loaded only when the name is not a built-in or registered model.
    Raises :class:`~imagear.errors.UnknownModel` naming the known models.
    """
    found = _find(name, _registry.values()) or _find(name, _load_plugins())
    if found is None:
        known = ", ".join(d.name for d in list_models())
        raise UnknownModel(f"Unknown model {name!r}. Known models: {known}.")
    return found


def list_models() -> list[ModelDescriptor]:
    """Every model: built-ins and registered ones first, then plugins."""
    return [*_registry.values(), *_load_plugins()]


_init_builtins()

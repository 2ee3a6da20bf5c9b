"""Model descriptors and the registry (built-ins plus plugins from entry point group
``imagear.models``), and the merge rule of one generation's parameters.

Importing this package is cheap: it never imports torch, diffusers, av or the server stack;
engines are imported by :meth:`ModelDescriptor.create_engine` when one is needed. The names
below are imported from their modules when first used, so that :mod:`imagear.models.names`
(the built-ins' names, for validating ``ar_model``) does not load pydantic. Options are
known by their option names; how a front end takes them is its :class:`Wording`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from imagear.lazy import lazy_names

if TYPE_CHECKING:
    from imagear.models.base import (
        COMMON_PARAMETERS,
        BaseOptions,
        ModelDescriptor,
        OptionProblem,
    )
    from imagear.models.registry import (
        BUILTINS,
        ENTRY_POINT_GROUP,
        PluginWarning,
        get_model,
        list_models,
        register,
        reset_plugin_cache,
        reset_registry,
        unregister,
    )
    from imagear.models.resolve import (
        Resolved,
        resolve_generation,
    )
    from imagear.models.seed import (
        MAX_RANDOM_SEED,
        random_seed,
    )
    from imagear.models.wording import (
        OPTION_NAMES,
        GivenAs,
        OptionNames,
        Wording,
    )

_HOMES: dict[str, tuple[str, ...]] = {
    "base": ("COMMON_PARAMETERS", "BaseOptions", "ModelDescriptor", "OptionProblem"),
    "registry": (
        "BUILTINS",
        "ENTRY_POINT_GROUP",
        "PluginWarning",
        "get_model",
        "list_models",
        "register",
        "reset_plugin_cache",
        "reset_registry",
        "unregister",
    ),
    "resolve": ("Resolved", "resolve_generation"),
    "seed": ("MAX_RANDOM_SEED", "random_seed"),
    "wording": ("OPTION_NAMES", "GivenAs", "OptionNames", "Wording"),
}
__getattr__ = lazy_names(__name__, _HOMES)
__all__ = [
    "BUILTINS",
    "COMMON_PARAMETERS",
    "ENTRY_POINT_GROUP",
    "MAX_RANDOM_SEED",
    "OPTION_NAMES",
    "BaseOptions",
    "GivenAs",
    "ModelDescriptor",
    "OptionNames",
    "OptionProblem",
    "PluginWarning",
    "Resolved",
    "Wording",
    "get_model",
    "list_models",
    "random_seed",
    "register",
    "reset_plugin_cache",
    "reset_registry",
    "resolve_generation",
    "unregister",
]

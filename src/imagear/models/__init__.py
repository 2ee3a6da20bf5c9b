"""Model descriptors and the registry (built-ins plus plugins from entry point group
``imagear.models``).

Importing this package is cheap: it never imports torch, diffusers, av or the server stack;
engines are imported by :meth:`ModelDescriptor.create_engine` when one is needed.
"""

from imagear.models.base import FLAGS, BaseOptions, ModelDescriptor
from imagear.models.registry import (
    BUILTINS,
    ENTRY_POINT_GROUP,
    PluginWarning,
    Resolved,
    get_model,
    list_models,
    register,
    reset_plugin_cache,
    reset_registry,
    resolve_generation,
    unregister,
)
from imagear.models.seed import MAX_RANDOM_SEED, random_seed

__all__ = [
    "BUILTINS",
    "ENTRY_POINT_GROUP",
    "FLAGS",
    "MAX_RANDOM_SEED",
    "BaseOptions",
    "ModelDescriptor",
    "PluginWarning",
    "Resolved",
    "get_model",
    "list_models",
    "random_seed",
    "register",
    "reset_plugin_cache",
    "reset_registry",
    "resolve_generation",
    "unregister",
]

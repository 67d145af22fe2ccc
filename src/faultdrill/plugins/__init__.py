"""Extending faultdrill without forking it: fault kinds, samplers and journey packs from installed packages.

A package adds them by naming classes (or, for journeys, a module) under the entry-point groups
``faultdrill.faults``, ``faultdrill.samplers`` and ``faultdrill.journeys``; the built-ins are
registered the same way in faultdrill's own ``pyproject.toml``. ``api`` is what a plugin imports,
``registry`` finds and checks what is installed. See ``docs/extensions.md``.
"""

from faultdrill.plugins.api import (
    API_VERSION,
    FaultKind,
    FaultTarget,
    Healed,
    HealError,
    HealTarget,
    NoOptions,
    Sampler,
    SamplerKind,
    SamplerTarget,
)

__all__ = [
    "API_VERSION",
    "FaultKind",
    "FaultTarget",
    "HealError",
    "HealTarget",
    "Healed",
    "NoOptions",
    "Sampler",
    "SamplerKind",
    "SamplerTarget",
]

"""``group(name)``: the registry of Lie groups by name."""

from __future__ import annotations

from .euclidean import SE2, SE3
from .lie_group import LieGroup
from .rotations import SO2, SO3
from .translations import Translations

_GROUPS = {
    "T(2)": lambda: Translations(2),
    "T(3)": lambda: Translations(3),
    "SO(2)": SO2,
    "SO(3)": SO3,
    "SE(2)": SE2,
    "SE(3)": SE3,
}

GROUP_NAMES: tuple[str, ...] = tuple(_GROUPS)


def group(name: str | LieGroup) -> LieGroup:
    """The Lie group called ``name`` (one of ``GROUP_NAMES``); a ``LieGroup`` is returned as is."""
    if isinstance(name, LieGroup):
        return name
    if name not in _GROUPS:
        raise ValueError(f"unknown Lie group {name!r}; valid names are {', '.join(GROUP_NAMES)}")
    return _GROUPS[name]()

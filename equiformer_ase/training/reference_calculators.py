"""Reference calculators by name: what active learning labels its frames with.

``"emt"`` is ASE's EMT, ``"gfn2"`` GFN2-xTB through tblite, and ``"module:Class"`` any importable
ASE calculator class (constructed without arguments). A factory is returned so each frame can get
a fresh calculator (no state carried between unrelated structures).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from ase.calculators.calculator import BaseCalculator
from ase.calculators.emt import EMT

from .molecules_data import gfn2_xtb

NAMED = {"emt": EMT, "gfn2": gfn2_xtb}


def reference_calculator(spec: str) -> Callable[[], BaseCalculator]:
    """A factory of fresh reference calculators for ``spec`` ("emt", "gfn2" or "module:Class").

    Raises ValueError (one line) for an unknown name, a module that does not import, a class it lacks
    or one that is not an ASE calculator, and ImportError when tblite is missing for "gfn2".
    """
    if spec in NAMED:
        factory = NAMED[spec]
        factory()  # fail now, not after exploring, if e.g. tblite is missing
        return factory
    module_name, _, class_name = spec.partition(":")
    if not module_name or not class_name:
        raise ValueError(
            f"unknown reference calculator {spec!r}: use emt, gfn2 or an ASE calculator as module:Class"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"reference calculator {spec!r}: cannot import {module_name} ({err})") from None
    factory = getattr(module, class_name, None)
    if factory is None:
        raise ValueError(f"reference calculator {spec!r}: {module_name} has no calculator class {class_name}")
    if not (isinstance(factory, type) and issubclass(factory, BaseCalculator)):
        raise ValueError(
            f"reference calculator {spec!r}: {module_name}.{class_name} is not an ASE calculator class "
            "(a subclass of ase.calculators.calculator.BaseCalculator)"
        )
    return factory

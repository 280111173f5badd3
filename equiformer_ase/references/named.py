"""Reference calculators by name: what generated data and active learning label their frames with.

``"emt"`` is ASE's EMT, ``"gfn2"`` GFN2-xTB through tblite, ``"pbe"`` PBE/def2-SVP through PySCF
(the rMD17 level; ``"pyscf:XC/BASIS"`` for another functional or basis, e.g. ``"pyscf:B3LYP/def2-TZVP"``),
and ``"module:Class"`` any importable ASE calculator class (constructed without arguments). A factory
is returned so each structure can get a fresh calculator. DFT calculators come wrapped in the label
cache (:mod:`.label_cache`), so no geometry is computed twice.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import partial
from pathlib import Path

from ase.calculators.calculator import BaseCalculator
from ase.calculators.emt import EMT

from .label_cache import CachedCalculator, LabelCache
from .pyscf_dft import PySCFDFT
from .xtb import gfn2_xtb

NAMED = {"emt": EMT, "gfn2": gfn2_xtb}
DFT_ALIASES = {"pbe": "pyscf:PBE/def2-SVP"}
USAGE = "use emt, gfn2, pbe, pyscf:XC/BASIS or an ASE calculator as module:Class"


def _dft_parts(spec: str) -> tuple[str, str] | None:
    """(functional, basis) of a PySCF spec, None for any other spec; ValueError for a malformed one."""
    spec = DFT_ALIASES.get(spec.lower(), spec)
    if not spec.startswith("pyscf:"):
        return None
    xc, slash, basis = spec.removeprefix("pyscf:").partition("/")
    if not xc or not slash or not basis:
        raise ValueError(f"reference calculator {spec!r}: write a PySCF DFT method as pyscf:XC/BASIS")
    return xc, basis


def _cached_dft(xc: str, basis: str, threads: int | None, cache: LabelCache) -> CachedCalculator:
    return CachedCalculator(PySCFDFT(xc=xc, basis=basis, threads=threads), cache)


def reference_description(spec: str) -> str:
    """What a label by ``spec`` means, for recipes and cards (a DFT spec gives every setting)."""
    parts = _dft_parts(spec)
    if parts is None:
        return spec
    return PySCFDFT(xc=parts[0], basis=parts[1]).method


def reference_calculator(
    spec: str, threads: int | None = None, cache: str | Path | LabelCache | None = None
) -> Callable[[], BaseCalculator]:
    """A factory of fresh reference calculators for ``spec`` (see the module's docstring).

    ``threads`` and ``cache`` (a path, a :class:`LabelCache`, or None for the default path) apply to
    DFT specs. Raises ValueError (one line) for an unknown name, a module that does not import, a class
    it lacks or one that is not an ASE calculator, and ImportError when tblite (``gfn2``) or pyscf
    (DFT) is missing.
    """
    if spec in NAMED:
        factory = NAMED[spec]
        factory()  # fail now, not after exploring, if e.g. tblite is missing
        return factory
    parts = _dft_parts(spec)
    if parts is not None:
        PySCFDFT(xc=parts[0], basis=parts[1], threads=threads)  # fail now if pyscf is missing
        store = cache if isinstance(cache, LabelCache) else LabelCache(cache)
        return partial(_cached_dft, parts[0], parts[1], threads, store)
    module_name, _, class_name = spec.partition(":")
    if not module_name or not class_name:
        raise ValueError(f"unknown reference calculator {spec!r}: {USAGE}")
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

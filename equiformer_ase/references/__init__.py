"""Reference calculators: what labels training data (ASE's EMT, GFN2-xTB, PBE through PySCF, any ASE
calculator), and the label cache that keeps any label from being computed twice. Nothing here knows
about the model."""

from .label_cache import CachedCalculator, LabelCache, default_cache_path
from .named import reference_calculator, reference_description
from .pyscf_dft import PySCFDFT, SCFNotConvergedError
from .xtb import gfn2_xtb

__all__ = [
    "CachedCalculator",
    "LabelCache",
    "PySCFDFT",
    "SCFNotConvergedError",
    "default_cache_path",
    "gfn2_xtb",
    "reference_calculator",
    "reference_description",
]

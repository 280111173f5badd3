"""GFN2-xTB through tblite: the cheap semi-empirical reference for molecules."""

from __future__ import annotations


def gfn2_xtb():
    """A fresh GFN2-xTB ASE calculator from tblite, or an ImportError saying how to install it."""
    try:
        from tblite.ase import TBLite
    except ImportError as err:
        raise ImportError(
            "molecule reference data needs tblite (GFN2-xTB): pip install 'equiformer-ase[data]'"
        ) from err
    return TBLite(method="GFN2-xTB", verbosity=0)

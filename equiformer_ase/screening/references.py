"""Gas-phase references for adsorption energies, in the OC20 style.

Every element of an adsorbate takes its chemical potential from four relaxed gas molecules,
computed with the same potential as the slabs:

    mu(H) = E(H2) / 2
    mu(O) = E(H2O) - E(H2)
    mu(C) = E(CO) - mu(O)  = E(CO) - E(H2O) + E(H2)
    mu(N) = E(N2) / 2

    E_ads = E(slab + adsorbate) - E(slab) - sum over adsorbate atoms of mu(element)

so, e.g., E_ads(OH) = E(slab+OH) - E(slab) - (E(H2O) - E(H2) / 2).
"""

from __future__ import annotations

from collections import Counter

from ase import Atoms
from ase.build import molecule

GAS_REFERENCES = ("H2", "H2O", "CO", "N2")
VACUUM = 6.0  # Angstrom around each gas molecule


def gas_molecule(name: str) -> Atoms:
    """G2 geometry of a reference molecule, non-periodic, centred with ``VACUUM`` around it."""
    if name not in GAS_REFERENCES:
        raise ValueError(f"unknown gas reference {name!r}; choose one of {', '.join(GAS_REFERENCES)}")
    atoms = molecule(name)
    atoms.center(vacuum=VACUUM)
    return atoms


def chemical_potentials(gas_energies: dict[str, float]) -> dict[str, float]:
    """mu (eV) of H, O, C and N from the energies (eV) of the relaxed molecules in ``GAS_REFERENCES``."""
    missing = [name for name in GAS_REFERENCES if name not in gas_energies]
    if missing:
        raise ValueError(f"gas references missing: {', '.join(missing)}")
    e = gas_energies
    mu_o = e["H2O"] - e["H2"]
    return {"H": 0.5 * e["H2"], "O": mu_o, "C": e["CO"] - mu_o, "N": 0.5 * e["N2"]}


def adsorption_energy(
    e_system: float, e_slab: float, adsorbate_symbols: list[str], potentials: dict[str, float]
) -> float:
    """E(slab + adsorbate) - E(slab) - sum of mu over the adsorbate's atoms, eV."""
    unknown = sorted(set(adsorbate_symbols) - set(potentials))
    if unknown:
        raise ValueError(
            f"no gas reference for {', '.join(unknown)}: adsorbates may contain only {', '.join(potentials)}"
        )
    return e_system - e_slab - sum(n * potentials[s] for s, n in Counter(adsorbate_symbols).items())

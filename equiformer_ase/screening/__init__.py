"""OC20-style adsorbate screening: surfaces, sites, adsorbates, gas references, the Dask workflow."""

from .adsorbates import Adsorbate, adsorbate, adsorbate_from_atoms, place_adsorbate
from .anomalies import detect_anomaly
from .references import GAS_REFERENCES, adsorption_energy, chemical_potentials, gas_molecule
from .sites import Site, find_sites, surface_atoms
from .surfaces import FACET_BUILDERS, build_surface, fcc_metals, surface_name
from .workflow import Screening, ScreeningSpec, best_sites, compare_methods

__all__ = [
    "Adsorbate", "FACET_BUILDERS", "GAS_REFERENCES", "Screening", "ScreeningSpec", "Site", "adsorbate",
    "adsorbate_from_atoms", "adsorption_energy", "best_sites", "build_surface", "chemical_potentials",
    "compare_methods", "detect_anomaly", "fcc_metals", "find_sites", "gas_molecule", "place_adsorbate",
    "surface_atoms", "surface_name",
]

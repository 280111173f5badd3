"""OC20-style adsorbate screening: surfaces, sites, placements, adsorbates, gas references, the Dask workflow,
AdsorbML's ML+SP verification and success rate."""

from .adsorbates import Adsorbate, adsorbate, adsorbate_from_atoms, place_adsorbate
from .anomalies import ANOMALIES, detect_anomaly
from .placements import Placement, placements
from .references import GAS_REFERENCES, adsorption_energy, chemical_potentials, gas_molecule
from .sites import Site, find_sites, site_kind_at, surface_atoms
from .success import success_rates
from .surfaces import FACET_BUILDERS, build_surface, fcc_metals, surface_name
from .workflow import Screening, ScreeningSpec, best_sites, compare_methods

__all__ = [
    "ANOMALIES",
    "Adsorbate",
    "FACET_BUILDERS",
    "GAS_REFERENCES",
    "Placement",
    "Screening",
    "ScreeningSpec",
    "Site",
    "adsorbate",
    "adsorbate_from_atoms",
    "adsorption_energy",
    "best_sites",
    "build_surface",
    "chemical_potentials",
    "compare_methods",
    "detect_anomaly",
    "fcc_metals",
    "find_sites",
    "gas_molecule",
    "place_adsorbate",
    "placements",
    "site_kind_at",
    "success_rates",
    "surface_atoms",
    "surface_name",
]

"""Written recipes for the reference data sets: every number that decides what gets generated.

A recipe is a frozen dataclass; ``recipe_to_dict`` gives the JSON written next to the data so a
model card can cite it and the data can be regenerated bit for bit. Units: Angstrom, K, fs, eV/Angstrom.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import ClassVar

from ase.collections import g2

from ...data import MD17_MOLECULES

EMT_METALS = ("Al", "Ni", "Cu", "Pd", "Ag", "Pt", "Au")
EMT_NONMETALS = ("H", "C", "N", "O")
SLAB_FACETS = ("fcc111", "fcc100", "fcc211")
ADSORBATE_FACETS = ("fcc111", "fcc100")
ADSORPTION_SITES = ("top", "bridge", "hollow")
ADSORBATES = ("H", "C", "N", "O", "OH", "CO", "NH", "CH", "NH2", "CH3")
TRAINING_SURFACE_PARTS = ("bulk", "slab", "adsorbate", "gas", "starts")  # the "starts" preset's
SURFACE_PARTS = (*TRAINING_SURFACE_PARTS, "ood")  # "ood" is never trained on
PRESETS = ("full", "compact", "starts", "probe", "ood", "pool", "tiny")


def _check_subset(name: str, values: tuple, allowed: tuple) -> None:
    unknown = [v for v in values if v not in allowed]
    if unknown or not values:
        raise ValueError(
            f"{name}: unknown or empty {unknown or list(values)}; choose from {', '.join(allowed)}"
        )


def _check_not_negative(recipe: object) -> None:
    for field in fields(recipe):
        value = getattr(recipe, field.name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
            raise ValueError(f"{field.name} must not be negative, got {value}")


@dataclass(frozen=True)
class SurfaceRecipe:
    """EMT data for fcc metals: bulk, clean slabs, adsorbates on slabs, gas-phase molecules.

    Slabs (clean and with adsorbates) are periodic in x, y only (pbc = [T, T, F], no stress);
    bulk frames are fully periodic and carry stress; gas molecules are non-periodic. The bottom
    ``fixed_fraction`` of each slab's thickness is held fixed (FixAtoms) during MD and relaxation;
    frames store raw forces on all atoms and a per-atom ``fixed`` flag.
    """

    subset: ClassVar[str] = "surfaces"
    seed: int = 0
    reference: str = "EMT (ase.calculators.emt)"
    metals: tuple[str, ...] = EMT_METALS
    # bulk: conventional 4-atom cubic cell repeated bulk_repeat times per axis
    bulk_repeat: int = 2
    bulk_rattle_frames: int = 20
    bulk_rattle_stdev: float = 0.08  # Angstrom
    bulk_strain_frames: int = 20
    bulk_max_strain: float = 0.05  # largest |component| of the random symmetric strain
    bulk_strain_rattle_stdev: float = 0.02  # Angstrom, added to strained cells
    bulk_md_temperatures: tuple[float, ...] = (300.0, 600.0, 900.0, 1200.0)  # K
    bulk_md_frames: int = 20  # per temperature
    # MD of metal-only systems (bulk and clean slabs); Langevin
    metal_md_timestep: float = 2.0  # fs
    md_friction: float = 0.02  # 1/fs
    md_equilibration_steps: int = 100
    md_interval: int = 10  # steps between recorded frames
    # clean slabs
    facets: tuple[str, ...] = SLAB_FACETS
    slab_size: tuple[int, int, int] = (3, 3, 4)  # atoms along a, b; layers
    vacuum: float = 6.0  # Angstrom on each side of a slab or molecule
    fixed_fraction: float = 0.5  # bottom fraction of slab thickness held fixed
    slab_md_temperatures: tuple[float, ...] = (300.0, 600.0, 900.0)  # K
    slab_md_frames: int = 15  # per temperature
    # relaxations (BFGS) from rattled starts; frames evenly spaced along the path, first and last kept
    relax_fmax: float = 0.05  # eV/Angstrom
    relax_max_steps: int = 100
    relax_frames: int = 6
    relax_start_rattle: float = 0.05  # Angstrom, on free atoms
    # adsorbates on slabs
    adsorbate_facets: tuple[str, ...] = ADSORBATE_FACETS
    adsorbates: tuple[str, ...] = ADSORBATES
    sites: tuple[str, ...] = ADSORPTION_SITES
    adsorbate_md_temperature: float = 500.0  # K, MD started from the last of `sites`
    adsorbate_md_timestep: float = 1.0  # fs (light H atoms)
    adsorbate_md_frames: int = 8
    # gas-phase molecules (adsorption-energy references): relaxation path, then rattles of the minimum
    gas_molecules: tuple[str, ...] = ("H2", "N2", "O2", "CO", "NO", "H2O", "OH", "NH3", "CH4", "CO2")
    gas_rattle_frames: int = 10
    gas_rattle_stdev: float = 0.05  # Angstrom
    # which of the above to generate; "starts": adsorbates placed as users place them (random
    # lateral position and height, random azimuth, rattled) on small and large cells, then the
    # reference relaxation from there (the geometries a screen or relaxation script starts from)
    parts: tuple[str, ...] = ("bulk", "slab", "adsorbate", "gas")
    start_adsorbates: tuple[str, ...] = ("H", "C", "N", "O", "OH", "CO")
    start_slab_sizes: tuple[tuple[int, int, int], ...] = ((2, 2, 4), (3, 3, 4))
    start_heights: tuple[float, float] = (1.0, 2.5)  # Angstrom, binding atom above the top layer
    start_rattle: float = 0.08  # Angstrom, largest displacement of any free atom
    start_placements: int = 2  # per metal, facet, adsorbate and slab size
    start_relax_frames: int = 4  # frames along each relaxation, the start included
    # "ood": structures no training recipe visits, for judging a committee's deviation off the data:
    # bulk cells scaled in volume, adsorbates pushed onto a top-layer metal atom, molecules with a
    # bond pulled apart (each rattled by up to start_rattle)
    ood_volume_factors: tuple[float, ...] = (0.8, 0.9, 1.1, 1.2)
    ood_contact_heights: tuple[float, float] = (0.8, 1.2)  # Angstrom, binding atom above a metal atom (raised
    # to 0.3 A past the close-contact limit, 0.5 x the covalent radii sum, where that is higher)
    ood_contacts: int = 2  # per metal, facet and adsorbate
    ood_fragments: tuple[str, ...] = ("H2O", "NH3", "CH4", "CO2", "OH", "CO")
    ood_bond_stretch: tuple[float, float] = (1.4, 2.5)  # a bond pulled to this times its length
    ood_fragment_frames: int = 4  # per molecule

    def __post_init__(self) -> None:
        _check_not_negative(self)
        _check_subset("parts", self.parts, SURFACE_PARTS)
        _check_subset("start_adsorbates", self.start_adsorbates, ADSORBATES)
        for name in ("start_heights", "ood_contact_heights", "ood_bond_stretch"):
            low, high = getattr(self, name)
            if not 0 < low <= high:
                raise ValueError(f"{name} must be (low, high) with 0 < low <= high, got {(low, high)}")
        _check_subset("metals", self.metals, EMT_METALS)
        _check_subset("facets", self.facets, SLAB_FACETS)
        _check_subset("adsorbate_facets", self.adsorbate_facets, ADSORBATE_FACETS)
        _check_subset("adsorbates", self.adsorbates, ADSORBATES)
        _check_subset("sites", self.sites, ADSORPTION_SITES)
        emt_molecules = tuple(n for n in g2.names if set(g2[n].get_chemical_symbols()) <= set(EMT_NONMETALS))
        _check_subset("gas_molecules", self.gas_molecules, emt_molecules)
        _check_subset("ood_fragments", self.ood_fragments, emt_molecules)
        if "fcc211" in self.facets and self.slab_size[0] % 3:
            raise ValueError(f"fcc211 needs slab_size[0] divisible by 3, got slab_size={self.slab_size}")
        if self.relax_frames < 2:
            raise ValueError(
                f"relax_frames must be at least 2 (first and last frame), got {self.relax_frames}"
            )
        if not 0.0 <= self.fixed_fraction < 1.0:
            raise ValueError(f"fixed_fraction must lie in [0, 1), got {self.fixed_fraction}")

    @classmethod
    def preset(cls, name: str) -> SurfaceRecipe:
        """``"full"``: data the shipped surface potentials train on (at most 5711 frames: bulk 840,
        slab 1071, adsorbate 3640, gas 160; relaxations that converge early give fewer);
        ``"compact"`` is the same as ``"full"``; ``"starts"``: ``"full"`` plus adsorbate placements at
        random sites and heights 1.0-2.5 A on 2x2 and 3x3 slabs with their relaxations (about 1300 more
        frames); ``"probe"``: only such placements, heights 1.2-2.0 A and seed 1000, a held-out set
        of user-like frames that no training recipe draws from; ``"ood"``: structures off the training
        data (bulk at 0.8-1.2 times the volume, adsorbates 0.8-1.2 A above a metal atom, molecules with
        a bond pulled apart), seed 2000, for a committee's calibration where the potential is wrong;
        ``"tiny"``: 37 frames of Cu in about a second, for tests."""
        if name in ("full", "compact"):
            return cls()
        if name == "starts":
            return cls(parts=TRAINING_SURFACE_PARTS)
        if name == "probe":
            return cls(seed=1000, parts=("starts",), start_heights=(1.2, 2.0), start_placements=1)
        if name == "ood":
            return cls(seed=2000, parts=("ood",))
        if name == "tiny":
            return cls(
                metals=("Cu",),
                bulk_repeat=1,
                bulk_rattle_frames=2,
                bulk_strain_frames=2,
                bulk_md_temperatures=(600.0,),
                bulk_md_frames=2,
                md_equilibration_steps=5,
                md_interval=2,
                facets=("fcc111", "fcc211"),
                slab_size=(3, 2, 3),
                slab_md_temperatures=(600.0,),
                slab_md_frames=2,
                relax_max_steps=8,
                relax_frames=3,
                adsorbate_facets=("fcc111",),
                adsorbates=("O", "CO"),
                sites=("top", "hollow"),
                adsorbate_md_frames=2,
                gas_molecules=("CO",),
                gas_rattle_frames=2,
            )
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")


@dataclass(frozen=True)
class MoleculeRecipe:
    """GFN2-xTB Langevin MD of the MD17 molecules at 500 K, as MD17 was sampled.

    Each molecule runs ``trajectories`` independent trajectories (own seed) at each of
    ``temperatures`` from the shipped starting geometry: Maxwell-Boltzmann velocities,
    ``equilibration_steps`` unrecorded steps, then ``frames_per_trajectory`` frames every
    ``sample_interval`` steps. The frames carry GFN2-xTB labels; ``label`` relabels a choice of
    them with another reference (PBE for ``pbe-md17``).
    """

    subset: ClassVar[str] = "molecules"
    seed: int = 0
    reference: str = "GFN2-xTB (tblite.ase.TBLite)"
    molecules: tuple[str, ...] = MD17_MOLECULES
    temperatures: tuple[float, ...] = (500.0,)  # K
    timestep: float = 0.5  # fs
    friction: float = 0.02  # 1/fs (thermostat time 50 fs)
    equilibration_steps: int = 1000  # 0.5 ps
    sample_interval: int = 40  # steps: frames 20 fs apart, longer than bond-stretch periods but still
    # correlated in slow bends and torsions; hence independent trajectories
    trajectories: int = 5
    frames_per_trajectory: int = 200  # 1000 frames per molecule

    def __post_init__(self) -> None:
        _check_not_negative(self)
        _check_subset("molecules", self.molecules, MD17_MOLECULES)
        if not self.temperatures or min(self.temperatures) <= 0:
            raise ValueError(f"temperatures must be positive and not empty, got {self.temperatures}")

    @classmethod
    def preset(cls, name: str) -> MoleculeRecipe:
        """``"full"``: 1000 frames per MD17 molecule (about 3 h on one core); ``"compact"``: 300 frames per
        molecule, 10 fs apart, from two trajectories (about 20 min on one core; the shipped gfn2-md17
        trains on it); ``"probe"``: 50 frames per molecule from one trajectory with seed 1000, a
        held-out set of fresh 500 K frames that no training recipe draws from (about 5 min);
        ``"pool"``: candidates for DFT labels, 60 frames per molecule at each of 300, 500 and 700 K
        (about 10 min), from which ``label`` lets a committee choose; ``"tiny"``: a few ethanol frames,
        for tests."""
        if name == "full":
            return cls()
        if name == "compact":
            return cls(equilibration_steps=400, sample_interval=20, trajectories=2, frames_per_trajectory=150)
        if name == "probe":
            return cls(
                seed=1000,
                equilibration_steps=400,
                sample_interval=20,
                trajectories=1,
                frames_per_trajectory=50,
            )
        if name == "pool":
            return cls(
                seed=500,
                temperatures=(300.0, 500.0, 700.0),
                equilibration_steps=400,
                sample_interval=20,
                trajectories=1,
                frames_per_trajectory=60,
            )
        if name == "tiny":
            return cls(
                molecules=("ethanol",),
                equilibration_steps=10,
                sample_interval=5,
                trajectories=2,
                frames_per_trajectory=3,
            )
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")


RECIPES = {recipe.subset: recipe for recipe in (SurfaceRecipe, MoleculeRecipe)}


def make_recipe(subset: str, preset: str = "full", seed: int | None = None) -> SurfaceRecipe | MoleculeRecipe:
    """The recipe of ``subset`` ("surfaces" or "molecules") for ``preset``, with ``seed`` if given."""
    if subset not in RECIPES:
        raise ValueError(f"unknown subset {subset!r}; choose one of {', '.join(RECIPES)}")
    recipe = RECIPES[subset].preset(preset)
    return recipe if seed is None else replace(recipe, seed=seed)


def recipe_to_dict(recipe: SurfaceRecipe | MoleculeRecipe) -> dict:
    """JSON-ready description: subset name and every field (tuples become lists)."""
    return {"subset": recipe.subset, **asdict(recipe)}

"""EMT reference data for fcc metal surfaces: bulk, clean slabs, adsorbates on slabs, gas molecules.

``surface_tasks(recipe)`` lists the tasks; each frame's ``info`` has ``subset`` ("bulk", "slab",
"adsorbate", "gas"), ``system`` (e.g. "Cu", "Cu111", "Cu111+O", "CO"), ``metal`` / ``facet`` /
``adsorbate`` / ``site`` / ``molecule`` where meaningful, ``source`` ("md", "relax", "rattle",
"strain") and ``temperature`` (K) for MD frames.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from ase import Atoms
from ase.build import add_adsorbate, bulk, fcc100, fcc111, fcc211, molecule
from ase.calculators.emt import EMT
from ase.constraints import FixAtoms
from ase.data import atomic_numbers, covalent_radii

from ...data.adsorbates import adsorbate_geometry
from ...structures import fixed_atoms
from .recipes import SurfaceRecipe
from .sampling import langevin_frames, relaxation_path, snapshot
from .tasks import Task

FACET_BUILDERS = {"fcc111": fcc111, "fcc100": fcc100, "fcc211": fcc211}
# ase.build site names per facet
SITE_NAMES = {
    "fcc111": {"top": "ontop", "bridge": "bridge", "hollow": "fcc"},
    "fcc100": {"top": "ontop", "bridge": "bridge", "hollow": "hollow"},
}
SITE_HEIGHTS = {"top": 1.9, "bridge": 1.6, "hollow": 1.3}  # Angstrom, binding atom above the top layer


def with_emt(atoms: Atoms) -> Atoms:
    atoms.calc = EMT()
    return atoms


def bulk_cell(metal: str, recipe: SurfaceRecipe) -> Atoms:
    """Conventional cubic fcc cell (4 atoms, experimental lattice constant) repeated ``bulk_repeat`` times."""
    return with_emt(bulk(metal, "fcc", cubic=True).repeat(recipe.bulk_repeat))


def slab(metal: str, facet: str, recipe: SurfaceRecipe, size: tuple[int, int, int] | None = None) -> Atoms:
    """A ``size`` (default ``slab_size``) slab with ``vacuum`` on both sides, pbc [T, T, F], bottom
    ``fixed_fraction`` fixed."""
    atoms = FACET_BUILDERS[facet](metal, size or recipe.slab_size, vacuum=recipe.vacuum)
    z = atoms.positions[:, 2]
    bottom = z < z.min() + recipe.fixed_fraction * (z.max() - z.min()) - 1e-6
    atoms.set_constraint(FixAtoms(mask=bottom))
    return with_emt(atoms)


def adsorbate_slab(metal: str, facet: str, adsorbate: str, site: str, recipe: SurfaceRecipe) -> Atoms:
    """``slab`` with ``adsorbate`` bound through its first atom at ``site`` ("top", "bridge", "hollow")."""
    atoms = slab(metal, facet, recipe)
    add_adsorbate(atoms, adsorbate_geometry(adsorbate), SITE_HEIGHTS[site], SITE_NAMES[facet][site])
    return with_emt(atoms)


def gas_molecule(name: str, recipe: SurfaceRecipe) -> Atoms:
    """G2 geometry of ``name``, non-periodic, centred in a box with ``vacuum``."""
    atoms = molecule(name)
    atoms.center(vacuum=recipe.vacuum)
    return with_emt(atoms)


def slab_name(metal: str, facet: str) -> str:
    """E.g. "Cu111" for Cu fcc111."""
    return f"{metal}{facet[3:]}"


def _bulk_labels(metal: str) -> dict:
    return dict(subset="bulk", system=metal, metal=metal)


def _slab_labels(metal: str, facet: str) -> dict:
    return dict(subset="slab", system=slab_name(metal, facet), metal=metal, facet=facet)


def _adsorbate_labels(metal: str, facet: str, adsorbate: str, site: str) -> dict:
    return dict(
        subset="adsorbate",
        system=f"{slab_name(metal, facet)}+{adsorbate}",
        metal=metal,
        facet=facet,
        adsorbate=adsorbate,
        site=site,
    )


def _bulk_rattle(recipe: SurfaceRecipe, metal: str, rng: np.random.Generator) -> list[Atoms]:
    frames = []
    for _ in range(recipe.bulk_rattle_frames):
        atoms = bulk_cell(metal, recipe)
        atoms.rattle(recipe.bulk_rattle_stdev, rng=rng)
        frames.append(snapshot(atoms, source="rattle", **_bulk_labels(metal)))
    return frames


def _bulk_strain(recipe: SurfaceRecipe, metal: str, rng: np.random.Generator) -> list[Atoms]:
    frames = []
    for _ in range(recipe.bulk_strain_frames):
        atoms = bulk_cell(metal, recipe)
        strain = rng.uniform(-recipe.bulk_max_strain, recipe.bulk_max_strain, size=(3, 3))
        atoms.set_cell(atoms.cell[:] @ (np.eye(3) + (strain + strain.T) / 2), scale_atoms=True)
        atoms.rattle(recipe.bulk_strain_rattle_stdev, rng=rng)
        frames.append(snapshot(atoms, source="strain", **_bulk_labels(metal)))
    return frames


def _md(
    recipe: SurfaceRecipe,
    atoms: Atoms,
    temperature: float,
    timestep: float,
    n_frames: int,
    labels: dict,
    rng: np.random.Generator,
) -> list[Atoms]:
    return langevin_frames(
        atoms,
        rng,
        temperature=temperature,
        timestep=timestep,
        friction=recipe.md_friction,
        equilibration_steps=recipe.md_equilibration_steps,
        interval=recipe.md_interval,
        n_frames=n_frames,
        **labels,
    )


def _relax(recipe: SurfaceRecipe, atoms: Atoms, labels: dict, rng: np.random.Generator) -> list[Atoms]:
    atoms.rattle(recipe.relax_start_rattle, rng=rng)
    return relaxation_path(
        atoms,
        fmax=recipe.relax_fmax,
        max_steps=recipe.relax_max_steps,
        n_frames=recipe.relax_frames,
        **labels,
    )


def _bulk_md(recipe: SurfaceRecipe, metal: str, temperature: float, rng: np.random.Generator) -> list[Atoms]:
    return _md(
        recipe,
        bulk_cell(metal, recipe),
        temperature,
        recipe.metal_md_timestep,
        recipe.bulk_md_frames,
        _bulk_labels(metal),
        rng,
    )


def _slab_relax(recipe: SurfaceRecipe, metal: str, facet: str, rng: np.random.Generator) -> list[Atoms]:
    return _relax(recipe, slab(metal, facet, recipe), _slab_labels(metal, facet), rng)


def _slab_md(
    recipe: SurfaceRecipe, metal: str, facet: str, temperature: float, rng: np.random.Generator
) -> list[Atoms]:
    return _md(
        recipe,
        slab(metal, facet, recipe),
        temperature,
        recipe.metal_md_timestep,
        recipe.slab_md_frames,
        _slab_labels(metal, facet),
        rng,
    )


def _adsorbate_relax(
    recipe: SurfaceRecipe, metal: str, facet: str, adsorbate: str, site: str, rng: np.random.Generator
) -> list[Atoms]:
    return _relax(
        recipe,
        adsorbate_slab(metal, facet, adsorbate, site, recipe),
        _adsorbate_labels(metal, facet, adsorbate, site),
        rng,
    )


def _adsorbate_md(
    recipe: SurfaceRecipe, metal: str, facet: str, adsorbate: str, rng: np.random.Generator
) -> list[Atoms]:
    """MD at ``adsorbate_md_temperature`` started from the last listed site (hollow in the presets)."""
    site = recipe.sites[-1]
    return _md(
        recipe,
        adsorbate_slab(metal, facet, adsorbate, site, recipe),
        recipe.adsorbate_md_temperature,
        recipe.adsorbate_md_timestep,
        recipe.adsorbate_md_frames,
        _adsorbate_labels(metal, facet, adsorbate, site),
        rng,
    )


def random_placement(
    metal: str,
    facet: str,
    adsorbate: str,
    size: tuple[int, int, int],
    recipe: SurfaceRecipe,
    rng: np.random.Generator,
) -> Atoms:
    """``adsorbate`` placed as a user places it on a ``size`` slab (EMT attached).

    Uniform lateral position in the cell, binding-atom height uniform in ``start_heights``
    (Angstrom above the top layer), random azimuth, free atoms displaced by up to ``start_rattle``
    (uniform in each component, clipped to the norm). ``info`` holds only the frame's labels.
    """
    atoms = slab(metal, facet, recipe, size)
    molecule_ = adsorbate_geometry(adsorbate)
    molecule_.rotate(rng.uniform(0, 360), "z")
    xy = rng.uniform(size=2) @ atoms.cell.array[:2, :2]
    add_adsorbate(atoms, molecule_, rng.uniform(*recipe.start_heights), position=tuple(xy))
    free = ~fixed_atoms(atoms)
    step = rng.uniform(-1, 1, size=(int(free.sum()), 3)) * recipe.start_rattle
    norms = np.linalg.norm(step, axis=1, keepdims=True)
    atoms.positions[free] += step * np.minimum(1.0, recipe.start_rattle / np.maximum(norms, 1e-12))
    atoms.info = dict(
        subset="adsorbate",
        system=f"{slab_name(metal, facet)}+{adsorbate}",
        metal=metal,
        facet=facet,
        adsorbate=adsorbate,
        site="random",
        cell=f"{size[0]}x{size[1]}",
    )
    return with_emt(atoms)


def _adsorbate_start(
    recipe: SurfaceRecipe,
    metal: str,
    facet: str,
    adsorbate: str,
    size: tuple[int, int, int],
    rng: np.random.Generator,
) -> list[Atoms]:
    """``start_placements`` :func:`random_placement` s, each a relaxation path: frames tagged
    ``source="start"`` (the placement itself) and ``source="relax"`` along the reference relaxation."""
    frames = []
    for _ in range(recipe.start_placements):
        atoms = random_placement(metal, facet, adsorbate, size, recipe, rng)
        labels, atoms.info = atoms.info, {}
        path = relaxation_path(
            atoms,
            fmax=recipe.relax_fmax,
            max_steps=recipe.relax_max_steps,
            n_frames=recipe.start_relax_frames,
            **labels,
        )
        path[0].info["source"] = "start"
        frames += path
    return frames


def _gas(recipe: SurfaceRecipe, name: str, rng: np.random.Generator) -> list[Atoms]:
    """Relaxation path from a rattled start, then rattles of the relaxed geometry."""
    labels = dict(subset="gas", system=name, molecule=name)
    atoms = gas_molecule(name, recipe)
    frames = _relax(recipe, atoms, labels, rng)
    relaxed = atoms.positions.copy()
    for _ in range(recipe.gas_rattle_frames):
        atoms.positions = relaxed
        atoms.rattle(recipe.gas_rattle_stdev, rng=rng)
        frames.append(snapshot(atoms, source="rattle", **labels))
    return frames


def _rattled(atoms: Atoms, recipe: SurfaceRecipe, rng: np.random.Generator) -> Atoms:
    """``atoms`` with its free atoms displaced by up to ``start_rattle`` (uniform per component)."""
    free = ~fixed_atoms(atoms)
    atoms.positions[free] += rng.uniform(-1, 1, size=(int(free.sum()), 3)) * recipe.start_rattle
    return atoms


def _ood_volumes(recipe: SurfaceRecipe, metal: str, rng: np.random.Generator) -> list[Atoms]:
    """The bulk cell at each of ``ood_volume_factors`` times its volume, rattled."""
    frames = []
    for factor in recipe.ood_volume_factors:
        atoms = bulk_cell(metal, recipe)
        atoms.set_cell(atoms.cell[:] * factor ** (1 / 3), scale_atoms=True)
        frames.append(
            snapshot(_rattled(atoms, recipe, rng), source=f"volume{factor:g}", **_bulk_labels(metal))
        )
    return frames


def _ood_contacts(
    recipe: SurfaceRecipe, metal: str, facet: str, adsorbate: str, rng: np.random.Generator
) -> list[Atoms]:
    """``adsorbate``'s binding atom ``ood_contact_heights`` above a random top-layer atom of a 2x2 slab,
    but never closer than 0.3 A (twice the largest rattle) past half the covalent radii sum, where the
    close-contact check refuses a structure: what a user can get evaluated."""
    molecule_ = adsorbate_geometry(adsorbate)
    radii = covalent_radii[atomic_numbers[metal]] + covalent_radii[molecule_.numbers[0]]
    low = max(recipe.ood_contact_heights[0], 0.5 * radii + 0.3)
    high = max(recipe.ood_contact_heights[1], low)
    frames = []
    for _ in range(recipe.ood_contacts):
        atoms = slab(metal, facet, recipe, (2, 2, recipe.slab_size[2]))
        top = np.flatnonzero(atoms.get_tags() == 1)
        xy = atoms.positions[rng.choice(top), :2]
        placed = molecule_.copy()
        placed.rotate(rng.uniform(0, 360), "z")
        add_adsorbate(atoms, placed, rng.uniform(low, high), position=tuple(xy))
        labels = {**_adsorbate_labels(metal, facet, adsorbate, "contact"), "cell": "2x2"}
        frames.append(snapshot(_rattled(atoms, recipe, rng), source="contact", **labels))
    return frames


def _ood_fragments(recipe: SurfaceRecipe, name: str, rng: np.random.Generator) -> list[Atoms]:
    """Gas molecule ``name`` with the bond of a random atom to its nearest neighbour pulled apart."""
    labels = dict(subset="gas", system=name, molecule=name)
    frames = []
    for _ in range(recipe.ood_fragment_frames):
        atoms = gas_molecule(name, recipe)
        moved = int(rng.integers(len(atoms)))
        distances = atoms.get_distances(moved, range(len(atoms)))
        distances[moved] = np.inf
        partner = int(np.argmin(distances))
        bond = atoms.positions[moved] - atoms.positions[partner]
        atoms.positions[moved] = atoms.positions[partner] + bond * rng.uniform(*recipe.ood_bond_stretch)
        frames.append(snapshot(_rattled(atoms, recipe, rng), source="fragment", **labels))
    return frames


def surface_tasks(recipe: SurfaceRecipe) -> list[Task]:
    """All tasks of a surface recipe, in a fixed order: bulk, clean slabs, adsorbates, gas."""
    tasks = []
    for metal in recipe.metals if "bulk" in recipe.parts else ():
        tasks += [
            Task(f"bulk:{metal}:rattle", partial(_bulk_rattle, recipe, metal)),
            Task(f"bulk:{metal}:strain", partial(_bulk_strain, recipe, metal)),
        ]
        tasks += [
            Task(f"bulk:{metal}:md:{t:g}K", partial(_bulk_md, recipe, metal, t))
            for t in recipe.bulk_md_temperatures
        ]
    for metal in recipe.metals if "slab" in recipe.parts else ():
        for facet in recipe.facets:
            system = slab_name(metal, facet)
            tasks.append(Task(f"slab:{system}:relax", partial(_slab_relax, recipe, metal, facet)))
            tasks += [
                Task(f"slab:{system}:md:{t:g}K", partial(_slab_md, recipe, metal, facet, t))
                for t in recipe.slab_md_temperatures
            ]
    for metal in recipe.metals if "adsorbate" in recipe.parts else ():
        for facet in recipe.adsorbate_facets:
            for adsorbate in recipe.adsorbates:
                system = f"{slab_name(metal, facet)}+{adsorbate}"
                tasks += [
                    Task(
                        f"adsorbate:{system}:relax:{site}",
                        partial(_adsorbate_relax, recipe, metal, facet, adsorbate, site),
                    )
                    for site in recipe.sites
                ]
                tasks.append(
                    Task(
                        f"adsorbate:{system}:md:{recipe.adsorbate_md_temperature:g}K",
                        partial(_adsorbate_md, recipe, metal, facet, adsorbate),
                    )
                )
    if "gas" in recipe.parts:
        tasks += [Task(f"gas:{name}", partial(_gas, recipe, name)) for name in recipe.gas_molecules]
    for metal in recipe.metals if "starts" in recipe.parts else ():
        for facet in recipe.adsorbate_facets:
            for adsorbate in recipe.start_adsorbates:
                for size in recipe.start_slab_sizes:
                    system = f"{slab_name(metal, facet)}+{adsorbate}"
                    tasks.append(
                        Task(
                            f"start:{system}:{size[0]}x{size[1]}",
                            partial(_adsorbate_start, recipe, metal, facet, adsorbate, size),
                        )
                    )
    if "ood" in recipe.parts:
        tasks += [
            Task(f"ood:{metal}:volume", partial(_ood_volumes, recipe, metal)) for metal in recipe.metals
        ]
        tasks += [
            Task(
                f"ood:{slab_name(metal, facet)}+{adsorbate}:contact",
                partial(_ood_contacts, recipe, metal, facet, adsorbate),
            )
            for metal in recipe.metals
            for facet in recipe.adsorbate_facets
            for adsorbate in recipe.start_adsorbates
        ]
        tasks += [
            Task(f"ood:{name}:fragment", partial(_ood_fragments, recipe, name))
            for name in recipe.ood_fragments
        ]
    return tasks

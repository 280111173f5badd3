"""The calculator drives ASE's own integrators, thermostats, barostats and optimizers."""

import numpy as np
import pytest
from ase import units
from ase.build import bulk
from ase.filters import FrechetCellFilter
from ase.md.bussi import Bussi
from ase.md.langevin import Langevin
from ase.md.nose_hoover_chain import MTKNPT
from ase.md.nptberendsen import NPTBerendsen
from ase.md.velocitydistribution import thermalize_momenta
from ase.md.verlet import VelocityVerlet
from ase.optimize import BFGS, FIRE, LBFGS
from conftest import ethanol, tiny_potential

import equiformer_ase as ea


def copper_cell():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 2, 2))
    atoms.rattle(0.05, seed=2)
    thermalize_momenta(atoms, temperature_K=300, rng=np.random.default_rng(0))
    return atoms


DYNAMICS = {
    "VelocityVerlet": lambda a: VelocityVerlet(a, timestep=1.0 * units.fs),
    "Langevin": lambda a: Langevin(
        a,
        timestep=1.0 * units.fs,
        temperature_K=300,
        friction=0.01 / units.fs,
        fixcm=False,
        rng=np.random.default_rng(0),
    ),
    "Bussi": lambda a: Bussi(
        a, timestep=1.0 * units.fs, temperature_K=300, taut=100 * units.fs, rng=np.random.default_rng(0)
    ),
    "NPT-NoseHoover": lambda a: MTKNPT(
        a,
        timestep=1.0 * units.fs,
        temperature_K=300,
        pressure_au=0.0,
        tdamp=25 * units.fs,
        pdamp=250 * units.fs,
    ),
    "NPT-Berendsen": lambda a: NPTBerendsen(
        a,
        timestep=1.0 * units.fs,
        temperature_K=300,
        pressure_au=0.0,
        taut=100 * units.fs,
        taup=500 * units.fs,
        compressibility_au=1e-2 / units.GPa,
    ),
}


@pytest.mark.parametrize("name", sorted(DYNAMICS))
def test_md_drivers_run(calc64, name):
    atoms = copper_cell()
    atoms.calc = calc64
    cell_before = atoms.cell.array.copy()
    DYNAMICS[name](atoms).run(5)
    assert np.isfinite(atoms.get_potential_energy()) and np.isfinite(atoms.get_forces()).all()
    if name.startswith("NPT"):
        # the barostat read the stress and moved the cell (by 3e-7 of its length with the untrained model)
        assert np.abs(atoms.cell.array - cell_before).max() > 0


def max_force(forces) -> float:
    return float(np.linalg.norm(forces, axis=1).max())


OPTIMIZERS = {
    "BFGS": BFGS,
    # Without a line search LBFGS can climb on the untrained tiny model's non-convex surface.
    "LBFGS": lambda atoms, **kw: LBFGS(atoms, use_line_search=True, **kw),
    "FIRE": FIRE,
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizers_lower_energy_and_forces(name):
    optimizer = OPTIMIZERS[name]
    atoms = ethanol()
    atoms.rattle(0.1, seed=4)
    # the untrained model pulls C-C to 0.74 A: a close contact, allowed here to test the optimizers
    atoms.calc = ea.EquiformerCalculator(
        tiny_potential(), device="cpu", dtype="float64", allow_close_contacts=True
    )
    e0, f0 = atoms.get_potential_energy(), max_force(atoms.get_forces())
    optimizer(atoms, logfile=None).run(fmax=1e-3, steps=60)
    assert atoms.get_potential_energy() < e0 - 0.1 and max_force(atoms.get_forces()) < f0 / 2


def test_cell_relaxation_with_frechet_filter(calc64):
    """FrechetCellFilter needs the stress: relaxing positions and cell together lowers both."""
    atoms = copper_cell()
    atoms.set_cell(atoms.cell.array * 1.03, scale_atoms=True)
    atoms.calc = calc64
    cell_filter = FrechetCellFilter(atoms)
    e0, f0 = atoms.get_potential_energy(), max_force(cell_filter.get_forces())
    stress0 = np.abs(atoms.get_stress()).max()
    FIRE(cell_filter, logfile=None).run(fmax=1e-3, steps=60)
    assert atoms.get_potential_energy() < e0 and max_force(cell_filter.get_forces()) < f0 / 3
    assert np.abs(atoms.get_stress()).max() < stress0 / 3

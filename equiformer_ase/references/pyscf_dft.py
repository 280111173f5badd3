"""Kohn-Sham DFT through PySCF as an ASE calculator: energies and analytic forces of molecules.

The default is the level of theory of the revised MD17 data set (rMD17): PBE/def2-SVP, here with
density fitting (RI-J, PySCF's automatic auxiliary basis) and a DFT integration grid of level 2,
whose forces stay within about 1 meV/A of a level-5 grid on the MD17 molecules (measured in
``benchmarks/bench_dft_labels.py``). The gradient includes the grid's response to the moving atoms,
so forces are the exact derivative of the energy (without it PySCF's forces miss it by a few meV/A
and do not sum to zero: 4.6 meV/A net force on uracil at grid 2), at no measurable extra cost. Along a trajectory the previous frame's density matrix is the
initial guess of the next SCF when the atoms are the same elements in the same order.

An SCF that does not converge is retried once with second-order (Newton) steps from where it stopped;
if that fails too, :class:`SCFNotConvergedError` is raised: a label is never silently wrong.
Needs ``pyscf`` (``pip install 'equiformer-ase[dft]'``). Molecules only (no periodic boundaries).
Units out: eV and eV/Angstrom, as everywhere in ASE.
"""

from __future__ import annotations

import time

import numpy as np
from ase import units
from ase.calculators.calculator import Calculator, all_changes

HARTREE = units.Hartree  # eV
BOHR = units.Bohr  # Angstrom


class SCFNotConvergedError(RuntimeError):
    """The SCF of a geometry did not converge (after the Newton retry): no label for it."""


def import_pyscf():
    """The ``pyscf`` module, or an ImportError saying how to install it."""
    try:
        import pyscf
        import pyscf.dft  # noqa: F401
        import pyscf.grad  # noqa: F401
    except ImportError as err:
        raise ImportError("DFT reference labels need pyscf: pip install 'equiformer-ase[dft]'") from err
    return pyscf


class PySCFDFT(Calculator):
    """Restricted (or, with ``spin`` > 0, unrestricted) Kohn-Sham DFT of a molecule with PySCF.

    ``xc`` a functional PySCF knows ("PBE", "B3LYP", ...); ``basis`` a basis set name ("def2-SVP");
    ``density_fit`` RI-J with PySCF's default auxiliary basis; ``grid_level`` 0-9 (PySCF's);
    ``conv_tol`` energy convergence (Hartree); ``max_cycle`` SCF iterations before the Newton retry;
    ``threads`` PySCF's OpenMP threads (None: leave as set); ``charge`` and ``spin`` (2S) of the
    molecule; ``reuse_density`` the previous density as the next guess; ``grid_response`` forces
    that include the grid's motion. After a calculation ``scf_cycles`` holds the SCF iterations it took and ``seconds``
    its wall time.
    """

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(
        self,
        xc: str = "PBE",
        basis: str = "def2-SVP",
        density_fit: bool = True,
        grid_level: int = 2,
        conv_tol: float = 1e-9,
        max_cycle: int = 100,
        threads: int | None = None,
        charge: int = 0,
        spin: int = 0,
        reuse_density: bool = True,
        grid_response: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        import_pyscf()
        if not 0 <= grid_level <= 9:
            raise ValueError(f"grid_level must be 0-9 (PySCF's grid levels), got {grid_level}")
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self.xc, self.basis, self.density_fit = xc, basis, density_fit
        self.grid_level, self.conv_tol, self.max_cycle = grid_level, conv_tol, max_cycle
        self.threads, self.charge, self.spin = threads, charge, spin
        self.reuse_density, self.grid_response = reuse_density, grid_response
        self._previous: tuple[tuple[int, ...], np.ndarray] | None = None
        self.scf_cycles = 0
        self.seconds = 0.0

    @property
    def method(self) -> str:
        """Everything that decides the label, as one string (the label cache's key)."""
        fit = "ri" if self.density_fit else "exact"
        response = "+response" if self.grid_response else ""
        return (
            f"pyscf:{self.xc}/{self.basis};{fit};grid{self.grid_level}{response};tol{self.conv_tol:g};"
            f"charge{self.charge};spin{self.spin}"
        )

    def _mean_field(self, atoms):
        from pyscf import dft, gto

        if atoms.pbc.any():
            raise ValueError("the PySCF DFT reference is for molecules: got periodic boundaries")
        mol = gto.M(
            atom=[(symbol, tuple(p)) for symbol, p in zip(atoms.get_chemical_symbols(), atoms.positions)],
            basis=self.basis,
            unit="Angstrom",
            charge=self.charge,
            spin=self.spin,
            verbose=0,
        )
        mf = (dft.UKS if self.spin else dft.RKS)(mol, xc=self.xc)
        if self.density_fit:
            mf = mf.density_fit()
        mf.grids.level = self.grid_level
        mf.conv_tol = self.conv_tol
        mf.max_cycle = self.max_cycle
        return mf

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        if self.threads is not None:
            from pyscf import lib

            lib.num_threads(self.threads)
        start = time.perf_counter()
        mf = self._mean_field(self.atoms)
        numbers = tuple(int(z) for z in self.atoms.numbers)
        guess = None
        if self.reuse_density and self._previous is not None and self._previous[0] == numbers:
            guess = self._previous[1]
        cycles = [0]
        mf.callback = lambda _env: cycles.__setitem__(0, cycles[0] + 1)
        energy = mf.kernel(dm0=guess)
        if not mf.converged:
            mf = mf.newton()
            mf.callback = lambda _env: cycles.__setitem__(0, cycles[0] + 1)
            energy = mf.kernel(dm0=mf.make_rdm1())
        if not mf.converged or not np.isfinite(energy):
            self._previous = None
            raise SCFNotConvergedError(
                f"{self.method}: SCF of {self.atoms.get_chemical_formula()} did not converge in "
                f"{self.max_cycle} iterations and a Newton retry (energy {energy}); no label written"
            )
        gradients = mf.nuc_grad_method()
        gradients.grid_response = self.grid_response
        gradient = gradients.kernel()  # Hartree/Bohr, (n, 3)
        self._previous = (numbers, mf.make_rdm1())
        self.scf_cycles = cycles[0]
        self.seconds = time.perf_counter() - start
        self.results["energy"] = self.results["free_energy"] = float(energy) * HARTREE
        self.results["forces"] = -np.asarray(gradient) * (HARTREE / BOHR)

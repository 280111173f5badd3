"""ASE calculator: converts Atoms to an AtomGraph and calls ``Potential.evaluate``."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from .graph import NeighbourList
from .potential import Potential, load_potential

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but torch sees no CUDA device")
    return device


class EquiformerCalculator(Calculator):
    """Energy, free energy, forces, stress (fully periodic cells only) and per-atom energies.

    ``potential``: a :class:`Potential`, a path to a ``.safetensors`` file, or a shipped name.
    ``device``: "auto", "cpu", "cuda", ...; ``dtype``: "float32" or "float64";
    ``neighbour_backend``: see :mod:`equiformer_ase.graph`; ``skin`` (Angstrom): the Verlet skin of
    the neighbour list, rebuilt only when an atom moved more than ``skin / 2`` or the cell changed
    (results equal those of a fresh list; 0 rebuilds at every call).
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress", "energies"]

    def __init__(self, potential: Potential | str | Path, device: str = "auto", dtype: str = "float32",
                 neighbour_backend: str = "auto", skin: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
        # The calculator owns its copy: casting in place would change the caller's potential.
        potential = copy.deepcopy(potential) if isinstance(potential, Potential) else load_potential(potential)
        self.device = resolve_device(device)
        self.dtype = DTYPES[dtype]
        self.potential = potential.to(device=self.device, dtype=self.dtype).eval()
        self.potential.requires_grad_(False)
        cfg = self.potential.config
        self.neighbour_list = NeighbourList(cfg.elements, cfg.cutoff, skin, backend=neighbour_backend,
                                            device=self.device, dtype=self.dtype)

    def calculate(self, atoms: Atoms | None = None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        periodic = bool(self.atoms.pbc.all())
        if "stress" in properties and not periodic:
            raise PropertyNotImplementedError(
                f"stress is only defined for structures periodic in all three directions (pbc={self.atoms.pbc.tolist()})"
            )
        self.results = self.calculate_batch([self.atoms])[0]

    def calculate_batch(self, atoms_list: list[Atoms]) -> list[dict]:
        """Evaluate many structures in one batched pass.

        Returns one dict per structure: ``energy``, ``free_energy`` (eV), ``energies`` (n,),
        ``forces`` (n, 3), and ``stress`` (6,) Voigt eV/A^3 where ``pbc`` is all True.
        """
        graph = self.neighbour_list(atoms_list)
        want_stress = any(atoms.pbc.all() for atoms in atoms_list)
        out = self.potential.evaluate(graph, forces=True, stress=want_stress)
        out = {k: v.to("cpu", torch.float64).numpy() for k, v in out.items()}
        bounds = np.cumsum([0] + [len(atoms) for atoms in atoms_list])
        results = []
        for k, atoms in enumerate(atoms_list):
            atom_slice = slice(bounds[k], bounds[k + 1])
            energy = float(out["energy"][k])
            result = {
                "energy": energy,
                "free_energy": energy,
                "energies": out["energies"][atom_slice],
                "forces": out["forces"][atom_slice],
            }
            if atoms.pbc.all():
                result["stress"] = full_3x3_to_voigt_6_stress(out["stress"][k])
            results.append(result)
        return results

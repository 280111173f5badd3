"""ASE calculator: converts Atoms to an AtomGraph and calls ``Potential.evaluate``."""

from __future__ import annotations

from pathlib import Path

import torch
from ase import Atoms
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from .committee import Committee, evaluate_model, on_device
from .memory_estimate import check_model_memory
from .potential import Potential
from .structures import structure_slices

COMMITTEE_PROPERTIES = [
    "energy_comm",
    "energy_var",
    "forces_comm",
    "forces_var",
    "forces_dev",
    "max_forces_dev",
]


class EquiformerCalculator(Calculator):
    """Energy, free energy, forces, stress (fully periodic cells only) and per-atom energies.

    ``potential``: a :class:`Potential`, a path to a ``.safetensors`` file, or a shipped name; or a
    committee (:class:`Committee`, a list of potentials / paths / names, a committee file or shipped
    committee name): then energy, forces, stress and energies are the members' mean, and results
    add MACE's ``energy_comm`` (K,), ``energy_var``, ``forces_comm`` (K, n, 3), ``forces_var`` (n, 3),
    and DP-GEN's per-atom force deviation ``forces_dev`` (n,) eV/A with its maximum
    ``max_forces_dev`` (see :mod:`equiformer_ase.committee`).
    ``device``: "auto", "cpu", "cuda", ...; ``dtype``: "float32" or "float64";
    ``neighbour_backend``: see :mod:`equiformer_ase.graph`; ``skin`` (Angstrom): the Verlet skin of
    the neighbour list, rebuilt only when an atom moved more than ``skin / 2`` or the cell changed
    (results equal those of a fresh list; 0 rebuilds at every call). Atoms closer than half their
    covalent radii sum raise :class:`~equiformer_ase.errors.CloseContactError` unless
    ``allow_close_contacts``; checked at every call, on the edge lengths the neighbour list has
    anyway. ``compile=True`` runs the model through
    ``torch.compile`` (see :func:`~equiformer_ase.potential.inference_copy`): the first call takes
    minutes, later ones are faster; for long MD.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress", "energies"] + COMMITTEE_PROPERTIES

    def __init__(
        self,
        potential: Potential | Committee | list | str | Path,
        device: str = "auto",
        dtype: str = "float32",
        neighbour_backend: str = "auto",
        skin: float = 0.5,
        allow_close_contacts: bool = False,
        compile: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.allow_close_contacts = allow_close_contacts
        self.device, self.dtype, self.potential, self.neighbour_list = on_device(
            potential, device, dtype, skin, neighbour_backend, compile, allow_close_contacts
        )
        self._memory_checked_at = None  # the neighbour list's rebuild count at the last memory check passed

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
        ``forces`` (n, 3), and ``stress`` (6,) Voigt eV/A^3 where ``pbc`` is all True; for a
        committee also its spread (see the class docstring). A call estimated to need more memory than
        the device has raises :class:`~equiformer_ase.errors.MemoryEstimateError` before the model runs.
        """
        graph = self.neighbour_list(atoms_list)
        self._check_memory(graph)
        want_stress = any(atoms.pbc.all() for atoms in atoms_list)
        out = evaluate_model(self.potential, graph, stress=want_stress)
        out = {k: v.to("cpu", torch.float64).numpy() for k, v in out.items()}
        results = []
        for k, (atoms, atom_slice) in enumerate(
            zip(atoms_list, structure_slices([len(a) for a in atoms_list]))
        ):
            energy = float(out["energy"][k])
            result = {
                "energy": energy,
                "free_energy": energy,
                "energies": out["energies"][atom_slice],
                "forces": out["forces"][atom_slice],
            }
            if atoms.pbc.all():
                result["stress"] = full_3x3_to_voigt_6_stress(out["stress"][k])
            if "energy_comm" in out:
                result.update(
                    energy_comm=out["energy_comm"][:, k],
                    energy_var=float(out["energy_var"][k]),
                    forces_comm=out["forces_comm"][:, atom_slice],
                    forces_var=out["forces_var"][atom_slice],
                    forces_dev=out["forces_dev"][atom_slice],
                    max_forces_dev=float(out["forces_dev"][atom_slice].max(initial=0.0)),
                )
            results.append(result)
        return results

    def _check_memory(self, graph) -> None:
        """:func:`~equiformer_ase.memory_estimate.check_model_memory` once per neighbour-list rebuild (the
        edge count changes little between rebuilds), and again after a refusal."""
        if self.neighbour_list.rebuilds != self._memory_checked_at:
            check_model_memory(self.potential, graph.edge_index.shape[1], graph.num_atoms, self.device)
            self._memory_checked_at = self.neighbour_list.rebuilds

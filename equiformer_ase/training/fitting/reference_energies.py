"""Statistics of the training set that fix the model before training: reference energies, scales.

Reference energies (eV per element) come from least squares, E ~ sum_el n_el * E_ref[el], over the
training frames; the network then learns the residual. ``energy_scale`` (eV) is the RMS of the
force components (eV/A times 1 A), or the std of the per-atom residual energy when forces are all
zero; ``avg_num_neighbors`` is the mean number of neighbours within the cutoff.
"""

from __future__ import annotations

import numpy as np

from ...graph import build_graph
from .dataset import Sample


def composition_matrix(samples: list[Sample], elements: list[str]) -> np.ndarray:
    """(B, len(elements)) atom counts of each element in each sample."""
    index = {el: k for k, el in enumerate(elements)}
    counts = np.zeros((len(samples), len(elements)))
    for row, sample in enumerate(samples):
        for symbol in sample.atoms.get_chemical_symbols():
            counts[row, index[symbol]] += 1
    return counts


def fit_reference_energies(samples: list[Sample], elements: list[str]) -> dict[str, float]:
    """Least-squares per-element energies (eV); elements absent from ``samples`` get 0."""
    counts = composition_matrix(samples, elements)
    energies = np.array([s.energy for s in samples])
    solution, *_ = np.linalg.lstsq(counts, energies, rcond=None)
    return {el: float(solution[k]) if counts[:, k].any() else 0.0 for k, el in enumerate(elements)}


def residual_energies_per_atom(samples: list[Sample], references: dict[str, float]) -> np.ndarray:
    """(B,) (E - sum of reference energies) / n_atoms, eV/atom."""
    elements = list(references)
    counts = composition_matrix(samples, elements)
    residual = np.array([s.energy for s in samples]) - counts @ np.array([references[el] for el in elements])
    return residual / counts.sum(axis=1)


def energy_scale(samples: list[Sample], references: dict[str, float]) -> float:
    """Force-component RMS (eV), else the per-atom residual energy std, else 1."""
    forces = np.concatenate([s.forces.ravel() for s in samples])
    force_rms = float(np.sqrt(np.mean(forces**2)))
    if force_rms > 0:
        return force_rms
    residual_std = float(np.std(residual_energies_per_atom(samples, references)))
    return residual_std if residual_std > 0 else 1.0


def average_num_neighbors(
    samples: list[Sample], elements: list[str], cutoff: float, chunk: int = 256
) -> float:
    """Mean number of neighbours within ``cutoff`` (Angstrom) per atom over ``samples``."""
    edges = atoms = 0
    for start in range(0, len(samples), chunk):
        graph = build_graph(
            [s.atoms for s in samples[start : start + chunk]], elements, cutoff, backend="matscipy"
        )
        edges += graph.edge_index.shape[1]
        atoms += graph.num_atoms
    return max(edges / atoms, 1.0)

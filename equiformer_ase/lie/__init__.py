"""LieTransformer core: matrix Lie groups, lifting, LieSelfAttention and the LieTransformer.

    from equiformer_ase import lie
    G = lie.group("SE(3)")
    g = G.exp(a)                      # (..., 6) -> (..., 4, 4)
    model = lie.LieTransformer("SE(2)", in_features=1, out_features=1, seed=0)
    V = model(positions, features, mask)   # (B, n, 2), (B, n, 1), (B, n) -> (B, 1)

Learned Hamiltonians (H = kinetic + LieTransformer V, or fully learned), their rollouts and training:

    ham = lie.load_hamiltonian("lie-springs-t2")          # shipped name or path
    q, p = ham.rollout(q0, p0, ts, masses, features, method="rk4")   # or "leapfrog"
    H = ham.energy(q0, p0, masses, features)
"""

from .ase_link import propagate_atoms
from .attention import LieSelfAttention, location_inputs
from .fitting import FitConfig, HamiltonianFit, evaluate_hamiltonian, train_hamiltonian
from .groups import GROUP_NAMES, group
from .hamiltonian import HamiltonianConfig, LearnedHamiltonian
from .hamiltonian_files import list_hamiltonians, load_hamiltonian, save_hamiltonian
from .lennard_jones import generate_lj_clusters, lj_hamiltonian
from .lie_group import LieGroup
from .lifting import Lifted, lift
from .neighbourhoods import (
    Neighbourhood,
    all_neighbours,
    gather_neighbours,
    nearest_neighbours,
    relative_logs,
)
from .springs import SpringData, generate_springs, spring_hamiltonian
from .transformer import LieTransformer, LieTransformerBlock

__all__ = [
    "FitConfig",
    "GROUP_NAMES",
    "HamiltonianConfig",
    "HamiltonianFit",
    "LearnedHamiltonian",
    "SpringData",
    "evaluate_hamiltonian",
    "generate_lj_clusters",
    "generate_springs",
    "list_hamiltonians",
    "lj_hamiltonian",
    "load_hamiltonian",
    "propagate_atoms",
    "save_hamiltonian",
    "spring_hamiltonian",
    "train_hamiltonian",
    "LieGroup",
    "LieSelfAttention",
    "LieTransformer",
    "LieTransformerBlock",
    "Lifted",
    "Neighbourhood",
    "all_neighbours",
    "gather_neighbours",
    "group",
    "lift",
    "location_inputs",
    "nearest_neighbours",
    "relative_logs",
]

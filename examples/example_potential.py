"""Which potential the examples use: the one asked for, else a shipped one, else an untrained model."""

from __future__ import annotations

import equiformer_ase as ea


def choose_potential(name: str | None, elements: list[str]) -> ea.Potential:
    """``name`` (shipped name or path) if given; else the first shipped potential covering ``elements``;
    else an UNTRAINED "small" model for ``elements`` (every step runs, the numbers are not physical)."""
    if name:
        return ea.load_potential(name)
    for shipped in ea.list_potentials():
        potential = ea.load_potential(shipped)
        if set(elements) <= set(potential.metadata["elements"]):
            print(f"using shipped potential {shipped!r}")
            return potential
    print(f"no shipped potential covers {', '.join(elements)}: using an UNTRAINED 'small' model "
          "(energies are not physical)")
    return ea.Potential.from_config(ea.EquiformerConfig.preset("small", elements=list(elements)), seed=0)

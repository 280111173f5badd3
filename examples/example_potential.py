"""Which potential the examples use: the one asked for if it exists, else an untrained model."""

from __future__ import annotations

from pathlib import Path

import equiformer_ase as ea


def choose_potential(name: str, elements: list[str]) -> ea.Potential:
    """``name`` (a shipped name or a path) when it exists and covers ``elements``; otherwise an UNTRAINED
    "small" model for ``elements`` (every step runs, the numbers are not physical), said loudly."""
    if Path(name).exists() or name in ea.list_potentials():
        potential = ea.load_potential(name)
        missing = set(elements) - set(potential.metadata["elements"])
        if missing:
            raise SystemExit(f"potential {name!r} does not cover {', '.join(sorted(missing))}")
        print(f"using potential {name!r}")
        return potential
    print(
        f"potential {name!r} is not shipped in this checkout: using an UNTRAINED 'small' model "
        "(energies are not physical)"
    )
    return ea.Potential.from_config(ea.EquiformerConfig.preset("small", elements=list(elements)), seed=0)

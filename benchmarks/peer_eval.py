"""Energies and forces of a peer model on a set of frames; runs inside that peer's own environment.

``peer_training.py`` calls it with the Python of a venv that holds only the peer's package (mace-torch,
sevenn or chgnet pin other e3nn / torch versions than ours), so it imports nothing of equiformer_ase.
Writes an .npz: ``energy`` (F,) eV, ``forces`` (sum of atoms, 3) eV/A in frame order, ``seconds`` (F,)
per energy+forces call, ``parameters`` (the model's parameter count).

    PEER_PYTHON peer_eval.py {mace,sevenn,chgnet} MODEL FRAMES.extxyz OUT.npz
"""

from __future__ import annotations

import sys
import time

import numpy as np
from ase.io import read


def calculator(kind: str, model: str):
    """The peer's ASE calculator for ``model`` (a file for mace; a shipped name for the zero-shot models)."""
    if kind == "mace":
        from mace.calculators import MACECalculator

        calc = MACECalculator(model_paths=model, device="cpu", default_dtype="float64")
        return calc, sum(p.numel() for p in calc.models[0].parameters())
    if kind == "sevenn":
        from sevenn.calculator import SevenNetCalculator

        calc = SevenNetCalculator(model, device="cpu")
        return calc, sum(p.numel() for p in calc.model.parameters())
    if kind == "chgnet":
        from chgnet.model import CHGNet
        from chgnet.model.dynamics import CHGNetCalculator

        net = CHGNet.load(verbose=False)
        return CHGNetCalculator(net, use_device="cpu"), sum(p.numel() for p in net.parameters())
    raise SystemExit(f"unknown peer {kind!r}: mace, sevenn or chgnet")


def main() -> None:
    kind, model, frames_path, out = sys.argv[1:5]
    calc, parameters = calculator(kind, model)
    frames = read(frames_path, ":")
    energies, forces, seconds = [], [], []
    for atoms in frames:
        atoms = atoms.copy()
        if kind != "mace" and not atoms.pbc.any():  # crystal models want a cell: a 30 A box isolates it
            atoms.cell, atoms.pbc = np.eye(3) * 30.0, True
            atoms.center()
        atoms.calc = calc
        start = time.perf_counter()
        energies.append(atoms.get_potential_energy())
        forces.append(atoms.get_forces())
        seconds.append(time.perf_counter() - start)
    np.savez(
        out,
        energy=np.array(energies),
        forces=np.concatenate(forces),
        seconds=np.array(seconds),
        parameters=parameters,
    )


if __name__ == "__main__":
    main()

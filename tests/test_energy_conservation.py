"""Energy conservation: smooth attention."""

from __future__ import annotations

import numpy as np

import equiformer_ase as ea

from conftest import ethanol, tiny_potential


def _force_curvature_along_a_ch_stretch(activation: str) -> np.ndarray:
    """|second differences| (eV/A) of the force on an ethanol H moved along its C-H bond in 1 mA steps."""
    calc = ea.EquiformerCalculator(tiny_potential(attention_activation=activation), device="cpu", dtype="float64")
    atoms = ethanol()
    carbon, hydrogen = 0, 6
    bond = atoms.positions[hydrogen] - atoms.positions[carbon]
    bond /= np.linalg.norm(bond)
    path = []
    for shift in np.linspace(-0.1, 0.1, 201):
        path.append(atoms.copy())
        path[-1].positions[hydrogen] += shift * bond
    forces = [result["forces"][hydrogen] @ bond for result in calc.calculate_batch(path)]
    return np.abs(np.diff(forces, 2))


def test_smooth_attention_keeps_forces_continuous():
    """LeakyReLU attention logits put jumps in the force (second differences 100x their median where a
    logit feature changes sign); the smooth activation leaves none."""
    leaky, smooth = (_force_curvature_along_a_ch_stretch(a) for a in ("leaky_relu", "smooth_leaky_relu"))
    print(f"max |d2F|: leaky {leaky.max():.2e}, smooth {smooth.max():.2e} eV/A (median {np.median(smooth):.1e})")
    assert leaky.max() > 100 * np.median(leaky)
    assert smooth.max() < 5 * np.median(smooth)


def test_new_configs_are_smooth_and_old_files_keep_leaky_relu():
    assert ea.EquiformerConfig.preset("small", elements=["H"]).attention_activation == "smooth_leaky_relu"
    old = {k: v for k, v in ea.EquiformerConfig(elements=["H"]).to_dict().items() if k != "attention_activation"}
    assert ea.EquiformerConfig.from_dict(old).attention_activation == "leaky_relu"
    assert ea.load_potential("gfn2-md17").config.attention_activation == "leaky_relu"

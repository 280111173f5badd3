"""Why does NVE with gfn2-md17 drift? Each candidate cause of issue 21, measured on ethanol.

Sections (``--sections``, default all):

* ``step``: float64 NVE, 4 seeds, 1 ps, at 0.5 and 0.25 fs, for the shipped potential (LeakyReLU attention
  logits) and the same weights with smooth ones (``equiformer_ase.potential.with_smooth_attention``), and the
  shipped potential in float32. A step-size error falls 4x when the step halves; a kink does not.
* ``stretch``: the force on an H moved along its C-H bond in 0.5 mA steps: force jumps (second differences
  far above their median), the largest curvature, and |autograd - finite-difference| of dE/dx.
* ``kinks``: sign changes of the LeakyReLU inputs per ps along a 0.5 fs trajectory (each one is a force jump).
* ``cutoff``: a water O moved across the 5 A cutoff of ethanol's O: jumps of E and of the force there; along
  trajectories, how often an edge crosses the cutoff, and the skin list (rebuilt when an atom moved half the
  skin) against a fresh list every step: any difference in energies or positions.
* ``conservative``: autograd forces against central finite differences (h = 1e-4 A) at frames of the run.

Drift = slope of a line fitted to the total energy per atom (eV/atom/ps); change = last - first (eV/atom);
fluctuation = standard deviation about the line. Prints tables; ``--json`` stores every number.

    OMP_NUM_THREADS=1 python benchmarks/nve_drift_causes.py --json benchmarks/results/nve_drift_causes.json
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
from ase import Atoms
from ase.build import molecule

import equiformer_ase as ea
from equiformer_ase.conservation import nve_drift, thermalised
from equiformer_ase.data import md17_molecule
from equiformer_ase.dynamics import MolecularDynamics
from equiformer_ase.potential import with_smooth_attention

POTENTIAL = "gfn2-md17"
SEEDS = (0, 1, 2, 3)


def models() -> dict[str, ea.Potential]:
    """The shipped potential and its weights with smooth attention logits."""
    shipped = ea.load_potential(POTENTIAL)
    return {"LeakyReLU (shipped)": shipped, "smooth_leaky_relu": with_smooth_attention(shipped)}


def calculator(potential) -> ea.EquiformerCalculator:
    return ea.EquiformerCalculator(potential, device="cpu", dtype="float64")


def row(values: list, widths: list[int]) -> str:
    return "  ".join(
        f"{v:>{w}}" if not isinstance(v, str) or w > 0 else f"{v:<{-w}}" for v, w in zip(values, widths)
    )


# --------------------------------------------------------------------------------------------- step
def step_section(out: dict) -> None:
    cases = [(name, potential, "float64", dt) for name, potential in models().items() for dt in (0.5, 0.25)]
    cases.append(("LeakyReLU (shipped)", models()["LeakyReLU (shipped)"], "float32", 0.5))
    print("\nstep: ethanol, 300 K, 1 ps, seeds " + ",".join(map(str, SEEDS)))
    widths = [-22, 7, 5, 10, 10, 10, 9]
    print(row(["model", "dtype", "dt", "|drift|max", "drift rms", "|chg|max", "fluct"], widths))
    out["step"] = []
    for name, potential, dtype, dt in cases:
        runs = nve_drift(
            potential,
            {"ethanol": md17_molecule("ethanol")},
            duration=1000.0,
            seeds=SEEDS,
            timestep=dt,
            dtype=dtype,
            interval=max(1, round(2.5 / dt)),
        )
        drift = np.array([r["drift"] for r in runs])
        change = np.array([r["change"] for r in runs])
        fluctuation = np.mean([r["fluctuation"] for r in runs])
        out["step"].append({"model": name, "dtype": dtype, "timestep_fs": dt, "runs": runs})
        print(
            row(
                [
                    name,
                    dtype,
                    f"{dt:g}",
                    f"{np.abs(drift).max():.1e}",
                    f"{np.sqrt((drift**2).mean()):.1e}",
                    f"{np.abs(change).max():.1e}",
                    f"{fluctuation:.1e}",
                ],
                widths,
            ),
            flush=True,
        )


# ------------------------------------------------------------------------------------------ stretch
def stretch_section(out: dict) -> None:
    atoms = md17_molecule("ethanol")
    carbon, hydrogen = 0, 3
    bond = atoms.positions[hydrogen] - atoms.positions[carbon]
    bond /= np.linalg.norm(bond)
    h = 5e-4
    shifts = np.arange(-0.15, 0.25 + h / 2, h)
    path = []
    for shift in shifts:
        path.append(atoms.copy())
        path[-1].positions[hydrogen] += shift * bond
    print(
        f"\nstretch: ethanol C{carbon}-H{hydrogen} from {shifts[0]:+.2f} to {shifts[-1]:+.2f} A in "
        f"{h * 1e3:g} mA steps"
    )
    widths = [-22, 12, 12, 12, 14]
    print(row(["model", "F jumps", "max |d2F|", "max d2E/dx2", "|F - FD| max"], widths))
    out["stretch"] = []
    for name, potential in models().items():
        results = calculator(potential).calculate_batch(path)
        energy = np.array([r["energy"] for r in results])
        force = np.array([-r["forces"][hydrogen] @ bond for r in results])  # dE/dx
        second = np.abs(np.diff(force, 2))
        jumps = second > 20 * np.median(second)
        curvature = np.abs(np.diff(force) / h).max()
        mismatch = np.abs(np.gradient(energy, h) - force)[2:-2].max()
        record = {
            "model": name,
            "jumps": int(jumps.sum()),
            "largest_jump_ev_per_a": float(second.max()),
            "max_curvature_ev_per_a2": float(curvature),
            "max_fd_mismatch_ev_per_a": float(mismatch),
        }
        out["stretch"].append(record)
        print(
            row(
                [name, record["jumps"], f"{second.max():.1e}", f"{curvature:.1f}", f"{mismatch:.1e}"], widths
            ),
            flush=True,
        )


# -------------------------------------------------------------------------------------------- kinks
def kinks_section(out: dict) -> None:
    """Sign changes of the LeakyReLU inputs (the attention logit features) between consecutive steps with the
    same edge list."""
    md = MolecularDynamics(
        [thermalised(md17_molecule("ethanol"), 300.0, 0)],
        POTENTIAL,
        timestep=0.5,
        device="cpu",
        dtype="float64",
    )
    attentions = [block.attention for block in md.systems.potential.model.blocks]
    features = {}
    handles = [
        a.linear_message.register_forward_hook(
            lambda module, inputs, output, k=k: features.__setitem__(
                k, output[:, : attentions[k].num_alpha].detach()
            )
        )
        for k, a in enumerate(attentions)
    ]
    steps, changes, compared, previous = 400, 0, 0, None
    for _ in range(steps):
        md.run(1, progress=False)
        edges = md.systems.neighbour_list.update(md.state.positions, md.systems.templates).edge_index
        current = (edges, [features[k] for k in range(len(attentions))])
        if previous is not None and torch.equal(previous[0], edges):
            changes += sum(int(((p > 0) != (c > 0)).sum()) for p, c in zip(previous[1], current[1]))
            compared += 1
        previous = current
    for handle in handles:
        handle.remove()
    per_step = changes / compared
    out["kinks"] = {
        "steps_compared": compared,
        "timestep_fs": 0.5,
        "sign_changes": changes,
        "per_ps": per_step * 2000,
        "features_per_step": sum(f.numel() for f in features.values()),
    }
    print(
        f"\nkinks: {changes} sign changes of LeakyReLU inputs over {compared} steps of 0.5 fs with unchanged "
        f"edges ({per_step:.3g} per step, {per_step * 2000:.3g} per ps; "
        f"{out['kinks']['features_per_step']} features per evaluation)"
    )


# ------------------------------------------------------------------------------------------- cutoff
def water_near_ethanol(distance: float) -> Atoms:
    """Ethanol plus a water whose O sits ``distance`` A from ethanol's O, along +x, H pointing away."""
    ethanol = md17_molecule("ethanol")
    water = molecule("H2O")
    water.rotate(-90, "y")
    water.positions += ethanol.positions[2] + [distance, 0.0, 0.0] - water.positions[0]
    return ethanol + water


def cutoff_section(out: dict) -> None:
    potential = ea.load_potential(POTENTIAL)
    cutoff, h = potential.config.cutoff, 1e-4
    distances = np.arange(cutoff - 0.02, cutoff + 0.02 + h / 2, h)
    results = calculator(potential).calculate_batch([water_near_ethanol(d) for d in distances])
    energy = np.array([r["energy"] for r in results])
    pull = np.array([r["forces"][9, 0] for r in results])  # force on the water O along the path (-dE/dr)
    step_e, second_f = np.abs(np.diff(energy)), np.abs(np.diff(pull, 2))
    out["cutoff_path"] = {
        "distances_a": [float(distances[0]), float(distances[-1])],
        "step_a": h,
        "max_energy_step_ev": float(step_e.max()),
        "median_energy_step_ev": float(np.median(step_e)),
        "max_force_second_difference_ev_per_a": float(second_f.max()),
    }
    print(
        f"\ncutoff: water O moved {distances[0]:.2f}..{distances[-1]:.2f} A from ethanol's O ({h:g} A steps): "
        f"largest |dE| per step {step_e.max():.1e} eV (median {np.median(step_e):.1e}), largest second difference "
        f"of the force on the O {second_f.max():.1e} eV/A"
    )

    # along trajectories: edges crossing the cutoff, and the skin list (rebuilt when an atom moved 0.25 A)
    # against a fresh list every step
    runs = {}
    for skin in (0.5, 0.0):
        md = MolecularDynamics(
            [thermalised(md17_molecule("ethanol"), 300.0, seed) for seed in SEEDS],
            potential,
            timestep=0.5,
            device="cpu",
            dtype="float64",
            skin=skin,
        )
        neighbours, totals, edge_counts = md.systems.neighbour_list, [], []
        for _ in range(1000):
            md.run(1, progress=False)
            totals.append(md.energies()["total"])
            edge_counts.append(
                neighbours.update(md.state.positions, md.systems.templates).edge_index.shape[1]
            )
        runs[skin] = {
            "rebuilds": neighbours.rebuilds,
            "totals": np.array(totals),
            "edges": np.array(edge_counts),
            "positions": md.state.positions.numpy(),
        }
    reused, fresh = runs[0.5], runs[0.0]
    out["cutoff_md"] = {
        "steps": 1000,
        "timestep_fs": 0.5,
        "rebuilds_with_skin": reused["rebuilds"],
        "edge_count_changes": int((np.diff(reused["edges"]) != 0).sum()),
        "max_total_energy_difference_ev": float(np.abs(reused["totals"] - fresh["totals"]).max()),
        "max_position_difference_a": float(np.abs(reused["positions"] - fresh["positions"]).max()),
    }
    print(
        f"4 ethanol x 1000 steps of 0.5 fs: {out['cutoff_md']['edge_count_changes']} steps where an edge crossed "
        f"the cutoff; skin 0.5 A ({reused['rebuilds']} rebuilds) vs a fresh list every step: total energies differ "
        f"by {out['cutoff_md']['max_total_energy_difference_ev']:.1e} eV, final positions by "
        f"{out['cutoff_md']['max_position_difference_a']:.1e} A"
    )


# ------------------------------------------------------------------------------------- conservative
def conservative_section(out: dict) -> None:
    """Autograd forces vs central differences of the energy at every 100th frame of a 0.5 fs run."""
    h = 1e-4
    md = MolecularDynamics(
        [thermalised(md17_molecule("ethanol"), 300.0, 0)],
        POTENTIAL,
        timestep=0.5,
        device="cpu",
        dtype="float64",
    )
    frames = []
    for _ in range(5):
        md.run(100, progress=False)
        frames.append(md.get_atoms()[0])
    out["conservative"] = []
    print(
        f"\nconservative: |F_autograd - F_fd| (h = {h:g} A) at 5 frames, 50 fs apart, of a 0.5 fs ethanol run"
    )
    for name, potential in models().items():
        calc, errors = calculator(potential), []
        for atoms in frames:
            forces = calc.calculate_batch([atoms])[0]["forces"]
            displaced = []
            for i in range(len(atoms)):
                for axis in range(3):
                    for sign in (1, -1):
                        displaced.append(atoms.copy())
                        displaced[-1].positions[i, axis] += sign * h
            energies = np.array([r["energy"] for r in calc.calculate_batch(displaced)]).reshape(
                len(atoms), 3, 2
            )
            errors.append(np.abs(forces + (energies[..., 0] - energies[..., 1]) / (2 * h)).ravel())
        errors = np.concatenate(errors)
        out["conservative"].append(
            {"model": name, "max_ev_per_a": float(errors.max()), "median_ev_per_a": float(np.median(errors))}
        )
        print(f"  {name:<22} max {errors.max():.1e} eV/A, median {np.median(errors):.1e} eV/A", flush=True)


SECTIONS = {
    "step": step_section,
    "stretch": stretch_section,
    "kinks": kinks_section,
    "cutoff": cutoff_section,
    "conservative": conservative_section,
}


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sections", default=",".join(SECTIONS), help=f"comma-separated of {', '.join(SECTIONS)}"
    )
    parser.add_argument("--json", default=None, help="write every number here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = {"potential": POTENTIAL, "seeds": list(SEEDS)}
    for section in args.sections.split(","):
        SECTIONS[section](out)
        if args.json:
            with open(args.json, "w") as handle:
                json.dump(out, handle, indent=1)


if __name__ == "__main__":
    main()

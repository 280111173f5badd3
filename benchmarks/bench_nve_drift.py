"""NVE energy drift of every shipped Equiformer potential (the table in docs/energy-conservation.md).

* ``gfn2-md17`` and ``gfn2-md17-committee``: the eight MD17 molecules;
* ``emt-surfaces`` and ``emt-surfaces-committee``: a 2x2x3 Cu(111) slab (bottom layer fixed, EMT-relaxed)
  with one adsorbate of each class: atomic H, atomic O, CO (a molecule without H), OH and CH3 (with H).

``--smooth-attention``: the same weights with smooth attention logits
(``equiformer_ase.potential.with_smooth_attention``; potentials only, not committees), as they would be re-shipped.

Velocity Verlet through the on-device engine, float64, 300 K Maxwell-Boltzmann momenta, seeds 0-3, 1 ps, at
:func:`equiformer_ase.conservation.check_timestep` (0.5 fs with hydrogen, 1 fs without). Per system over the
seeds: the largest |drift| (slope of a line through the total energy per atom, eV/atom/ps), the largest
|change| (last - first, eV/atom) and the mean fluctuation about the line (eV/atom); ``passes`` compares every
seed's |drift| with ``equiformer_ase.training.shipping.nve_check.DRIFT_LIMIT``. Prints a markdown table; ``--json``
stores every run.

    OMP_NUM_THREADS=1 python benchmarks/bench_nve_drift.py --json benchmarks/results/nve_drift_shipped.json
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from equiformer_ase.committee import inference_model
from equiformer_ase.conservation import nve_drift
from equiformer_ase.data import MD17_MOLECULES, md17_molecule
from equiformer_ase.potential import load_potential, with_smooth_attention
from equiformer_ase.training.shipping.nve_check import DRIFT_LIMIT, adsorbate_on_slab

ADSORBATE_CLASSES = {
    "H": "atomic H",
    "O": "atomic O",
    "CO": "molecule",
    "OH": "molecule with H",
    "CH3": "molecule with H",
}
SEEDS = (0, 1, 2, 3)
DURATION = 1000.0  # fs


def systems(potential: str) -> dict:
    """The eight MD17 molecules for a molecular potential (or committee), else a Cu(111) slab with each
    adsorbate class."""
    if "Cu" not in inference_model(potential, torch.device("cpu"), torch.float64).config.elements:
        return {name: md17_molecule(name) for name in MD17_MOLECULES}
    return {f"Cu(111)+{name}": adsorbate_on_slab("Cu", name) for name in ADSORBATE_CLASSES}


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--potentials", default="gfn2-md17,gfn2-md17-committee,emt-surfaces,emt-surfaces-committee"
    )
    parser.add_argument("--duration", type=float, default=DURATION, help="fs")
    parser.add_argument(
        "--smooth-attention", action="store_true", help="convert the weights to smooth attention"
    )
    parser.add_argument("--json", default=None, help="write every run here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = {
        "smooth_attention": args.smooth_attention,
        "duration_fs": args.duration,
        "temperature_K": 300.0,
        "dtype": "float64",
        "seeds": list(SEEDS),
        "limit_ev_per_atom_ps": DRIFT_LIMIT,
        "runs": {},
    }
    print(
        f"{'smooth attention, ' if args.smooth_attention else ''}float64, 300 K, {args.duration:g} fs, seeds "
        f"{','.join(map(str, SEEDS))}; limit {DRIFT_LIMIT:g} eV/atom/ps\n"
    )
    print(
        "| potential | system | atoms | step (fs) | max abs drift (eV/atom/ps) | max abs change (eV/atom) | "
        "fluctuation (eV/atom) | passes |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for potential in args.potentials.split(","):
        cases = systems(potential)
        model = with_smooth_attention(load_potential(potential)) if args.smooth_attention else potential
        runs = nve_drift(model, cases, duration=args.duration, seeds=SEEDS)
        out["runs"][potential] = runs
        for name in cases:
            mine = [run for run in runs if run["system"] == name]
            if any("error" in run for run in mine):
                print(
                    f"| {potential} | {name} | {mine[0]['atoms']} | {mine[0]['timestep_fs']:g} | blew up: "
                    f"{next(run['error'] for run in mine if 'error' in run)} | | | no |",
                    flush=True,
                )
                continue
            drift = max(abs(run["drift"]) for run in mine)
            change = max(abs(run["change"]) for run in mine)
            fluctuation = np.mean([run["fluctuation"] for run in mine])
            print(
                f"| {potential} | {name} | {mine[0]['atoms']} | {mine[0]['timestep_fs']:g} | {drift:.1e} | "
                f"{change:.1e} | {fluctuation:.1e} | {'yes' if drift <= DRIFT_LIMIT else 'no'} |",
                flush=True,
            )
        if args.json:
            with open(args.json, "w") as handle:
                json.dump(out, handle, indent=1)


if __name__ == "__main__":
    main()

"""The ``equiformer-ase`` command.

Each command parses its arguments, checks inputs and output paths, calls one library function and
prints. A user mistake (the package's errors, ``ValueError``, ``OSError``) is one line on stderr and
exit code 2, mapped in :func:`main` alone; a simulation blow-up is one line and exit code 1. Heavy
modules (torch, e3nn) are imported inside the commands, so ``--help`` and argument errors are fast.
"""

from __future__ import annotations

import argparse
import math
import sys

from . import __version__
from .errors import USER_ERRORS, BlowUpError


def _info(args: argparse.Namespace) -> int:
    import platform
    from importlib.metadata import PackageNotFoundError, version

    import torch

    from .shipped import COMMITTEE, HAMILTONIAN, POTENTIAL, read_header, shipped_names

    print(f"equiformer-ase {__version__}")
    print(f"python {platform.python_version()}, torch {torch.__version__}, e3nn {version('e3nn')}")
    devices = ["cpu"] + [f"cuda:{k} ({torch.cuda.get_device_name(k)})" for k in range(torch.cuda.device_count())]
    print(f"devices: {', '.join(devices)}")
    try:
        print(f"torch-cluster {version('torch-cluster')} (GPU neighbour lists)")
    except PackageNotFoundError:
        print("torch-cluster not installed (GPU neighbour lists fall back to brute force / matscipy)")
    names, committees = shipped_names(POTENTIAL), shipped_names(COMMITTEE)
    print(f"shipped potentials ({len(names) + len(committees)}):")
    for name in sorted(names + committees):
        if name in committees:
            members = read_header(name, COMMITTEE)["members"]
            print(f"  {name}: committee of {len(members)}, elements {','.join(members[0]['elements'])}, "
                  f"cutoff {members[0]['cutoff']} A")
            continue
        header = read_header(name, POTENTIAL)
        print(f"  {name}: elements {','.join(header['elements'])}, cutoff {header['cutoff']} A, "
              f"preset {header['config']['preset_name']}")
    hamiltonians = shipped_names(HAMILTONIAN)
    print(f"shipped learned Hamiltonians ({len(hamiltonians)}): {', '.join(hamiltonians)}")
    return 0


def _generate(args: argparse.Namespace) -> int:
    from .io import check_output
    from .training import frame_counts, generate, recipe_path

    check_output(args.out, "--out")
    try:
        generate(args.subset, args.out, preset=args.preset, seed=args.seed)
    except KeyboardInterrupt:
        print(f"\ninterrupted; finished tasks are in {args.out}: re-run the same command to resume", file=sys.stderr)
        return 130
    counts = frame_counts(args.out)
    print(f"{args.out}: {sum(counts.values())} frames ({', '.join(f'{k} {n}' for k, n in counts.items())}); "
          f"recipe in {recipe_path(args.out)}")
    return 0


def _md(args: argparse.Namespace) -> int:
    import warnings
    from pathlib import Path

    import numpy as np
    from ase.md.velocitydistribution import thermalize_momenta

    from .dynamics import MolecularDynamics, last_frames, trajectory_paths
    from .io import check_output, read_frames

    structures = read_frames(args.structure)
    systems = [atoms.copy() for atoms in structures for _ in range(args.replicas)]
    logfile = args.log or Path(args.traj).with_suffix(".log")
    for path in trajectory_paths(args.traj, len(systems)):
        check_output(path, "--traj")
    check_output(logfile, "--log")
    if args.resume:
        with warnings.catch_warnings(record=True) as repairs:
            warnings.simplefilter("always")
            systems = last_frames(args.traj, len(systems))
        for repair in repairs:
            print(f"equiformer-ase md: {repair.message}", file=sys.stderr)
    elif args.temperature is not None:
        for k, atoms in enumerate(systems):
            thermalize_momenta(atoms, args.temperature, rng=np.random.default_rng(args.seed + k))
    try:
        md = MolecularDynamics(systems, _potential_argument(args.potential), timestep=args.timestep,
                               ensemble=args.ensemble, temperature=args.temperature, friction=args.friction,
                               seed=args.seed, device=args.device, dtype=args.dtype, max_force=args.max_force,
                               max_drift=args.max_drift, max_temperature=args.max_temperature,
                               check_escape=not args.allow_escape, max_uncertainty=args.max_uncertainty,
                               allow_close_contacts=args.allow_close_contacts)
        remaining = args.steps - md.step_count
        md.run(remaining, trajectory=args.traj, logfile=logfile, interval=args.interval)
    except KeyboardInterrupt:
        print(f"\ninterrupted; frames so far are in {args.traj}: add --resume to continue", file=sys.stderr)
        return 130
    energies = md.energies()
    print(f"{len(systems)} systems, {md.step_count} steps ({md.step_count * args.timestep:g} fs); "
          f"final T {np.round(energies['temperature'], 1).tolist()} K; log {logfile}")
    if md.systems.is_committee:
        print(f"final max_forces_dev {np.round(md.systems.max_forces_dev.tolist(), 4).tolist()} eV/A")
    return 0


def _potential_argument(names: list[str]):
    """``--potential NAME [NAME ...]``: one potential (or committee file), or several as a committee."""
    return names[0] if len(names) == 1 else names


def _relax(args: argparse.Namespace) -> int:
    import numpy as np
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.filters import FrechetCellFilter
    from ase.io import write
    from ase.optimize import BFGS, FIRE

    from .calculator import EquiformerCalculator
    from .dynamics import relax
    from .io import check_output, read_frames

    structures = read_frames(args.structure)
    check_output(args.out, "--out", frames=len(structures))
    potential = _potential_argument(args.potential)
    if args.cell:
        calc = EquiformerCalculator(potential, device=args.device, dtype=args.dtype,
                                    allow_close_contacts=args.allow_close_contacts)
        optimizer = {"fire": FIRE, "bfgs": BFGS}[args.optimizer]
        relaxed, converged = [], []
        for atoms in structures:
            atoms.calc = calc
            converged.append(bool(optimizer(FrechetCellFilter(atoms), logfile=None).run(fmax=args.fmax,
                                                                                          steps=args.steps)))
            atoms.calc = SinglePointCalculator(atoms, energy=atoms.get_potential_energy(),
                                               forces=atoms.get_forces(), stress=atoms.get_stress())
            if "max_forces_dev" in calc.results:
                atoms.info["max_forces_dev"] = calc.results["max_forces_dev"]
            relaxed.append(atoms)
    else:
        relaxed, converged = relax(structures, potential, fmax=args.fmax, steps=args.steps,
                                   device=args.device, dtype=args.dtype,
                                   allow_close_contacts=args.allow_close_contacts)
    write(args.out, relaxed)
    for k, (atoms, done) in enumerate(zip(relaxed, converged)):
        fmax = np.linalg.norm(atoms.get_forces(), axis=1).max()
        deviation = (f", max_forces_dev {atoms.info['max_forces_dev']:.4f} eV/A"
                     if "max_forces_dev" in atoms.info else "")
        print(f"structure {k} ({atoms.get_chemical_formula()}): E = {atoms.get_potential_energy():.6f} eV, "
              f"fmax = {fmax:.4f} eV/A{deviation}, {'converged' if done else 'NOT converged'}")
    print(f"{sum(converged)}/{len(converged)} converged; written to {args.out}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from .training import TrainingConfig, train

    config = TrainingConfig(
        epochs=args.epochs if args.epochs is not None or args.max_time is not None else 100,
        max_time=args.max_time, batch_size=args.batch_size, lr=args.lr, energy_weight=args.energy_weight,
        force_weight=args.force_weight, stress_weight=args.stress_weight, validation=args.validation,
        test=args.test, seed=args.seed, checkpoint_minutes=args.checkpoint_minutes, dtype=args.dtype,
    )
    elements = args.elements.split(",") if args.elements else None
    try:
        result = train(args.data, args.out, config, elements=elements, preset=args.preset, device=args.device,
                       resume=args.resume, init_from=args.init_from, refit_references=args.refit_references)
    except KeyboardInterrupt:
        print(f"\ninterrupted; add --resume to continue from {args.out}/checkpoint.pt", file=sys.stderr)
        return 130
    if result:
        test = result["metrics"]["test"]["overall"]
        print(f"{args.out}/best.safetensors: {result['training']['epochs']} epochs; test energy MAE "
              f"{test['energy_mae_mev_per_atom']:.2f} meV/atom, forces MAE {test['forces_mae_mev_per_a']:.1f} meV/A")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    import json

    import torch

    from .io import check_output
    from .potential import load_potential
    from .training import format_errors, group_errors, predict, read_structures, to_samples
    from .training.card import held_out
    from .training.dataset import GROUP_KEYS

    if args.json:
        check_output(args.json, "--json")
    potential = load_potential(args.potential).to(dtype=torch.float64)
    if args.split == "all":
        samples = to_samples(read_structures(args.data), potential.config.elements, GROUP_KEYS + tuple(args.group_by))
    else:
        samples = held_out(potential, args.data, args.split)
    errors = group_errors(samples, predict(potential, samples, args.batch_size, args.device))
    print(format_errors(errors))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(errors, handle, indent=2)
    return 0


def _ship(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .training.card import ship

    path = ship(args.run, args.data, args.name, args.out, Path(args.limits).read_text(), args.device,
                nve_duration=args.nve_duration, allow_drift=args.allow_drift)
    print(f"wrote {path} and {path.with_suffix('.md')}")
    return 0


def _ship_committee(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .training.committee_card import ship_committee

    path = ship_committee(args.members, args.name, args.out, args.probe, Path(args.limits).read_text(), args.device)
    print(f"wrote {path}, {path.with_suffix('.md')} and {path.with_suffix('.png')}")
    return 0


def _springs(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    import torch

    from .lie.fitting import FitConfig, HamiltonianFit, evaluate_hamiltonian, mean_kinetic_energy
    from .lie.hamiltonian import LearnedHamiltonian
    from .lie.hamiltonian_card import ship_hamiltonian
    from .lie.hamiltonian_files import load_hamiltonian
    from .lie.springs import SpringData, generate_springs

    try:
        if args.action == "generate":
            data = generate_springs(args.systems, seed=args.seed)
            data.save(args.out)
            print(f"{args.out}: {data.q.shape[0]} systems x {data.q.shape[1]} times x {data.q.shape[2]} particles "
                  f"(seed {args.seed}, float64 RK4 ground truth)")
        elif args.action == "train":
            data = SpringData.load(args.data)
            total = data.q.shape[0]
            held_out = SpringData.load(args.validation_data) if args.validation_data else data
            if args.validation_data is None and args.train + args.validation > total:
                raise ValueError(f"{args.data} has {total} trajectories, fewer than --train {args.train} + "
                                 f"--validation {args.validation}")
            if args.train > total or args.validation > held_out.q.shape[0]:
                raise ValueError(f"--train {args.train} / --validation {args.validation} exceed the trajectories in "
                                 f"{args.data} ({total}) / {args.validation_data} ({held_out.q.shape[0]})")
            train = data.systems(slice(0, args.train))
            count = held_out.q.shape[0]
            validation = held_out.systems(slice(count - args.validation, count))
            model = LearnedHamiltonian(model=args.model, group=args.group, dim=data.q.shape[-1],
                                       num_particles=data.q.shape[2], width=args.width, depth=args.depth,
                                       heads=args.heads, separable=not args.full,
                                       energy_scale=mean_kinetic_energy(train), seed=args.seed).double()
            config = FitConfig(epochs=args.epochs, max_time=args.max_time, batch_size=args.batch_size, lr=args.lr,
                               seed=args.seed, validate_every=args.validate_every)
            fit = HamiltonianFit(model, train, validation, config, args.out, resume=args.resume,
                                 training_info={"data": f"{args.data} (first {args.train})",
                                                "validation": f"{args.validation_data or args.data} "
                                                              f"(last {args.validation})"})
            history = fit.run()
            print(f"{args.out}/best.safetensors: best validation {config.chunk_len}-point MSE {fit.best:.4g} "
                  f"after {history[-1]['epoch'] if history else 0} epochs")
        elif args.action == "ship":
            if not (args.out and args.name and args.limits):
                raise ValueError("ship needs RUN (as data), --out FOLDER, --name NAME and --limits FILE; "
                                 "pass the test .npz as model_file")
            malformed = [item for item in args.baseline if "=" not in item]
            if malformed:
                raise ValueError(f"--baseline takes LABEL=FILE, got {malformed}")
            baselines = dict(item.split("=", 1) for item in args.baseline)
            descriptions = {key: value for key, value in (("data", args.describe_train),
                            ("validation", args.describe_validation), ("test_data", args.describe_test)) if value}
            path = ship_hamiltonian(args.data, args.model_file, args.name, args.out, Path(args.limits).read_text(),
                                    descriptions, baselines)
            print(f"wrote {path} and {path.with_suffix('.md')}")
        else:
            model = load_hamiltonian(args.model_file, dtype=torch.float64)
            metrics = evaluate_hamiltonian(model, SpringData.load(args.data), rollout_steps=args.rollout_steps)
            print(json.dumps(metrics, indent=1))
    except KeyboardInterrupt:
        print("\ninterrupted: re-run with --resume to continue from the checkpoint", file=sys.stderr)
        return 130
    return 0


def _screen(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .io import check_output
    from .screening import Screening, ScreeningSpec, compare_methods
    from .screening.report import comparison_rows, format_table, summary_rows, write_csv, write_heatmap

    def names(text: str) -> tuple[str, ...]:
        return tuple(item.strip() for item in text.split(",") if item.strip())

    stem = Path(args.db).with_suffix("") if "://" not in args.db else Path("screening")
    for path, what in ((args.db, "--db"), (f"{stem}_summary.csv", "summary"), (f"{stem}_heatmap.png", "heatmap")):
        if "://" not in str(path):
            check_output(path, what)
    spec = ScreeningSpec(potential=args.potential, metals=names(args.metals), facets=names(args.facets),
                         adsorbates=names(args.adsorbates), fmax=args.fmax, steps=args.steps,
                         batch_size=args.batch_size, device=args.device, dtype=args.dtype)
    client = cluster = None
    if args.scheduler or args.workers > 0:
        from distributed import Client, LocalCluster

        if args.scheduler:
            client = Client(args.scheduler)
        else:
            cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, host="127.0.0.1",
                                   dashboard_address=None)
            client = Client(cluster)
    screening = Screening(spec, args.db, client)
    try:
        screening.run(check_with=args.check_with)
    except KeyboardInterrupt:
        print(f"\ninterrupted; finished structures are in {args.db}: re-run the same command to resume",
              file=sys.stderr)
        return 130
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    best = screening.best()
    reference = screening.best(args.check_with) if args.check_with else None
    rows = summary_rows(best, reference)
    write_csv(rows, f"{stem}_summary.csv")
    write_heatmap(best, f"{stem}_heatmap.png", f"adsorption energies, {spec.method} (eV)")
    print(format_table(rows))
    print(f"summary: {stem}_summary.csv, heatmap: {stem}_heatmap.png; {screening.throughput()}")
    if other := screening.other_results():
        print(other)
    if reference is not None:
        comparison = compare_methods(best, reference, [a.name for a in spec.adsorbates])
        print(f"\n{spec.method} vs {args.check_with}, best sites across surfaces:")
        print(format_table(comparison_rows(comparison, digits=4)))
    return 0


def _learn(args: argparse.Namespace) -> int:
    from dataclasses import fields

    from .training.active import LearnSettings, learn

    given = vars(args)
    settings = LearnSettings(**{f.name: given[f.name] for f in fields(LearnSettings) if f.name in given})
    try:
        rows = learn(args.data, _potential_argument(args.committee), args.probe, args.out, settings, args.device)
    except KeyboardInterrupt:
        print(f"\ninterrupted; finished stages are in {args.out}: re-run the same command to resume", file=sys.stderr)
        return 130
    print(f"{'iteration':>9} {'explored':>8} {'selected':>8} {'labelled':>8} {'<low':>6} {'probe F MAE':>12}")
    for row in rows:
        below = row.get("below_low_fraction")
        print(f"{row['iteration']:>9} {row.get('explored', ''):>8} {row.get('selected', ''):>8} "
              f"{row.get('labelled', ''):>8} {'' if below is None else f'{below:.2f}':>6} "
              f"{row['probe_forces_mae_mev_per_a']:>8.1f} meV/A")
    print(f"committee: {rows[-1]['committee']}; table {args.out}/learn.csv, plot {args.out}/learn.png, "
          f"data {args.out}/data.extxyz")
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from .training.calibration import calibrate

    stats = calibrate(_potential_argument(args.committee), args.data, args.png, args.device, args.dtype)
    print(f"{stats['frames']} frames, {stats['atoms']} atoms; "
          f"force MAE of the mean {stats['forces_mae_mev_per_a']:.1f} meV/A")
    print(f"Spearman per frame (max_forces_dev vs largest atom error): {stats['frame_spearman']:.3f}")
    print(f"Spearman per atom (forces_dev vs |F_mean - F_ref|): {stats['atom_spearman']:.3f}")
    if args.png:
        print(f"scatter plot: {args.png}")
    return 0


class _Parser(argparse.ArgumentParser):
    """An argument mistake is one line on stderr (the problem, then where help is) and exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Help that shows each option's default, unless it is None, a flag's False or already in the text."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _checked(convert, test, requirement: str):
    """An argparse type: ``convert(text)`` that must pass ``test``, else a message naming ``requirement``."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not test(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {requirement}")
        return value
    return parse


POSITIVE_INT = _checked(int, lambda v: v > 0, "a positive integer")
COUNT = _checked(int, lambda v: v >= 0, "an integer >= 0")
POSITIVE = _checked(float, lambda v: math.isfinite(v) and v > 0, "a positive number")
NON_NEGATIVE = _checked(float, lambda v: math.isfinite(v) and v >= 0, "a number >= 0")
LIMIT = _checked(float, lambda v: v > 0, "a positive number or inf (no limit)")


def build_parser() -> argparse.ArgumentParser:
    """The ``equiformer-ase`` argument parser with every command."""
    parser = _Parser(prog="equiformer-ase", formatter_class=_Formatter,
                     description="Equiformer force fields and LieTransformer Hamiltonians in ASE: MD, relaxation, "
                                 "training, adsorbate screening.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--threads", type=POSITIVE_INT, default=None,
                        help="torch CPU threads (default: torch's choice, one per core)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func, help: str, description: str | None = None) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, help=help, description=description or help, formatter_class=_Formatter)
        parser.set_defaults(func=func)
        return parser

    command("info", _info, "versions, devices and shipped potentials")
    gen = command("generate", _generate, "reference data: EMT surfaces or GFN2-xTB MD17 molecules (resumable)",
                  "Generate reference data with a written recipe; re-running resumes.")
    gen.add_argument("subset", help="surfaces (EMT, fcc metals + H/C/N/O) or molecules (GFN2-xTB, needs tblite)")
    gen.add_argument("--out", required=True, help="output .extxyz/.xyz or .db file; recipe JSON goes next to it")
    gen.add_argument("--preset", default="full", help="full, compact (molecules: 300 frames per molecule) or tiny")
    gen.add_argument("--seed", type=int, default=None, help="random seed (default: the preset's, 0)")

    md = command("md", _md, "on-device batched MD (NVE velocity Verlet or NVT Langevin BAOAB)",
                 "All frames of STRUCTURE (x --replicas) advance together on the device.")
    md.add_argument("structure", help="any file ASE reads; every frame is a system")
    md.add_argument("--potential", required=True, nargs="+",
                    help="shipped name or .safetensors path; several (or a committee file): a committee")
    md.add_argument("--max-uncertainty", type=LIMIT, default=float("inf"), metavar="EV_PER_A",
                    help="committee only: stop when a system's max_forces_dev exceeds this (last good frame kept)")
    md.add_argument("--ensemble", choices=["nve", "nvt"], default="nve", help="NVE or Langevin NVT")
    md.add_argument("--temperature", type=NON_NEGATIVE, default=None,
                    help="K: initial Maxwell-Boltzmann momenta, and the NVT target (default: the file's momenta)")
    md.add_argument("--timestep", type=POSITIVE, required=True, help="fs")
    md.add_argument("--steps", type=POSITIVE_INT, required=True,
                    help="total number of steps (a resumed run stops there too)")
    md.add_argument("--traj", required=True, help="output .traj; one file per system (OUT_k.traj) when several")
    md.add_argument("--replicas", type=POSITIVE_INT, default=1, help="copies of each structure (own seeds)")
    md.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    md.add_argument("--dtype", choices=["float32", "float64"], default="float32", help="model precision")
    md.add_argument("--friction", type=POSITIVE, default=0.01, help="NVT friction, 1/fs")
    md.add_argument("--seed", type=int, default=0, help="seed of the initial momenta and the Langevin noise")
    md.add_argument("--interval", type=POSITIVE_INT, default=10, help="write a frame and log line every N steps")
    md.add_argument("--log", default=None, help="CSV log (default: TRAJ with .log suffix)")
    md.add_argument("--max-force", type=POSITIVE, default=100.0, help="eV/A; stop with an error above it")
    md.add_argument("--max-drift", type=LIMIT, default=0.1,
                    help="eV/atom; NVE: stop when a system's total energy drifts further (inf: off)")
    md.add_argument("--max-temperature", type=LIMIT, default=None,
                    help="K; stop above it (default: 10 x the NVT target or starting temperature, at least 3000 K)")
    md.add_argument("--allow-escape", action="store_true",
                    help="do not stop when an atom loses all its neighbours or leaves a non-periodic cell axis")
    md.add_argument("--allow-close-contacts", action="store_true",
                    help="run even if atoms start closer than half their covalent radii sum")
    md.add_argument("--resume", action="store_true", help="continue from the last frames of --traj")

    rel = command("relax", _relax, "relax every frame: batched on-device FIRE, or ASE with --cell",
                  "Fixed cell: the batched FIRE engine. --cell: ASE FrechetCellFilter + FIRE/BFGS.")
    rel.add_argument("structure", help="any file ASE reads; every frame is a system")
    rel.add_argument("--potential", required=True, nargs="+",
                     help="shipped name or .safetensors path; several (or a committee file): a committee")
    rel.add_argument("--cell", action="store_true", help="also relax the cell (ASE FrechetCellFilter)")
    rel.add_argument("--optimizer", choices=["fire", "bfgs"], default="fire", help="ASE optimizer for --cell")
    rel.add_argument("--fmax", type=POSITIVE, required=True, help="eV/A")
    rel.add_argument("--steps", type=POSITIVE_INT, default=1000, help="optimizer steps at most")
    rel.add_argument("--out", required=True, help="output file (any format ASE writes)")
    rel.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    rel.add_argument("--dtype", choices=["float32", "float64"], default="float64", help="model precision")
    rel.add_argument("--allow-close-contacts", action="store_true",
                     help="relax even if atoms start closer than half their covalent radii sum")

    tr = command("train", _train, "train a potential on extxyz / ase.db data (resumable, torchrun for DDP)",
                 "Writes OUT/best.safetensors, checkpoint.pt, metrics.csv, metrics.json and parity plots. "
                 "Run under torchrun --nproc_per_node N for data parallelism.")
    tr.add_argument("data", help=".extxyz/.xyz or .db file with energies and forces")
    tr.add_argument("--out", required=True, help="output folder")
    tr.add_argument("--elements", default=None, help="comma-separated, e.g. H,C,N,O (default: those in the data)")
    tr.add_argument("--preset", default="small", help="model preset (small, paper-md17-l2, paper-md17-l3)")
    tr.add_argument("--epochs", type=POSITIVE_INT, default=None, help="epochs (default 100 unless --max-time is given)")
    tr.add_argument("--max-time", type=POSITIVE, default=None, help="wall-clock budget, minutes")
    tr.add_argument("--batch-size", type=POSITIVE_INT, default=8, help="structures per optimizer step")
    tr.add_argument("--lr", type=POSITIVE, default=1e-3, help="peak learning rate (AdamW, warm-up + cosine)")
    tr.add_argument("--energy-weight", type=NON_NEGATIVE, default=1.0, help="weight of the per-atom energy MSE")
    tr.add_argument("--force-weight", type=NON_NEGATIVE, default=1.0, help="weight of the force MSE")
    tr.add_argument("--stress-weight", type=NON_NEGATIVE, default=1.0,
                    help="weight of the stress MSE (frames with stress)")
    tr.add_argument("--validation", type=NON_NEGATIVE, default=0.1, help="validation fraction (< 1) or count")
    tr.add_argument("--test", type=NON_NEGATIVE, default=0.1, help="test fraction (< 1) or count")
    tr.add_argument("--seed", type=int, default=0, help="split, initialisation and shuffling seed")
    tr.add_argument("--checkpoint-minutes", type=POSITIVE, default=10.0, help="checkpoint interval (also every epoch)")
    tr.add_argument("--dtype", choices=["float32", "float64"], default="float32", help="training precision")
    tr.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    tr.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    tr.add_argument("--init-from", metavar="NAME|PATH", default=None,
                    help="fine-tune this potential (shipped name or file): keeps its config, elements and "
                         "reference energies, fresh learning-rate schedule; the new file names it as parent")
    tr.add_argument("--refit-references", action="store_true",
                    help="with --init-from: refit the per-element reference energies on this data")

    ev = command("evaluate", _evaluate, "MAE/RMSE of a potential on labelled data, overall and per subset")
    ev.add_argument("potential", help="shipped name or .safetensors path")
    ev.add_argument("data", help=".extxyz/.xyz or .db file with energies and forces")
    ev.add_argument("--split", choices=["all", "train", "validation", "test"], default="all",
                    help="evaluate the whole file, or the potential's own training split of it (same data only)")
    ev.add_argument("--json", default=None, help="also write the errors to this JSON file")
    ev.add_argument("--group-by", action="append", default=[], metavar="KEY",
                    help="also group errors by this frame info key (repeatable), e.g. source or cell")
    ev.add_argument("--batch-size", type=POSITIVE_INT, default=16, help="structures per batched evaluation")
    ev.add_argument("--device", default="cpu", help="cpu, cuda or auto")

    sh = command("ship", _ship, "turn a training run into potentials/NAME.safetensors + NAME.md (model card)",
                 "Checks NVE energy conservation on representative systems (refusing a potential that drifts), "
                 "adds the data recipe, frame counts, learning curve and limits to the header, measures "
                 "float64 test errors, and writes the file and its card.")
    sh.add_argument("run", help="training output folder (best.safetensors, metrics.csv)")
    sh.add_argument("--data", required=True, help="the data file the run trained on (its recipe JSON beside it)")
    sh.add_argument("--name", required=True, help="potential name, e.g. emt-surfaces")
    sh.add_argument("--limits", required=True, help="markdown file: what the potential has not seen")
    sh.add_argument("--out", default="potentials", help="folder")
    sh.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    sh.add_argument("--nve-duration", type=POSITIVE, default=None, metavar="FS",
                    help="length of the NVE energy-conservation check, fs (default: training.nve_check.CHECK_DURATION)")
    sh.add_argument("--allow-drift", action="store_true",
                    help="ship a potential that fails the NVE check, with a warning in its card")

    shc = command("ship-committee", _ship_committee,
                  "put potentials into one committee file potentials/NAME.safetensors + NAME.md + NAME.png",
                  "Measures the members' mean and the deviation's calibration on a held-out probe set, stores "
                  "them in the header, and writes the card and the calibration plot.")
    shc.add_argument("name", help="committee name, e.g. emt-surfaces-committee")
    shc.add_argument("--members", required=True, nargs="+", help="shipped names or .safetensors files (2 or more)")
    shc.add_argument("--probe", required=True, help="labelled frames none of the members was trained on")
    shc.add_argument("--limits", required=True, help="markdown file: what the committee has not seen")
    shc.add_argument("--out", default="potentials", help="folder")
    shc.add_argument("--device", default="cpu", help="cpu, cuda or auto")

    sc = command("screen", _screen,
                 "adsorbate screening: surfaces x adsorbates x sites, relaxed, ranked (Dask, ase.db)",
                 "Relaxes clean slabs, gas references (H2, H2O, CO, N2) and every adsorbate at every distinct "
                 "site; rows go to --db as they finish, and re-running skips them.")
    sc.add_argument("--potential", required=True, help="shipped name or .safetensors path")
    sc.add_argument("--metals", required=True, help="comma-separated fcc metals the potential covers, e.g. Cu,Pt")
    sc.add_argument("--facets", default="111,100", help="comma-separated: 111, 100, 110, 211")
    sc.add_argument("--adsorbates", required=True, help="comma-separated, e.g. H,O,CO")
    sc.add_argument("--db", required=True, help="ase.db file (SQLite) or postgresql:// URL")
    sc.add_argument("--workers", type=COUNT, default=1, help="Dask LocalCluster workers (0: relax in this process)")
    sc.add_argument("--scheduler", default=None, help="address of a running Dask scheduler (e.g. dask-jobqueue)")
    sc.add_argument("--fmax", type=POSITIVE, default=0.05, help="eV/A")
    sc.add_argument("--steps", type=POSITIVE_INT, default=300, help="FIRE steps at most per structure")
    sc.add_argument("--batch-size", type=POSITIVE_INT, default=8, help="structures relaxed together per Dask task")
    sc.add_argument("--check-with", choices=["emt"], default=None, help="re-relax every result with EMT and compare")
    sc.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    sc.add_argument("--dtype", choices=["float32", "float64"], default="float64", help="model precision")

    sp = command("springs", _springs, "spring-system trajectories for the Lie Hamiltonian (LieConv recipe)")
    sp.add_argument("action", choices=["generate", "train", "evaluate", "ship"], help="what to do")
    sp.add_argument("data", nargs="?", help="train / evaluate: spring data .npz; ship: the training run folder")
    sp.add_argument("model_file", nargs="?",
                    help="evaluate: learned Hamiltonian (.safetensors or shipped name); ship: the test data .npz")
    sp.add_argument("--out", help="generate: output .npz (q, p, m, k, ts); train: output folder; "
                                  "ship: folder for NAME.safetensors and NAME.md (potentials/)")
    sp.add_argument("--name", help="ship: name of the shipped Hamiltonian")
    sp.add_argument("--limits", help="ship: Markdown file with the known limits for the card")
    sp.add_argument("--baseline", action="append", default=[], metavar="LABEL=FILE",
                    help="ship: a Hamiltonian file to evaluate on the same test data for the card (repeatable)")
    sp.add_argument("--describe-train", help="ship: how to regenerate the training data, for the card")
    sp.add_argument("--describe-validation", help="ship: how to regenerate the validation data")
    sp.add_argument("--describe-test", help="ship: how to regenerate the test data")
    sp.add_argument("--systems", type=POSITIVE_INT, default=3000, help="generate: trajectories")
    sp.add_argument("--seed", type=int, default=0, help="data or initialisation seed")
    sp.add_argument("--model", choices=["lie", "mlp"], default="lie", help="train: LieTransformer or HNN baseline")
    sp.add_argument("--group", default="T(2)", help="train: LieTransformer group, e.g. T(2), SE(2)")
    sp.add_argument("--full", action="store_true", help="train: learn the kinetic term too (non-separable H)")
    sp.add_argument("--train", type=POSITIVE_INT, default=3000, help="train: the first N trajectories")
    sp.add_argument("--validation", type=POSITIVE_INT, default=200,
                    help="train: validate on the last N trajectories (of --validation-data if given)")
    sp.add_argument("--validation-data", help="train: a separate .npz to validate on (default: DATA itself)")
    sp.add_argument("--validate-every", type=POSITIVE_INT, default=1, help="train: epochs between validations")
    sp.add_argument("--epochs", type=POSITIVE_INT, default=100, help="train: epochs")
    sp.add_argument("--max-time", type=POSITIVE, default=None, help="train: wall-clock budget, minutes")
    sp.add_argument("--batch-size", type=POSITIVE_INT, default=200, help="train: trajectories per step")
    sp.add_argument("--lr", type=POSITIVE, default=3e-3, help="train: learning rate")
    sp.add_argument("--width", type=POSITIVE_INT, default=64, help="train: channels")
    sp.add_argument("--depth", type=POSITIVE_INT, default=2, help="train: attention layers")
    sp.add_argument("--heads", type=POSITIVE_INT, default=4, help="train: attention heads")
    sp.add_argument("--rollout-steps", type=POSITIVE_INT, default=100, help="evaluate: rollout length in grid steps")
    sp.add_argument("--resume", action="store_true", help="train: continue from OUT/checkpoint.pt")
    le = command("learn", _learn, "active learning: explore with a committee, label with the reference, fine-tune",
                 "Per iteration (OUT/iter_NNN): committee MD, rattles, strains and adsorbate "
                                    "placements; frames whose max_forces_dev lies in [--trust-low, --trust-high) "
                                    "labelled by the reference and appended to OUT/data.extxyz; every member "
                                    "fine-tuned. Writes OUT/learn.csv and learn.png; re-running resumes. Options "
                                    "left out take the defaults of equiformer_ase.training.LearnSettings.")
    le.argument_default = argparse.SUPPRESS   # options left out: LearnSettings' defaults
    le.add_argument("data", help="labelled training data (.extxyz/.xyz or .db) the members were trained on")
    le.add_argument("--committee", required=True, nargs="+", help="committee file / shipped name, or member files")
    le.add_argument("--probe", required=True, help="labelled frames to judge on, never trained on")
    le.add_argument("--out", required=True, help="output folder")
    le.add_argument("--reference", help="emt (default), gfn2 (tblite) or an ASE calculator as module:Class")
    le.add_argument("--iterations", type=int, help="iterations in all (raise it to continue a finished run)")
    le.add_argument("--trust-low", type=float, help="eV/A: frames with a smaller max_forces_dev count as known")
    le.add_argument("--trust-high", type=float, help="eV/A: frames at or above count as unphysical")
    le.add_argument("--max-selected", type=int, help="frames labelled per iteration at most")
    le.add_argument("--per-group", type=int, help="frames per (system, exploration source) and iteration at most")
    le.add_argument("--systems", type=int, help="start structures drawn from the data per iteration")
    le.add_argument("--temperatures", dest="md_temperatures", metavar="T1,T2,...",
                    type=lambda text: tuple(map(float, text.split(","))),
                    help="comma-separated MD temperatures, K")
    le.add_argument("--md-steps", type=int, help="MD steps per start structure and temperature")
    le.add_argument("--placements", type=int, help="adsorbate placements relaxed per iteration (data with slabs)")
    le.add_argument("--epochs", type=int, help="fine-tuning epochs per member and iteration")
    le.add_argument("--max-time", type=float, help="fine-tuning budget per member and iteration, minutes")
    le.add_argument("--lr", type=float, help="fine-tuning peak learning rate")
    le.add_argument("--energy-weight", type=float, help="fine-tuning weight of the per-atom energy MSE")
    le.add_argument("--force-weight", type=float, help="fine-tuning weight of the force MSE")
    le.add_argument("--validation", type=float, help="fine-tuning validation fraction (< 1) or count")
    le.add_argument("--test", type=float, help="fine-tuning test fraction (< 1) or count")
    le.add_argument("--batch-size", type=int)
    le.add_argument("--dtype", choices=["float32", "float64"])
    le.add_argument("--device", default="cpu")
    le.add_argument("--seed", type=int)
    ca = command("calibrate", _calibrate, "does a committee's deviation rank its true force errors? (Spearman, PNG)")
    ca.add_argument("committee", nargs="+", help="committee file / shipped name, or member files")
    ca.add_argument("data", help="labelled frames (.extxyz/.xyz or .db), held out from training")
    ca.add_argument("--png", default=None, help="write the log-log scatter of error vs deviation here")
    ca.add_argument("--device", default="cpu")
    ca.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    return parser


def _cpu_threads(threads: int | None) -> None:
    """Idle OpenMP threads sleep instead of spinning (unless the user set OMP_WAIT_POLICY): with other
    processes on the cores, spinning made two torch threads about 10x slower than one. Set before
    torch starts its thread pool, i.e. before any command imports torch."""
    import os

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


def main(argv: list[str] | None = None) -> int:
    """Run one command; the single place where errors become one-line messages and exit codes."""
    args = build_parser().parse_args(argv)
    _cpu_threads(args.threads)
    try:
        return args.func(args)
    except (*USER_ERRORS, BlowUpError) as err:
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"equiformer-ase {args.command}: error: {message}", file=sys.stderr)
        return 1 if isinstance(err, BlowUpError) else 2


if __name__ == "__main__":
    sys.exit(main())

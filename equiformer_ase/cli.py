"""The ``equiformer-ase`` command."""

from __future__ import annotations

import argparse
import platform
import sys


def _info(args: argparse.Namespace) -> int:
    import e3nn
    import torch

    from . import __version__
    from .committee import is_committee_file, load_committee
    from .potential import list_potentials, read_header
    from .shipped import shipped_path

    print(f"equiformer-ase {__version__}")
    print(f"python {platform.python_version()}, torch {torch.__version__}, e3nn {e3nn.__version__}")
    devices = ["cpu"] + [f"cuda:{k} ({torch.cuda.get_device_name(k)})" for k in range(torch.cuda.device_count())]
    print(f"devices: {', '.join(devices)}")
    try:
        import torch_cluster

        print(f"torch-cluster {torch_cluster.__version__} (GPU neighbour lists)")
    except ImportError:
        print("torch-cluster not installed (GPU neighbour lists fall back to brute force / matscipy)")
    names = list_potentials()
    print(f"shipped potentials ({len(names)}):")
    for name in names:
        if is_committee_file(name):
            members = load_committee(name).members
            header = members[0].metadata
            print(f"  {name}: committee of {len(members)}, elements {','.join(header['elements'])}, "
                  f"cutoff {header['cutoff']} A")
            continue
        header = read_header(shipped_path(name))
        print(f"  {name}: elements {','.join(header['elements'])}, cutoff {header['cutoff']} A, "
              f"preset {header['config']['preset_name']}")
    from .lie import list_hamiltonians

    print(f"shipped learned Hamiltonians ({len(list_hamiltonians())}): {', '.join(list_hamiltonians())}")
    return 0


def _generate(args: argparse.Namespace) -> int:
    from .training import frame_counts, generate, recipe_path

    try:
        generate(args.subset, args.out, preset=args.preset, seed=args.seed)
    except (ValueError, ImportError) as err:
        sys.exit(f"equiformer-ase generate: error: {err}")
    except KeyboardInterrupt:
        print(f"\ninterrupted; finished tasks are in {args.out}: re-run the same command to resume", file=sys.stderr)
        return 130
    counts = frame_counts(args.out)
    print(f"{args.out}: {sum(counts.values())} frames ({', '.join(f'{k} {n}' for k, n in counts.items())}); "
          f"recipe in {recipe_path(args.out)}")
    return 0


def _md(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np
    from ase.io import read
    from ase.md.velocitydistribution import thermalize_momenta

    from .dynamics import BlowUpError, MolecularDynamics, last_frames

    structures = read(args.structure, index=":")
    systems = [atoms.copy() for atoms in structures for _ in range(args.replicas)]
    if args.resume:
        systems = last_frames(args.traj, len(systems))
    elif args.temperature is not None:
        for k, atoms in enumerate(systems):
            thermalize_momenta(atoms, args.temperature, rng=np.random.default_rng(args.seed + k))
    logfile = args.log or Path(args.traj).with_suffix(".log")
    try:
        md = MolecularDynamics(systems, args.potential, timestep=args.timestep, ensemble=args.ensemble,
                               temperature=args.temperature, friction=args.friction, seed=args.seed,
                               device=args.device, dtype=args.dtype, max_force=args.max_force)
        remaining = args.steps - md.step_count
        md.run(remaining, trajectory=args.traj, logfile=logfile, interval=args.interval)
    except (ValueError, NotImplementedError, BlowUpError) as err:
        sys.exit(f"equiformer-ase md: error: {err}")
    except KeyboardInterrupt:
        print(f"\ninterrupted; frames so far are in {args.traj}: add --resume to continue", file=sys.stderr)
        return 130
    energies = md.energies()
    print(f"{len(systems)} systems, {md.step_count} steps ({md.step_count * args.timestep:g} fs); "
          f"final T {np.round(energies['temperature'], 1).tolist()} K; log {logfile}")
    return 0


def _relax(args: argparse.Namespace) -> int:
    import numpy as np
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.filters import FrechetCellFilter
    from ase.io import read, write
    from ase.optimize import BFGS, FIRE

    from .calculator import EquiformerCalculator
    from .dynamics import relax

    structures = read(args.structure, index=":")
    try:
        if args.cell:
            calc = EquiformerCalculator(args.potential, device=args.device, dtype=args.dtype)
            optimizer = {"fire": FIRE, "bfgs": BFGS}[args.optimizer]
            relaxed, converged = [], []
            for atoms in structures:
                atoms.calc = calc
                converged.append(bool(optimizer(FrechetCellFilter(atoms), logfile=None).run(fmax=args.fmax,
                                                                                              steps=args.steps)))
                atoms.calc = SinglePointCalculator(atoms, energy=atoms.get_potential_energy(),
                                                   forces=atoms.get_forces(), stress=atoms.get_stress())
                relaxed.append(atoms)
        else:
            relaxed, converged = relax(structures, args.potential, fmax=args.fmax, steps=args.steps,
                                       device=args.device, dtype=args.dtype)
    except (ValueError, NotImplementedError) as err:
        sys.exit(f"equiformer-ase relax: error: {err}")
    write(args.out, relaxed)
    for k, (atoms, done) in enumerate(zip(relaxed, converged)):
        fmax = np.linalg.norm(atoms.get_forces(), axis=1).max()
        print(f"structure {k} ({atoms.get_chemical_formula()}): E = {atoms.get_potential_energy():.6f} eV, "
              f"fmax = {fmax:.4f} eV/A, {'converged' if done else 'NOT converged'}")
    print(f"{sum(converged)}/{len(converged)} converged; written to {args.out}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from .training import TrainingConfig, train

    try:
        config = TrainingConfig(
            epochs=args.epochs if args.epochs is not None or args.max_time is not None else 100,
            max_time=args.max_time, batch_size=args.batch_size, lr=args.lr, energy_weight=args.energy_weight,
            force_weight=args.force_weight, stress_weight=args.stress_weight, validation=args.validation,
            test=args.test, seed=args.seed, checkpoint_minutes=args.checkpoint_minutes, dtype=args.dtype,
        )
        elements = args.elements.split(",") if args.elements else None
        result = train(args.data, args.out, config, elements=elements, preset=args.preset, device=args.device,
                       resume=args.resume, init_from=args.init_from, refit_references=args.refit_references)
    except (ValueError, FileNotFoundError) as err:
        sys.exit(f"equiformer-ase train: error: {err}")
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

    from .potential import load_potential
    from .training import format_errors, group_errors, predict, read_structures, to_samples
    from .training.card import held_out

    try:
        potential = load_potential(args.potential).to(dtype=torch.float64)
        if args.split == "all":
            samples = to_samples(read_structures(args.data), potential.config.elements)
        else:
            samples = held_out(potential, args.data, args.split)
        errors = group_errors(samples, predict(potential, samples, args.batch_size, args.device))
    except (ValueError, FileNotFoundError) as err:
        sys.exit(f"equiformer-ase evaluate: error: {err}")
    print(format_errors(errors))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(errors, handle, indent=2)
    return 0


def _ship(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .training.card import ship

    try:
        path = ship(args.run, args.data, args.name, args.out, Path(args.limits).read_text(), args.device)
    except (ValueError, FileNotFoundError) as err:
        sys.exit(f"equiformer-ase ship: error: {err}")
    print(f"wrote {path} and {path.with_suffix('.md')}")
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
    except (ValueError, FileNotFoundError) as err:
        sys.exit(f"equiformer-ase springs: error: {err}")
    except KeyboardInterrupt:
        print("\ninterrupted: re-run with --resume to continue from the checkpoint", file=sys.stderr)
        return 130
    return 0


def _screen(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .screening import Screening, ScreeningSpec, compare_methods
    from .screening.report import comparison_rows, format_table, summary_rows, write_csv, write_heatmap

    def names(text: str) -> tuple[str, ...]:
        return tuple(item.strip() for item in text.split(",") if item.strip())

    try:
        spec = ScreeningSpec(potential=args.potential, metals=names(args.metals), facets=names(args.facets),
                             adsorbates=names(args.adsorbates), fmax=args.fmax, steps=args.steps,
                             batch_size=args.batch_size, device=args.device, dtype=args.dtype)
    except ValueError as err:
        sys.exit(f"equiformer-ase screen: error: {err}")
    client = cluster = None
    if args.scheduler or args.workers > 0:
        from distributed import Client, LocalCluster

        if args.scheduler:
            client = Client(args.scheduler)
        else:
            cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, dashboard_address=None)
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
    stem = Path(args.db).with_suffix("") if "://" not in args.db else Path("screening")
    write_csv(rows, f"{stem}_summary.csv")
    write_heatmap(best, f"{stem}_heatmap.png", f"adsorption energies, {spec.method} (eV)")
    print(format_table(rows))
    print(f"summary: {stem}_summary.csv, heatmap: {stem}_heatmap.png; {screening.throughput()}")
    if reference is not None:
        comparison = compare_methods(best, reference, [a.name for a in spec.adsorbates])
        print(f"\n{spec.method} vs {args.check_with}, best sites across surfaces:")
        print(format_table(comparison_rows(comparison, digits=4)))
    return 0


def _committee_argument(text: str):
    """A committee file or shipped name, or comma-separated member files / names."""
    return text.split(",") if "," in text else text


def _learn(args: argparse.Namespace) -> int:
    from dataclasses import fields

    from .training.active import LearnSettings, learn

    given = vars(args)
    try:
        settings = LearnSettings(**{f.name: given[f.name] for f in fields(LearnSettings) if f.name in given})
        rows = learn(args.data, _committee_argument(args.committee), args.probe, args.out, settings, args.device)
    except (ValueError, FileNotFoundError, ImportError) as err:
        print(f"equiformer-ase learn: error: {err}", file=sys.stderr)
        return 2
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

    try:
        stats = calibrate(_committee_argument(args.committee), args.data, args.png, args.device, args.dtype)
    except (ValueError, FileNotFoundError) as err:
        print(f"equiformer-ase calibrate: error: {err}", file=sys.stderr)
        return 2
    print(f"{stats['frames']} frames, {stats['atoms']} atoms; "
          f"force MAE of the mean {stats['forces_mae_mev_per_a']:.1f} meV/A")
    print(f"Spearman per frame (max_forces_dev vs largest atom error): {stats['frame_spearman']:.3f}")
    print(f"Spearman per atom (forces_dev vs |F_mean - F_ref|): {stats['atom_spearman']:.3f}")
    if args.png:
        print(f"scatter plot: {args.png}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="equiformer-ase", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="versions, devices and shipped potentials").set_defaults(func=_info)
    gen = sub.add_parser("generate", help="reference data: EMT surfaces or GFN2-xTB MD17 molecules (resumable)",
                         description="Generate reference data with a written recipe; re-running resumes.")
    gen.add_argument("subset", help="surfaces (EMT, fcc metals + H/C/N/O) or molecules (GFN2-xTB, needs tblite)")
    gen.add_argument("--out", required=True, help="output .extxyz/.xyz or .db file; recipe JSON goes next to it")
    gen.add_argument("--preset", default="full", help="full (default), compact (molecules: 300 frames per molecule) or tiny")
    gen.add_argument("--seed", type=int, default=None, help="random seed (default: the preset's, 0)")
    gen.set_defaults(func=_generate)
    md = sub.add_parser("md", help="on-device batched MD (NVE velocity Verlet or NVT Langevin BAOAB)",
                        description="All frames of STRUCTURE (x --replicas) advance together on the device.")
    md.add_argument("structure", help="any file ASE reads; every frame is a system")
    md.add_argument("--potential", required=True, help="shipped name or .safetensors path")
    md.add_argument("--ensemble", choices=["nve", "nvt"], default="nve")
    md.add_argument("--temperature", type=float, default=None,
                    help="K: initial Maxwell-Boltzmann momenta, and the NVT target (default: the file's momenta)")
    md.add_argument("--timestep", type=float, required=True, help="fs")
    md.add_argument("--steps", type=int, required=True, help="total number of steps (a resumed run stops there too)")
    md.add_argument("--traj", required=True, help="output .traj; one file per system (OUT_k.traj) when several")
    md.add_argument("--replicas", type=int, default=1, help="copies of each structure (own seeds)")
    md.add_argument("--device", default="auto")
    md.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    md.add_argument("--friction", type=float, default=0.01, help="NVT friction, 1/fs")
    md.add_argument("--seed", type=int, default=0)
    md.add_argument("--interval", type=int, default=10, help="write a frame and log line every N steps")
    md.add_argument("--log", default=None, help="CSV log (default: TRAJ with .log suffix)")
    md.add_argument("--max-force", type=float, default=100.0, help="eV/A; stop with an error above it")
    md.add_argument("--resume", action="store_true", help="continue from the last frames of --traj")
    md.set_defaults(func=_md)
    rel = sub.add_parser("relax", help="relax every frame: batched on-device FIRE, or ASE with --cell",
                         description="Fixed cell: the batched FIRE engine. --cell: ASE FrechetCellFilter + FIRE/BFGS.")
    rel.add_argument("structure", help="any file ASE reads; every frame is a system")
    rel.add_argument("--potential", required=True, help="shipped name or .safetensors path")
    rel.add_argument("--cell", action="store_true", help="also relax the cell (ASE FrechetCellFilter)")
    rel.add_argument("--optimizer", choices=["fire", "bfgs"], default="fire", help="ASE optimizer for --cell")
    rel.add_argument("--fmax", type=float, required=True, help="eV/A")
    rel.add_argument("--steps", type=int, default=1000)
    rel.add_argument("--out", required=True, help="output file (any format ASE writes)")
    rel.add_argument("--device", default="auto")
    rel.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    rel.set_defaults(func=_relax)
    tr = sub.add_parser("train", help="train a potential on extxyz / ase.db data (resumable, torchrun for DDP)",
                        description="Writes OUT/best.safetensors, checkpoint.pt, metrics.csv, metrics.json and "
                                    "parity plots. Run under torchrun --nproc_per_node N for data parallelism.")
    tr.add_argument("data", help=".extxyz/.xyz or .db file with energies and forces")
    tr.add_argument("--out", required=True, help="output folder")
    tr.add_argument("--elements", default=None, help="comma-separated, e.g. H,C,N,O (default: those in the data)")
    tr.add_argument("--preset", default="small", help="model preset (small, paper-md17-l2, paper-md17-l3)")
    tr.add_argument("--epochs", type=int, default=None, help="epochs (default 100 unless --max-time is given)")
    tr.add_argument("--max-time", type=float, default=None, help="wall-clock budget, minutes")
    tr.add_argument("--batch-size", type=int, default=8)
    tr.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (AdamW, warm-up + cosine)")
    tr.add_argument("--energy-weight", type=float, default=1.0, help="weight of the per-atom energy MSE")
    tr.add_argument("--force-weight", type=float, default=1.0, help="weight of the force MSE")
    tr.add_argument("--stress-weight", type=float, default=1.0, help="weight of the stress MSE (frames with stress)")
    tr.add_argument("--validation", type=float, default=0.1, help="validation fraction (< 1) or count")
    tr.add_argument("--test", type=float, default=0.1, help="test fraction (< 1) or count")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--checkpoint-minutes", type=float, default=10.0, help="checkpoint interval (also every epoch)")
    tr.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    tr.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    tr.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    tr.add_argument("--init-from", metavar="NAME|PATH", default=None,
                    help="fine-tune this potential (shipped name or file): keeps its config, elements and "
                         "reference energies, fresh learning-rate schedule; the new file names it as parent")
    tr.add_argument("--refit-references", action="store_true",
                    help="with --init-from: refit the per-element reference energies on this data")
    tr.set_defaults(func=_train)
    ev = sub.add_parser("evaluate", help="MAE/RMSE of a potential on labelled data, overall and per subset")
    ev.add_argument("potential", help="shipped name or .safetensors path")
    ev.add_argument("data", help=".extxyz/.xyz or .db file with energies and forces")
    ev.add_argument("--split", choices=["all", "train", "validation", "test"], default="all",
                    help="evaluate the whole file, or the potential's own training split of it (same data only)")
    ev.add_argument("--json", default=None, help="also write the errors to this JSON file")
    ev.add_argument("--batch-size", type=int, default=16)
    ev.add_argument("--device", default="cpu")
    ev.set_defaults(func=_evaluate)
    sh = sub.add_parser("ship", help="turn a training run into potentials/NAME.safetensors + NAME.md (model card)",
                        description="Adds the data recipe, frame counts, learning curve and limits to the header, "
                                    "measures float64 test errors, and writes the file and its card.")
    sh.add_argument("run", help="training output folder (best.safetensors, metrics.csv)")
    sh.add_argument("--data", required=True, help="the data file the run trained on (its recipe JSON beside it)")
    sh.add_argument("--name", required=True, help="potential name, e.g. emt-surfaces")
    sh.add_argument("--limits", required=True, help="markdown file: what the potential has not seen")
    sh.add_argument("--out", default="potentials", help="folder (default: potentials)")
    sh.add_argument("--device", default="cpu")
    sh.set_defaults(func=_ship)
    sc = sub.add_parser("screen", help="adsorbate screening: surfaces x adsorbates x sites, relaxed, ranked (Dask, ase.db)",
                        description="Relaxes clean slabs, gas references (H2, H2O, CO, N2) and every adsorbate at "
                                    "every distinct site; rows go to --db as they finish, and re-running skips them.")
    sc.add_argument("--potential", required=True, help="shipped name or .safetensors path")
    sc.add_argument("--metals", required=True, help="comma-separated fcc metals, e.g. Cu,Pt")
    sc.add_argument("--facets", default="111,100", help="comma-separated: 111, 100, 110, 211")
    sc.add_argument("--adsorbates", required=True, help="comma-separated, e.g. H,O,CO")
    sc.add_argument("--db", required=True, help="ase.db file (SQLite) or postgresql:// URL")
    sc.add_argument("--workers", type=int, default=1, help="Dask LocalCluster workers (0: relax in this process)")
    sc.add_argument("--scheduler", default=None, help="address of a running Dask scheduler (e.g. dask-jobqueue)")
    sc.add_argument("--fmax", type=float, default=0.05, help="eV/A")
    sc.add_argument("--steps", type=int, default=300, help="FIRE steps at most per structure")
    sc.add_argument("--batch-size", type=int, default=8, help="structures relaxed together per Dask task")
    sc.add_argument("--check-with", choices=["emt"], default=None, help="re-relax every result with EMT and compare")
    sc.add_argument("--device", default="auto")
    sc.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    sc.set_defaults(func=_screen)
    sp = sub.add_parser("springs", help="spring-system trajectories for the Lie Hamiltonian (LieConv recipe)")
    sp.add_argument("action", choices=["generate", "train", "evaluate", "ship"])
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
    sp.add_argument("--systems", type=int, default=3000, help="generate: trajectories")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--model", choices=["lie", "mlp"], default="lie", help="train: LieTransformer or HNN baseline")
    sp.add_argument("--group", default="T(2)", help="train: LieTransformer group, e.g. T(2), SE(2)")
    sp.add_argument("--full", action="store_true", help="train: learn the kinetic term too (non-separable H)")
    sp.add_argument("--train", type=int, default=3000, help="train: the first N trajectories")
    sp.add_argument("--validation", type=int, default=200,
                    help="train: validate on the last N trajectories (of --validation-data if given)")
    sp.add_argument("--validation-data", help="train: a separate .npz to validate on (default: DATA itself)")
    sp.add_argument("--validate-every", type=int, default=1, help="train: epochs between validations")
    sp.add_argument("--epochs", type=int, default=100)
    sp.add_argument("--max-time", type=float, default=None, help="train: wall-clock budget, minutes")
    sp.add_argument("--batch-size", type=int, default=200)
    sp.add_argument("--lr", type=float, default=3e-3)
    sp.add_argument("--width", type=int, default=64)
    sp.add_argument("--depth", type=int, default=2)
    sp.add_argument("--heads", type=int, default=4)
    sp.add_argument("--rollout-steps", type=int, default=100, help="evaluate: rollout length in grid steps")
    sp.add_argument("--resume", action="store_true", help="train: continue from OUT/checkpoint.pt")
    sp.set_defaults(func=_springs)
    le = sub.add_parser("learn", help="active learning: explore with a committee, label with the reference, fine-tune",
                        description="Per iteration (OUT/iter_NNN): committee MD, rattles, strains and adsorbate "
                                    "placements; frames whose max_forces_dev lies in [--trust-low, --trust-high) "
                                    "labelled by the reference and appended to OUT/data.extxyz; every member "
                                    "fine-tuned. Writes OUT/learn.csv and learn.png; re-running resumes. Options "
                                    "left out take the defaults of equiformer_ase.training.LearnSettings.",
                        argument_default=argparse.SUPPRESS)
    le.add_argument("data", help="labelled training data (.extxyz/.xyz or .db) the members were trained on")
    le.add_argument("--committee", required=True, help="committee file / shipped name, or comma-separated member files")
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
    le.set_defaults(func=_learn)
    ca = sub.add_parser("calibrate", help="does a committee's deviation rank its true force errors? (Spearman, PNG)")
    ca.add_argument("committee", help="committee file / shipped name, or comma-separated member files")
    ca.add_argument("data", help="labelled frames (.extxyz/.xyz or .db), held out from training")
    ca.add_argument("--png", default=None, help="write the log-log scatter of error vs deviation here")
    ca.add_argument("--device", default="cpu")
    ca.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    ca.set_defaults(func=_calibrate)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

"""The ``equiformer-ase`` command.

Each command has its parser builder and a handler that checks inputs and output paths, calls one
library function and prints. :func:`main` alone maps outcomes to messages and exit codes: a user
mistake (the package's errors, ``ValueError``, ``OSError``) is one line on stderr and exit code 2, a
simulation blow-up one line and exit code 1, an interruption (Ctrl-C, SIGTERM) the command's resume
hint and exit code 130; warnings are one line each. Heavy modules (torch, e3nn) are imported inside
the handlers, so ``--help`` and argument errors are fast.
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
import warnings

from . import __version__
from .errors import USER_ERRORS, BlowUpError


def _info(args: argparse.Namespace) -> int:
    import platform
    from importlib.metadata import PackageNotFoundError, version

    import torch

    from .shipped import COMMITTEE, HAMILTONIAN, POTENTIAL, read_header, shipped_names

    print(f"equiformer-ase {__version__}")
    print(f"python {platform.python_version()}, torch {torch.__version__}, e3nn {version('e3nn')}")
    devices = ["cpu"] + [
        f"cuda:{k} ({torch.cuda.get_device_name(k)})" for k in range(torch.cuda.device_count())
    ]
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
            print(
                f"  {name}: committee of {len(members)}, elements {','.join(members[0]['elements'])}, "
                f"cutoff {members[0]['cutoff']} A"
            )
            continue
        header = read_header(name, POTENTIAL)
        print(
            f"  {name}: elements {','.join(header['elements'])}, cutoff {header['cutoff']} A, "
            f"preset {header['config']['preset_name']}"
        )
    hamiltonians = shipped_names(HAMILTONIAN)
    print(f"shipped learned Hamiltonians ({len(hamiltonians)}): {', '.join(hamiltonians)}")
    return 0


def _generate(args: argparse.Namespace) -> int:
    from .io import check_output
    from .training import frame_counts, generate, recipe_path

    check_output(args.out, "--out", makes_folder=True)
    generate(args.subset, args.out, preset=args.preset, seed=args.seed)
    counts = frame_counts(args.out)
    print(
        f"{args.out}: {sum(counts.values())} frames ({', '.join(f'{k} {n}' for k, n in counts.items())}); "
        f"recipe in {recipe_path(args.out)}"
    )
    return 0


def _label(args: argparse.Namespace) -> int:
    from .io import check_output
    from .training.generation.labelling import LabelSettings, label_frames, settings_path

    check_output(args.out, "--out", makes_folder=True)
    settings = LabelSettings(
        reference=args.reference,
        committee=args.committee,
        max_frames=args.max_frames,
        per_group=args.per_group,
        trust_low=args.trust_low,
        systems=tuple(args.systems.split(",")) if args.systems else (),
        seed=args.seed,
    )
    done = label_frames(args.candidates, args.out, settings, threads=args.threads, cache=args.cache)
    failed = f"; SCF failed on {len(done['failed'])} (left out)" if done["failed"] else ""
    print(
        f"{args.out}: {done['labelled']} of {done['chosen']} chosen frames labelled ({done['new']} now, "
        f"{done['seconds']:.0f} s){failed}; record in {settings_path(args.out)}"
    )
    return 0


def _md(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np

    from .dynamics import trajectory_paths
    from .io import check_not_input, check_output, read_frames
    from .md_run import run_md
    from .run_plots import plot_md_log

    structures = read_frames(args.structure)
    logfile = args.log or Path(args.traj).with_suffix(".log")
    for path in trajectory_paths(args.traj, len(structures) * args.replicas):
        check_output(path, "--traj")
        check_not_input(path, [args.structure], "--traj")
    check_output(logfile, "--log")
    check_not_input(logfile, [args.structure], "--log")
    png = None if args.no_plot else Path(logfile).with_suffix(".png")
    if png:
        check_output(png, "the plot (--no-plot: none)")
    md = run_md(
        structures,
        _potential_argument(args.potential),
        steps=args.steps,
        trajectory=args.traj,
        logfile=logfile,
        replicas=args.replicas,
        temperature=args.temperature,
        seed=args.seed,
        resume=args.resume,
        interval=args.interval,
        timestep=args.timestep,
        ensemble=args.ensemble,
        friction=args.friction,
        device=args.device,
        dtype=args.dtype,
        max_force=args.max_force,
        max_drift=args.max_drift,
        max_temperature=args.max_temperature,
        check_escape=not args.allow_escape,
        max_uncertainty=args.max_uncertainty,
        allow_close_contacts=args.allow_close_contacts,
        compile=args.compile,
        dispersion=args.dispersion,
    )
    if png:
        plot_md_log(logfile, png)
    energies = md.energies()
    print(
        f"{md.systems.num_systems} systems, {md.step_count} steps ({md.step_count * args.timestep:g} fs); "
        f"final T {np.round(energies['temperature'], 1).tolist()} K; log {logfile}"
        + (f", plot {png}" if png else "")
    )
    if md.systems.is_committee:
        print(f"final max_forces_dev {np.round(md.systems.max_forces_dev.tolist(), 4).tolist()} eV/A")
    return 0


def _potential_argument(names: list[str]):
    """``--potential NAME [NAME ...]``: one potential (or committee file), or several as a committee."""
    return names[0] if len(names) == 1 else names


def _relax(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np

    from .io import check_not_input, check_output, read_frames
    from .relax_run import run_relax
    from .run_plots import plot_relax_log

    structures = read_frames(args.structure)
    check_output(args.out, "--out", frames=len(structures))
    check_not_input(args.out, [args.structure], "--out")
    log = None if args.no_plot or args.cell else Path(args.out).with_suffix(".log")
    for path, what in (
        (log, "the step log (--no-plot: none)"),
        (log and log.with_suffix(".png"), "the plot"),
    ):
        if path:
            check_output(path, what)
    relaxed, converged = run_relax(
        structures,
        _potential_argument(args.potential),
        args.out,
        cell=args.cell,
        optimizer=args.optimizer,
        resume=args.resume,
        fmax=args.fmax,
        steps=args.steps,
        device=args.device,
        dtype=args.dtype,
        allow_close_contacts=args.allow_close_contacts,
        max_uncertainty=args.max_uncertainty,
        dispersion=args.dispersion,
        **({"logfile": log} if log else {}),
    )
    if log and log.exists():  # a resumed run with nothing left to relax writes no log
        plot_relax_log(log, log.with_suffix(".png"), fmax=args.fmax)
    for k, (atoms, done) in enumerate(zip(relaxed, converged)):
        fmax = np.linalg.norm(atoms.get_forces(), axis=1).max()
        deviation = (
            f", max_forces_dev {atoms.info['max_forces_dev']:.4f} eV/A"
            + ("" if atoms.info.get("trusted", True) else " (UNTRUSTED)")
            if "max_forces_dev" in atoms.info
            else ""
        )
        print(
            f"structure {k} ({atoms.get_chemical_formula()}): E = {atoms.get_potential_energy():.6f} eV, "
            f"fmax = {fmax:.4f} eV/A{deviation}, {'converged' if done else 'NOT converged'}"
        )
    plotted = f"; steps in {log}, plot {log.with_suffix('.png')}" if log else ""
    print(f"{sum(converged)}/{len(converged)} converged; written to {args.out}{plotted}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from .training import TrainingConfig, train

    budget = {"epochs": args.epochs} if args.epochs is not None or args.max_time is not None else {}
    config = TrainingConfig(
        **budget,
        max_time=args.max_time,
        batch_size=args.batch_size,
        lr=args.lr,
        energy_weight=args.energy_weight,
        force_weight=args.force_weight,
        stress_weight=args.stress_weight,
        huber_delta=args.huber_delta,
        validation=args.validation,
        test=args.test,
        seed=args.seed,
        checkpoint_minutes=args.checkpoint_minutes,
        dtype=args.dtype,
        keep=args.keep,
    )
    elements = args.elements.split(",") if args.elements else None
    result = train(
        args.data,
        args.out,
        config,
        elements=elements,
        preset=args.preset,
        device=args.device,
        resume=args.resume,
        init_from=args.init_from,
        refit_references=args.refit_references,
        smooth_attention=args.smooth_attention,
        pair_repulsion=args.pair_repulsion,
    )
    if result:
        test = result["metrics"]["test"]["overall"]
        print(
            f"{args.out}/best.safetensors: {result['training']['epochs']} epochs; test energy MAE "
            f"{test['energy_mae_mev_per_atom']:.2f} meV/atom, forces MAE {test['forces_mae_mev_per_a']:.1f} meV/A"
        )
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    import json

    from .io import check_output
    from .training import format_errors
    from .training.shipping.evaluation import evaluate_potential

    if args.json:
        check_output(args.json, "--json")
    errors = evaluate_potential(
        args.potential, args.data, args.split, args.group_by, args.batch_size, args.device
    )
    print(format_errors(errors))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(errors, handle, indent=2)
    return 0


def _ship(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .training.shipping.card import ship

    path = ship(
        args.run,
        args.data,
        args.name,
        args.out,
        Path(args.limits).read_text(),
        args.device,
        nve_duration=args.nve_duration,
        allow_drift=args.allow_drift,
        probe=args.probe,
    )
    print(f"wrote {path} and {path.with_suffix('.md')}")
    return 0


def _ship_committee(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .training.shipping.committee_card import ship_committee

    path = ship_committee(
        args.members,
        args.name,
        args.out,
        args.probe,
        Path(args.limits).read_text(),
        args.device,
        nve_duration=args.nve_duration,
        allow_drift=args.allow_drift,
        ood=args.ood,
        **({} if args.trust_level is None else {"trust_level": args.trust_level}),
    )
    print(f"wrote {path}, {path.with_suffix('.md')} and {path.with_suffix('.png')}")
    return 0


def _springs_generate(args: argparse.Namespace) -> int:
    from .lie.springs import generate_springs

    data = generate_springs(args.systems, seed=args.seed)
    data.save(args.out)
    print(
        f"{args.out}: {data.q.shape[0]} systems x {data.q.shape[1]} times x {data.q.shape[2]} particles "
        f"(seed {args.seed}, float64 RK4 ground truth)"
    )
    return 0


def _springs_train(args: argparse.Namespace) -> int:
    from .lie.fitting import FitConfig, train_hamiltonian

    config = FitConfig(
        epochs=args.epochs,
        max_time=args.max_time,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        validate_every=args.validate_every,
    )
    fit = train_hamiltonian(
        args.data,
        args.out,
        config,
        train=args.train,
        validation=args.validation,
        validation_data=args.validation_data,
        resume=args.resume,
        model=args.model,
        group=args.group,
        width=args.width,
        depth=args.depth,
        heads=args.heads,
        separable=not args.full,
    )
    print(
        f"{args.out}/best.safetensors: best validation {config.chunk_len}-point MSE {fit.best_metric:.4g} "
        f"after {fit.history[-1]['epoch'] if fit.history else 0} epochs"
    )
    return 0


def _springs_evaluate(args: argparse.Namespace) -> int:
    import json

    from .lie.fitting import evaluate_hamiltonian
    from .lie.hamiltonian_files import load_hamiltonian
    from .lie.springs import SpringData

    metrics = evaluate_hamiltonian(
        load_hamiltonian(args.hamiltonian), SpringData.load(args.data), rollout_steps=args.rollout_steps
    )
    print(json.dumps(metrics, indent=1))
    return 0


def _springs_ship(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .lie.hamiltonian_card import ship_hamiltonian

    descriptions = {
        key: value
        for key, value in (
            ("data", args.describe_train),
            ("validation", args.describe_validation),
            ("test_data", args.describe_test),
        )
        if value
    }
    path = ship_hamiltonian(
        args.run,
        args.test_data,
        args.name,
        args.out,
        Path(args.limits).read_text(),
        descriptions,
        dict(args.baseline),
    )
    print(f"wrote {path} and {path.with_suffix('.md')}")
    return 0


def _screen(args: argparse.Namespace) -> int:
    from .io import check_output
    from .screening import ScreeningSpec
    from .screening.report import report_paths
    from .screening.run import screen

    def names(text: str) -> tuple[str, ...]:
        return tuple(item.strip() for item in text.split(",") if item.strip())

    if "://" not in args.db:
        check_output(args.db, "--db")
    for what, path in report_paths(args.db).items():
        check_output(path, what)
    spec = ScreeningSpec(
        potential=args.potential,
        metals=names(args.metals),
        facets=names(args.facets),
        adsorbates=names(args.adsorbates),
        fmax=args.fmax,
        steps=args.steps,
        batch_size=args.batch_size,
        device=args.device,
        dtype=args.dtype,
        random_placements=args.random_placements,
        heights=args.heights,
        seed=args.seed,
        dispersion=args.dispersion,
    )
    print(
        screen(
            spec,
            args.db,
            workers=args.workers,
            scheduler=args.scheduler,
            check_with=args.check_with,
            verify_with=args.verify_with,
            top_k=args.top_k,
        )
    )
    return 0


def _learn(args: argparse.Namespace) -> int:
    from dataclasses import fields

    from .training.active.learn import LearnSettings, learn

    given = vars(args)
    settings = LearnSettings(**{f.name: given[f.name] for f in fields(LearnSettings) if f.name in given})
    rows = learn(
        args.data,
        _potential_argument(args.committee),
        args.probe,
        args.out,
        settings,
        args.device,
        getattr(args, "add_labelled", None),
    )
    print(f"{'iteration':>9} {'explored':>8} {'selected':>8} {'labelled':>8} {'<low':>6} {'probe F MAE':>12}")
    for row in rows:
        below = row.get("below_low_fraction")
        print(
            f"{row['iteration']:>9} {row.get('explored', ''):>8} {row.get('selected', ''):>8} "
            f"{row.get('labelled', ''):>8} {'' if below is None else f'{below:.2f}':>6} "
            f"{row['probe_forces_mae_mev_per_a']:>8.1f} meV/A"
        )
    print(
        f"committee: {rows[-1]['committee']}; table {args.out}/learn.csv, plot {args.out}/learn.png, "
        f"data {args.out}/data.extxyz"
    )
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from .training.shipping.calibration import calibrate

    stats = calibrate(_potential_argument(args.committee), args.data, args.png, args.device, args.dtype)
    print(
        f"{stats['frames']} frames, {stats['atoms']} atoms; "
        f"force MAE of the mean {stats['forces_mae_mev_per_a']:.1f} meV/A"
    )
    print(f"Spearman per frame (max_forces_dev vs largest atom error): {stats['frame_spearman']:.3f}")
    print(f"Spearman per atom (forces_dev vs |F_mean - F_ref|): {stats['atom_spearman']:.3f}")
    if stats["large_error_frames"]:
        caught = ", ".join(f"{level:g}: {fraction:.0%}" for level, fraction in stats["caught"].items())
        print(
            f"{stats['large_error_frames']} frames with an atom force error above 1 eV/A; caught by "
            f"max_forces_dev above (eV/A) {caught}"
        )
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


def _numbers(text: str) -> tuple[float, ...]:
    """``"1,2.5"`` -> ``(1.0, 2.5)``; ValueError on an item that is not a number."""
    return tuple(float(item) for item in text.split(","))


POSITIVE_INT = _checked(int, lambda v: v > 0, "a positive integer")
COUNT = _checked(int, lambda v: v >= 0, "an integer >= 0")
POSITIVE = _checked(float, lambda v: math.isfinite(v) and v > 0, "a positive number")
NON_NEGATIVE = _checked(float, lambda v: math.isfinite(v) and v >= 0, "a number >= 0")
LIMIT = _checked(float, lambda v: v > 0, "a positive number or inf (no limit)")
LABEL_FILE = _checked(lambda text: tuple(text.split("=", 1)), lambda v: len(v) == 2, "LABEL=FILE")
TEMPERATURES = _checked(
    _numbers,
    lambda v: all(math.isfinite(t) and t > 0 for t in v),
    "comma-separated temperatures > 0 (K)",
)
HEIGHTS = _checked(
    _numbers,
    lambda v: all(math.isfinite(h) and h >= 0 for h in v) and len(set(v)) == len(v),
    "comma-separated distinct numbers >= 0",
)


def build_parser() -> argparse.ArgumentParser:
    """The ``equiformer-ase`` argument parser with every command."""
    parser = _Parser(
        prog="equiformer-ase",
        formatter_class=_Formatter,
        description="Equiformer force fields and LieTransformer Hamiltonians in ASE: MD, relaxation, "
        "training, adsorbate screening.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--threads",
        type=POSITIVE_INT,
        default=None,
        help="torch CPU threads (default: torch's choice, one per core)",
    )
    command = functools.partial(
        _command, parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    )
    for add_parser in (
        _info_parser,
        _generate_parser,
        _label_parser,
        _md_parser,
        _relax_parser,
        _train_parser,
        _evaluate_parser,
        _ship_parser,
        _ship_committee_parser,
        _screen_parser,
        _springs_parser,
        _learn_parser,
        _calibrate_parser,
    ):
        add_parser(command)
    return parser


def _command(
    commands, name: str, func, help: str, description: str | None = None, interrupted: str | None = None
) -> argparse.ArgumentParser:
    """The parser of command ``name`` among the subparsers ``commands``, running ``func``; ``interrupted``
    tells what an interruption leaves and how to resume, with ``{option}`` fields from the arguments."""
    parser = commands.add_parser(name, help=help, description=description or help, formatter_class=_Formatter)
    parser.set_defaults(func=func, interrupted=interrupted)
    return parser


def _info_parser(command) -> None:
    command("info", _info, "versions, devices and shipped potentials")


def _generate_parser(command) -> None:
    gen = command(
        "generate",
        _generate,
        "reference data: EMT surfaces or GFN2-xTB MD17 molecules (resumable)",
        "Generate reference data with a written recipe; re-running resumes.",
        interrupted="finished tasks are in {out}: re-run the same command to resume",
    )
    gen.add_argument(
        "subset", help="surfaces (EMT, fcc metals + H/C/N/O) or molecules (GFN2-xTB, needs tblite)"
    )
    gen.add_argument(
        "--out", required=True, help="output .extxyz/.xyz or .db file; recipe JSON goes next to it"
    )
    gen.add_argument(
        "--preset",
        default="full",
        help="full; compact (molecules: 300 frames per molecule); starts (surfaces: plus user-like adsorbate "
        "placements); probe (held-out frames, seed 1000); pool (molecules at 300, 500, 700 K: label's "
        "candidates); tiny (tests)",
    )
    gen.add_argument("--seed", type=int, default=None, help="random seed (default: the preset's, 0)")


def _label_parser(command) -> None:
    lab = command(
        "label",
        _label,
        "relabel candidate frames a committee chooses with a reference, e.g. PBE (resumable)",
        "Choose frames of CANDIDATES (by a committee's max_forces_dev, or evenly in time without one) and "
        "label them with the reference, one frame at a time, through the label cache.",
        interrupted="labelled frames are in {out}: re-run the same command to resume",
    )
    lab.add_argument("candidates", help="extxyz of candidate frames (e.g. generate molecules --preset pool)")
    lab.add_argument("--out", required=True, help="output .extxyz; its labelling record goes next to it")
    lab.add_argument(
        "--reference", default="pbe", help="pbe (PBE/def2-SVP), pyscf:XC/BASIS, gfn2, emt or module:Class"
    )
    lab.add_argument(
        "--committee", help="committee (file or shipped name) whose max_forces_dev chooses frames"
    )
    lab.add_argument("--max-frames", type=POSITIVE_INT, default=100, help="frames to label in all")
    lab.add_argument(
        "--per-group", type=POSITIVE_INT, default=10, help="at most this many per (system, temperature)"
    )
    lab.add_argument(
        "--trust-low",
        type=NON_NEGATIVE,
        default=0.0,
        help="eV/A: frames with a lower max_forces_dev are not chosen",
    )
    lab.add_argument("--systems", help="comma-separated systems (molecule names) to label; default all")
    lab.add_argument("--seed", type=int, default=0, help="random seed of the choice")
    lab.add_argument(
        "--cache",
        help="label cache (SQLite); default $EQUIFORMER_ASE_LABEL_CACHE or ~/.cache/equiformer-ase/labels.sqlite",
    )


def _md_parser(command) -> None:
    md = command(
        "md",
        _md,
        "on-device batched MD (NVE velocity Verlet or NVT Langevin BAOAB)",
        "All frames of STRUCTURE (x --replicas) advance together on the device.",
        interrupted="frames so far are in {traj}: add --resume to continue",
    )
    md.add_argument("structure", help="any file ASE reads; every frame is a system")
    md.add_argument(
        "--potential",
        required=True,
        nargs="+",
        help="shipped name or .safetensors path; several (or a committee file): a committee",
    )
    md.add_argument(
        "--max-uncertainty",
        type=LIMIT,
        default=float("inf"),
        metavar="EV_PER_A",
        help="committee only: stop when a system's max_forces_dev exceeds this (last good frame kept)",
    )
    md.add_argument("--ensemble", choices=["nve", "nvt"], default="nve", help="NVE or Langevin NVT")
    md.add_argument(
        "--temperature",
        type=NON_NEGATIVE,
        default=None,
        help="K: initial Maxwell-Boltzmann momenta, and the NVT target (default: the file's momenta)",
    )
    md.add_argument("--timestep", type=POSITIVE, required=True, help="fs")
    md.add_argument(
        "--steps",
        type=POSITIVE_INT,
        required=True,
        help="total number of steps (a resumed run stops there too)",
    )
    md.add_argument(
        "--traj", required=True, help="output .traj; one file per system (OUT_k.traj) when several"
    )
    md.add_argument("--replicas", type=POSITIVE_INT, default=1, help="copies of each structure (own seeds)")
    md.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    md.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        default="float32",
        help="model precision; float32 is faster and its forces conserve energy as well in MD, whereas relax "
        "and screen default to float64 for small final forces and adsorption energies (differences of "
        "large totals)",
    )
    md.add_argument("--friction", type=POSITIVE, default=0.01, help="NVT friction, 1/fs")
    md.add_argument("--seed", type=int, default=0, help="seed of the initial momenta and the Langevin noise")
    md.add_argument(
        "--interval", type=POSITIVE_INT, default=10, help="write a frame and log line every N steps"
    )
    md.add_argument("--log", default=None, help="CSV log (default: TRAJ with .log suffix)")
    md.add_argument("--max-force", type=POSITIVE, default=100.0, help="eV/A; stop with an error above it")
    md.add_argument(
        "--max-drift",
        type=LIMIT,
        default=0.1,
        help="eV/atom; NVE: stop when a system's total energy drifts further (inf: off)",
    )
    md.add_argument(
        "--max-temperature",
        type=LIMIT,
        default=None,
        help="K; stop above it (default: 10 x the NVT target or starting temperature, at least 3000 K)",
    )
    md.add_argument(
        "--allow-escape",
        action="store_true",
        help="do not stop when an atom loses all its neighbours or leaves a non-periodic cell axis",
    )
    md.add_argument(
        "--allow-close-contacts",
        action="store_true",
        help="run even if atoms start closer than half their covalent radii sum",
    )
    md.add_argument("--resume", action="store_true", help="continue from the last frames of --traj")
    _dispersion_argument(md)
    md.add_argument(
        "--no-plot",
        action="store_true",
        help="do not write LOG.png (energies, temperature and a committee's max_forces_dev against time)",
    )
    md.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the model: minutes to compile, then faster steps (long runs; use --threads 1)",
    )


def _dispersion_argument(parser: argparse.ArgumentParser) -> None:
    """``--dispersion d3``: D3(BJ) for PBE added to the potential (equiformer_ase.dispersion)."""
    parser.add_argument(
        "--dispersion",
        choices=["d3"],
        default=None,
        help="add D3(BJ) dispersion for PBE (simple-dftd3, pip install 'equiformer-ase[d3]'); warns for "
        "potentials whose reference has its own dispersion (GFN2-xTB) or none to correct (EMT)",
    )


class _DeprecatedAlias(argparse.Action):
    """Stores the value; an option string in ``deprecated`` also prints one line saying it is an old name."""

    def __init__(self, *args, deprecated: tuple[str, ...] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.deprecated = deprecated

    def __call__(self, parser, namespace, values, option_string=None):
        if option_string in self.deprecated:
            print(
                f"{parser.prog}: {option_string} is deprecated; use {self.option_strings[0]}", file=sys.stderr
            )
        setattr(namespace, self.dest, values)


def _max_minutes_argument(parser: argparse.ArgumentParser, help: str) -> None:
    """``--max-minutes`` (old name ``--max-time``, still read) into ``max_time``, minutes."""
    parser.add_argument(
        "--max-minutes",
        "--max-time",
        dest="max_time",
        type=POSITIVE,
        metavar="MINUTES",
        action=_DeprecatedAlias,
        deprecated=("--max-time",),
        help=f"{help}, minutes (--max-time: deprecated old name)",
    )


def _relax_parser(command) -> None:
    rel = command(
        "relax",
        _relax,
        "relax every frame: batched on-device FIRE, or ASE with --cell",
        "Fixed cell: the batched FIRE engine. --cell: ASE FrechetCellFilter + FIRE/BFGS. Each structure is "
        "written to --out as it finishes; --resume skips those. With a committee, a result whose final "
        "max_forces_dev is above the committee's trust level (its shipped one, else "
        "equiformer_ase.committee.TRUST_LEVEL) is flagged trusted=False and warned about.",
        interrupted="finished structures are in {out}: add --resume to continue",
    )
    rel.add_argument("structure", help="any file ASE reads; every frame is a system")
    rel.add_argument(
        "--potential",
        required=True,
        nargs="+",
        help="shipped name or .safetensors path; several (or a committee file): a committee",
    )
    rel.add_argument("--cell", action="store_true", help="also relax the cell (ASE FrechetCellFilter)")
    rel.add_argument("--optimizer", choices=["fire", "bfgs"], default="fire", help="ASE optimizer for --cell")
    rel.add_argument("--fmax", type=POSITIVE, required=True, help="eV/A")
    rel.add_argument("--steps", type=POSITIVE_INT, default=1000, help="optimizer steps at most")
    rel.add_argument("--out", required=True, help="output file (any format ASE writes)")
    rel.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    rel.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        default="float64",
        help="model precision (float64: forces precise down to small --fmax; md's float32 is for speed)",
    )
    _dispersion_argument(rel)
    rel.add_argument(
        "--no-plot",
        action="store_true",
        help="do not write OUT.log and OUT.png (energy and max force per step; not with --cell)",
    )
    rel.add_argument(
        "--allow-close-contacts",
        action="store_true",
        help="relax even if atoms start closer than half their covalent radii sum",
    )
    rel.add_argument(
        "--max-uncertainty",
        type=LIMIT,
        default=float("inf"),
        metavar="EV_PER_A",
        help="committee only: stop when a structure's max_forces_dev exceeds this (finished ones kept)",
    )
    rel.add_argument(
        "--resume", action="store_true", help="keep the finished structures in --out, relax the rest"
    )


def _train_parser(command) -> None:
    tr = command(
        "train",
        _train,
        "train a potential on extxyz / ase.db data (resumable, torchrun for DDP)",
        "Writes OUT/best.safetensors, checkpoint.pt, metrics.csv, metrics.json and parity plots. "
        "Run under torchrun --nproc_per_node N for data parallelism.",
        interrupted="add --resume to continue from {out}/checkpoint.pt",
    )
    tr.add_argument("data", help=".extxyz/.xyz or .db file with energies and forces")
    tr.add_argument("--out", required=True, help="output folder")
    tr.add_argument(
        "--elements", default=None, help="comma-separated, e.g. H,C,N,O (default: those in the data)"
    )
    tr.add_argument("--preset", default="small", help="model preset (small, paper-md17-l2, paper-md17-l3)")
    tr.add_argument(
        "--epochs", type=POSITIVE_INT, default=None, help="epochs (default 100 unless --max-minutes is given)"
    )
    _max_minutes_argument(tr, "wall-clock budget, checked between batches")
    tr.add_argument("--batch-size", type=POSITIVE_INT, default=8, help="structures per optimizer step")
    tr.add_argument("--lr", type=POSITIVE, default=1e-3, help="peak learning rate (AdamW, warm-up + cosine)")
    tr.add_argument(
        "--energy-weight", type=NON_NEGATIVE, default=1.0, help="weight of the per-atom energy term"
    )
    tr.add_argument("--force-weight", type=NON_NEGATIVE, default=1.0, help="weight of the force term")
    tr.add_argument(
        "--stress-weight",
        type=NON_NEGATIVE,
        default=1.0,
        help="weight of the stress term (frames with stress)",
    )
    tr.add_argument(
        "--huber-delta",
        type=POSITIVE,
        default=None,
        help="Huber loss: errors beyond this (eV/atom, eV/A, eV/A^3) count linearly, not squared, so a few "
        "extreme frames do not dominate the fit (default: squared errors)",
    )
    tr.add_argument("--validation", type=NON_NEGATIVE, default=0.1, help="validation fraction (< 1) or count")
    tr.add_argument("--test", type=NON_NEGATIVE, default=0.1, help="test fraction (< 1) or count")
    tr.add_argument("--seed", type=int, default=0, help="split, initialisation and shuffling seed")
    tr.add_argument(
        "--checkpoint-minutes", type=POSITIVE, default=10.0, help="checkpoint interval (also every epoch)"
    )
    tr.add_argument("--dtype", choices=["float32", "float64"], default="float32", help="training precision")
    tr.add_argument(
        "--keep",
        choices=["best", "last"],
        default="best",
        help="weights saved as best.safetensors: lowest validation loss, or the last ones (for a fine-tune on "
        "a superset of the parent's data, whose validation frames the parent mostly fitted already)",
    )
    tr.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    tr.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    tr.add_argument(
        "--init-from",
        metavar="NAME|PATH",
        default=None,
        help="fine-tune this potential (shipped name or file): keeps its config, elements and "
        "reference energies, fresh learning-rate schedule; the new file names it as parent",
    )
    tr.add_argument(
        "--refit-references",
        action="store_true",
        help="with --init-from: refit the per-element reference energies on this data",
    )
    tr.add_argument(
        "--smooth-attention",
        action="store_true",
        help="with --init-from: switch an older potential's attention logits to the smooth LeakyReLU "
        "(conserves NVE energy; see docs/energy-conservation.md)",
    )
    tr.add_argument(
        "--pair-repulsion",
        choices=["zbl", "none"],
        default=None,
        help="short-range prior: zbl adds the ZBL screened nuclear repulsion inside bonding distance "
        "(with --init-from: switches the parent's; default: the parent's, or none for a new model)",
    )


def _evaluate_parser(command) -> None:
    ev = command("evaluate", _evaluate, "MAE/RMSE of a potential on labelled data, overall and per subset")
    ev.add_argument(
        "potential",
        help="shipped name or .safetensors path of a potential or a committee (its members' mean)",
    )
    ev.add_argument("data", help=".extxyz/.xyz or .db file with energies and forces")
    ev.add_argument(
        "--split",
        choices=["all", "train", "validation", "test"],
        default="all",
        help="evaluate the whole file, or the potential's own training split of it (same data only)",
    )
    ev.add_argument("--json", default=None, help="also write the errors to this JSON file")
    ev.add_argument(
        "--group-by",
        action="append",
        default=[],
        metavar="KEY",
        help="also group errors by this frame info key (repeatable), e.g. source or cell",
    )
    ev.add_argument("--batch-size", type=POSITIVE_INT, default=16, help="structures per batched evaluation")
    ev.add_argument("--device", default="cpu", help="cpu, cuda or auto")


def _ship_parser(command) -> None:
    sh = command(
        "ship",
        _ship,
        "turn a training run into potentials/NAME.safetensors + NAME.md (model card)",
        "Checks NVE energy conservation on representative systems (refusing a potential that drifts), "
        "adds the data recipe, frame counts, learning curve and limits to the header, measures "
        "float64 test errors, and writes the file and its card.",
    )
    sh.add_argument("run", help="training output folder (best.safetensors, metrics.csv)")
    sh.add_argument(
        "--data", required=True, help="the data file the run trained on (its recipe JSON beside it)"
    )
    sh.add_argument("--name", required=True, help="potential name, e.g. emt-surfaces")
    sh.add_argument("--limits", required=True, help="markdown file: what the potential has not seen")
    sh.add_argument(
        "--probe", help="labelled frames made apart from the data (never trained on), for the card"
    )
    sh.add_argument("--out", default="potentials", help="folder")
    sh.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    _nve_arguments(sh)


def _nve_arguments(parser: argparse.ArgumentParser) -> None:
    """The NVE check's options of ``ship`` and ``ship-committee``."""
    parser.add_argument(
        "--nve-duration",
        type=POSITIVE,
        default=None,
        metavar="FS",
        help="length of the NVE energy-conservation check, fs (default: training.shipping.nve_check.CHECK_DURATION)",
    )
    parser.add_argument(
        "--allow-drift",
        action="store_true",
        help="ship a potential that fails the NVE check, with a warning in its card",
    )


def _ship_committee_parser(command) -> None:
    shc = command(
        "ship-committee",
        _ship_committee,
        "put potentials into one committee file potentials/NAME.safetensors + NAME.md + NAME.png",
        "Measures the members' mean and the deviation's calibration on a held-out probe set, stores "
        "them in the header, and writes the card and the calibration plot.",
    )
    shc.add_argument("name", help="committee name, e.g. emt-surfaces-committee")
    shc.add_argument(
        "--members", required=True, nargs="+", help="shipped names or .safetensors files (2 or more)"
    )
    shc.add_argument("--probe", required=True, help="labelled frames none of the members was trained on")
    shc.add_argument("--limits", required=True, help="markdown file: what the committee has not seen")
    shc.add_argument(
        "--ood",
        help="labelled out-of-distribution frames (e.g. generate surfaces --preset ood): calibration on the card",
    )
    shc.add_argument(
        "--trust-level",
        type=POSITIVE,
        help="eV/A: max_forces_dev above which md/relax flag or stop, stored in the file "
        "(default: equiformer_ase.committee.TRUST_LEVEL, 0.5)",
    )
    shc.add_argument("--out", default="potentials", help="folder")
    shc.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    _nve_arguments(shc)


def _screen_parser(command) -> None:
    sc = command(
        "screen",
        _screen,
        "adsorbate screening: surfaces x adsorbates x sites, relaxed, ranked (Dask, ase.db)",
        "Relaxes clean slabs, gas references (H2, H2O, CO, N2) and every adsorbate at every distinct "
        "site (and random sites, heights); rows go to --db as they finish, and re-running skips them. "
        "With --check-with and --verify-with the same reference: AdsorbML's ML+SP success rate.",
        interrupted="finished structures are in {db}: re-run the same command to resume",
    )
    sc.add_argument("--potential", required=True, help="shipped name or .safetensors path, or a committee")
    sc.add_argument(
        "--metals", required=True, help="comma-separated fcc metals the potential covers, e.g. Cu,Pt"
    )
    sc.add_argument("--facets", default="111,100", help="comma-separated: 111, 100, 110, 211")
    sc.add_argument("--adsorbates", required=True, help="comma-separated, e.g. H,O,CO")
    sc.add_argument("--db", required=True, help="ase.db file (SQLite) or postgresql:// URL")
    sc.add_argument(
        "--workers", type=COUNT, default=1, help="Dask LocalCluster workers (0: relax in this process)"
    )
    sc.add_argument(
        "--scheduler", default=None, help="address of a running Dask scheduler (e.g. dask-jobqueue)"
    )
    sc.add_argument("--fmax", type=POSITIVE, default=0.05, help="eV/A")
    sc.add_argument("--steps", type=POSITIVE_INT, default=300, help="FIRE steps at most per structure")
    sc.add_argument(
        "--batch-size", type=POSITIVE_INT, default=8, help="structures relaxed together per Dask task"
    )
    sc.add_argument(
        "--random-placements",
        type=COUNT,
        default=0,
        help="random sites per (surface, adsorbate) besides the heuristic ones (AdsorbML)",
    )
    sc.add_argument(
        "--heights",
        type=HEIGHTS,
        default=(0.0,),
        help="comma-separated starting heights, Angstrom above the covalent bond length, e.g. 0,0.5 "
        "(default: 0)",
    )
    sc.add_argument("--seed", type=int, default=0, help="seed of the random placements")
    sc.add_argument(
        "--check-with",
        default=None,
        metavar="REFERENCE",
        help="emt, gfn2 or an ASE calculator as module:Class: relax every placement with it too (the dense "
        "ground truth) and compare",
    )
    sc.add_argument(
        "--verify-with",
        default=None,
        metavar="REFERENCE",
        help="emt, gfn2 or module:Class: its single points at the --top-k lowest anomaly-free relaxed "
        "placements per system (slab and gas references relaxed with it); with the same "
        "--check-with, AdsorbML's success rate",
    )
    sc.add_argument("--top-k", type=POSITIVE_INT, default=5, help="structures verified per system")
    sc.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    sc.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        default="float64",
        help="model precision (float64: adsorption energies are differences of large totals)",
    )
    _dispersion_argument(sc)


def _springs_parser(command) -> None:
    springs = command("springs", None, "spring-system trajectories for the Lie Hamiltonian (LieConv recipe)")
    action = functools.partial(
        _command, springs.add_subparsers(dest="action", required=True, metavar="ACTION")
    )

    gen = action("generate", _springs_generate, "ground-truth trajectories (float64 RK4) in an .npz file")
    gen.add_argument("--out", required=True, help="output .npz (q, p, m, k, ts)")
    gen.add_argument("--systems", type=POSITIVE_INT, default=3000, help="trajectories")
    gen.add_argument("--seed", type=int, default=0, help="data seed")

    tr = action(
        "train",
        _springs_train,
        "fit a learned Hamiltonian (LieTransformer or HNN baseline)",
        interrupted="add --resume to continue from {out}/checkpoint.pt",
    )
    tr.add_argument("data", help="spring data .npz")
    tr.add_argument("--out", required=True, help="output folder")
    tr.add_argument("--seed", type=int, default=0, help="initialisation and chunk sampling seed")
    tr.add_argument("--model", choices=["lie", "mlp"], default="lie", help="LieTransformer or HNN baseline")
    tr.add_argument("--group", default="T(2)", help="LieTransformer group, e.g. T(2), SE(2)")
    tr.add_argument("--full", action="store_true", help="learn the kinetic term too (non-separable H)")
    tr.add_argument("--train", type=POSITIVE_INT, default=3000, help="the first N trajectories")
    tr.add_argument(
        "--validation",
        type=POSITIVE_INT,
        default=200,
        help="validate on the last N trajectories (of --validation-data if given)",
    )
    tr.add_argument("--validation-data", help="a separate .npz to validate on (default: DATA itself)")
    tr.add_argument("--validate-every", type=POSITIVE_INT, default=1, help="epochs between validations")
    tr.add_argument("--epochs", type=POSITIVE_INT, default=100, help="epochs")
    _max_minutes_argument(tr, "wall-clock budget")
    tr.add_argument("--batch-size", type=POSITIVE_INT, default=200, help="trajectories per step")
    tr.add_argument("--lr", type=POSITIVE, default=3e-3, help="learning rate")
    tr.add_argument("--width", type=POSITIVE_INT, default=64, help="channels")
    tr.add_argument("--depth", type=POSITIVE_INT, default=2, help="attention layers")
    tr.add_argument("--heads", type=POSITIVE_INT, default=4, help="attention heads")
    tr.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")

    ev = action("evaluate", _springs_evaluate, "chunk and rollout MSE and true-energy drift, as JSON")
    ev.add_argument("data", help="spring data .npz")
    ev.add_argument("hamiltonian", help="learned Hamiltonian (.safetensors or shipped name)")
    ev.add_argument("--rollout-steps", type=POSITIVE_INT, default=100, help="rollout length in grid steps")

    sh = action(
        "ship", _springs_ship, "turn a training run into potentials/NAME.safetensors + NAME.md (model card)"
    )
    sh.add_argument("run", help="the training run folder (best.safetensors, metrics.csv)")
    sh.add_argument("test_data", help="held-out spring data .npz to measure the card's numbers on")
    sh.add_argument("--out", required=True, help="folder for NAME.safetensors and NAME.md (potentials/)")
    sh.add_argument("--name", required=True, help="name of the shipped Hamiltonian")
    sh.add_argument("--limits", required=True, help="Markdown file with the known limits for the card")
    sh.add_argument(
        "--baseline",
        type=LABEL_FILE,
        action="append",
        default=[],
        metavar="LABEL=FILE",
        help="a Hamiltonian file to evaluate on the same test data for the card (repeatable)",
    )
    sh.add_argument("--describe-train", help="how to regenerate the training data, for the card")
    sh.add_argument("--describe-validation", help="how to regenerate the validation data")
    sh.add_argument("--describe-test", help="how to regenerate the test data")


def _learn_parser(command) -> None:
    le = command(
        "learn",
        _learn,
        "active learning: explore with a committee, label with the reference, fine-tune",
        "Per iteration (OUT/iter_NNN): committee MD, rattles, strains and adsorbate "
        "placements; frames whose max_forces_dev lies in [--trust-low, --trust-high) "
        "labelled by the reference and appended to OUT/data.extxyz; every member "
        "fine-tuned. Writes OUT/learn.csv and learn.png; re-running resumes. Options "
        "left out take the defaults of equiformer_ase.training.LearnSettings.",
        interrupted="finished stages are in {out}: re-run the same command to resume",
    )
    le.argument_default = argparse.SUPPRESS  # options left out: LearnSettings' defaults
    le.add_argument("data", help="labelled training data (.extxyz/.xyz or .db) the members were trained on")
    le.add_argument(
        "--committee", required=True, nargs="+", help="committee file / shipped name, or member files"
    )
    le.add_argument("--probe", required=True, help="labelled frames to judge on, never trained on")
    le.add_argument(
        "--add-labelled",
        metavar="FILE",
        help="labelled frames to train on from the first iteration, e.g. a screen's *_failures.extxyz",
    )
    le.add_argument("--out", required=True, help="output folder")
    le.add_argument("--reference", help="emt (default), gfn2 (tblite) or an ASE calculator as module:Class")
    le.add_argument("--iterations", type=int, help="iterations in all (raise it to continue a finished run)")
    le.add_argument(
        "--trust-low", type=NON_NEGATIVE, help="eV/A: frames with a smaller max_forces_dev count as known"
    )
    le.add_argument("--trust-high", type=POSITIVE, help="eV/A: frames at or above count as unphysical")
    le.add_argument("--max-selected", type=COUNT, help="frames labelled per iteration at most")
    le.add_argument(
        "--per-group", type=POSITIVE_INT, help="frames per (system, exploration source) and iteration at most"
    )
    le.add_argument("--systems", type=COUNT, help="start structures drawn from the data per iteration")
    le.add_argument(
        "--temperatures",
        dest="md_temperatures",
        metavar="T1,T2,...",
        type=TEMPERATURES,
        help="comma-separated MD temperatures, K",
    )
    le.add_argument("--md-steps", type=POSITIVE_INT, help="MD steps per start structure and temperature")
    le.add_argument(
        "--placements", type=COUNT, help="adsorbate placements relaxed per iteration (data with slabs)"
    )
    le.add_argument("--epochs", type=POSITIVE_INT, help="fine-tuning epochs per member and iteration")
    _max_minutes_argument(le, "fine-tuning budget per member and iteration")
    le.add_argument("--lr", type=POSITIVE, help="fine-tuning peak learning rate")
    le.add_argument(
        "--energy-weight", type=NON_NEGATIVE, help="fine-tuning weight of the per-atom energy term"
    )
    le.add_argument("--force-weight", type=NON_NEGATIVE, help="fine-tuning weight of the force term")
    le.add_argument("--huber-delta", type=POSITIVE, help="fine-tuning Huber delta (see train --huber-delta)")
    le.add_argument("--validation", type=float, help="fine-tuning validation fraction (< 1) or count")
    le.add_argument("--test", type=float, help="fine-tuning test fraction (< 1) or count")
    le.add_argument("--batch-size", type=POSITIVE_INT)
    le.add_argument("--dtype", choices=["float32", "float64"])
    le.add_argument("--device", default="cpu")
    le.add_argument("--seed", type=int)


def _calibrate_parser(command) -> None:
    ca = command(
        "calibrate", _calibrate, "does a committee's deviation rank its true force errors? (Spearman, PNG)"
    )
    ca.add_argument("committee", nargs="+", help="committee file / shipped name, or member files")
    ca.add_argument("data", help="labelled frames (.extxyz/.xyz or .db), held out from training")
    ca.add_argument("--png", default=None, help="write the log-log scatter of error vs deviation here")
    ca.add_argument("--device", default="cpu")
    ca.add_argument("--dtype", choices=["float32", "float64"], default="float64")


def _cpu_threads(threads: int | None) -> None:
    """Idle OpenMP threads sleep instead of spinning (unless the user set OMP_WAIT_POLICY): with other
    processes on the cores, spinning made two torch threads about 10x slower than one. Set before
    torch starts its thread pool, i.e. before any command imports torch."""
    import os

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


def _warning_source(filename: str) -> str:
    """ "" for a warning of this package, else "warning from PACKAGE: " (e.g. dask's), so it is not
    taken for the tool's own message."""
    from pathlib import Path

    parts = Path(filename).parts
    if "equiformer_ase" in parts:
        return ""
    package = parts[parts.index("site-packages") + 1] if "site-packages" in parts else Path(filename).stem
    return f"warning from {package}: "


def main(argv: list[str] | None = None) -> int:
    """Run one command; the single place where errors, interruptions and warnings become one-line messages
    and exit codes."""
    args = build_parser().parse_args(argv)
    _cpu_threads(args.threads)
    name = f"equiformer-ase {args.command}"
    with warnings.catch_warnings():
        warnings.showwarning = lambda message, category, filename, *_, **__: print(
            f"{name}: {_warning_source(filename)}{message}", file=sys.stderr
        )
        try:
            return args.func(args)
        except (*USER_ERRORS, BlowUpError) as err:
            message = " ".join(str(err).split()) or type(err).__name__
            print(f"{name}: error: {message}", file=sys.stderr)
            return 1 if isinstance(err, BlowUpError) else 2
        except KeyboardInterrupt:
            hint = args.interrupted.format_map(vars(args)) if args.interrupted else "nothing to resume"
            print(f"\ninterrupted; {hint}", file=sys.stderr)
            return 130


if __name__ == "__main__":
    sys.exit(main())

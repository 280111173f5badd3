"""Committees: K potentials with the same elements and cutoff, evaluated on one graph.

The spread of the members' predictions estimates the error of their mean where no reference
exists (MACE's committee calculator, DP-GEN's model deviation). For forces F_k (n, 3) of K members:

* ``forces_var`` (n, 3): the variance over members of each component (ddof 0);
* ``forces_dev`` (n,): sqrt(sum over xyz of ``forces_var``) = sqrt(mean_k |F_k - mean F|^2), DP-GEN's
  per-atom force deviation; ``max_forces_dev`` is its largest value in a structure (``max_devi_f``).

A committee file is one safetensors file: member k's weights under ``member{k}.<name>`` and, under
the metadata key ``equiformer_ase_committee``, a JSON header with ``format_version``, every
member's own potential header (with its ``weights_sha256``) and (version 2) ``header_sha256`` over
all of it. Loading never unpickles and checks each member as :func:`load_potential` checks a file.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import NamedTuple

import torch

from .devices import resolve_device, resolve_dtype
from .errors import PotentialFileError
from .graph import AtomGraph, NeighbourList
from .model import EquiformerConfig
from .potential import Potential, _build, _check_shapes, _header_config, _state_tensors, inference_copy
from .shipped import (
    COMMITTEE,
    load_tensors,
    read_header,
    read_metadata,
    resolve,
    shipped_names,
    tensor_shapes,
    weights_sha256,
    write_model_file,
)

FORMAT_VERSION = COMMITTEE.versions[-1]
# eV/A: the level of max_forces_dev above which a result is flagged untrusted, where a committee ships no
# ``info["trust_level"]`` of its own. On the probe frames of emt-surfaces-committee (see
# training.active.learn.LearnSettings) frames at 0.5 eV/A and above had a median largest force error of 2.0 eV/A.
TRUST_LEVEL = 0.5


class Committee:
    """``members``: potentials with identical ``elements`` and ``cutoff`` (other settings may differ)
    and different weights (identical members always agree: a deviation of 0 whatever the structure);
    ``info``: free-form model-card data stored in the file header (name, calibration, limits)."""

    def __init__(self, members: list[Potential], info: dict | None = None):
        if len(members) < 2:
            raise ValueError(f"a committee needs at least 2 members, got {len(members)}")
        first = members[0].config
        for k, member in enumerate(members[1:], start=1):
            cfg = member.config
            if list(cfg.elements) != list(first.elements):
                raise ValueError(
                    f"committee member {k} has elements {','.join(cfg.elements)}, member 0 has "
                    f"{','.join(first.elements)}: members must share their elements"
                )
            if cfg.cutoff != first.cutoff:
                raise ValueError(
                    f"committee member {k} has cutoff {cfg.cutoff} A, member 0 has {first.cutoff} A: "
                    "members must share their cutoff"
                )
        hashes = [member.weights_hash() for member in members]
        for k, weights in enumerate(hashes):
            if weights in hashes[:k]:
                raise ValueError(
                    f"committee members {hashes.index(weights)} and {k} have the same weights (sha256 "
                    f"{weights[:12]}): identical members always agree, so their deviation says nothing; "
                    "give independently trained members"
                )
        self.members = list(members)
        self.info = dict(info or {})

    @property
    def config(self) -> EquiformerConfig:
        """Member 0's config: its ``elements`` and ``cutoff`` are every member's."""
        return self.members[0].config

    def __len__(self) -> int:
        return len(self.members)

    @property
    def trust_level(self) -> float:
        """eV/A: the committee file's shipped ``info["trust_level"]``, else :data:`TRUST_LEVEL`."""
        level = self.info.get("trust_level")
        return float(level) if isinstance(level, (int, float)) and level > 0 else TRUST_LEVEL

    def evaluate(
        self, graph: AtomGraph, forces: bool = True, stress: bool = False
    ) -> dict[str, torch.Tensor]:
        """Every member's :meth:`Potential.evaluate` on the one ``graph``, stacked: (K, ...) per key."""
        outputs = [member.evaluate(graph, forces=forces, stress=stress) for member in self.members]
        return {key: torch.stack([out[key] for out in outputs]) for key in outputs[0]}

    def save(self, path: str | Path) -> None:
        """Write all members to one safetensors file (see the module docstring)."""
        tensors, headers = {}, []
        for k, member in enumerate(self.members):
            member_tensors = _state_tensors(member)
            tensors.update({f"member{k}.{name}": value for name, value in member_tensors.items()})
            headers.append({**member.metadata, "weights_sha256": weights_sha256(member_tensors)})
        write_model_file(
            path,
            tensors,
            {"format_version": FORMAT_VERSION, "members": headers, "info": self.info},
            COMMITTEE,
        )


def committee_statistics(stacked: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Mean and spread of stacked member outputs ``stacked`` ((K, ...) per key, from :meth:`Committee.evaluate`).

    Returns ``energy`` (B,), ``energies`` (N,), ``forces`` (N, 3), ``stress`` (B, 3, 3) as member means,
    ``energy_comm`` (K, B), ``energy_var`` (B,), and with forces ``forces_comm`` (K, N, 3),
    ``forces_var`` (N, 3) and ``forces_dev`` (N,) (eV/A).
    """
    results = {key: value.mean(dim=0) for key, value in stacked.items()}
    results["energy_comm"] = stacked["energy"]
    results["energy_var"] = stacked["energy"].var(dim=0, correction=0)
    if "forces" in stacked:
        results["forces_comm"] = stacked["forces"]
        results["forces_var"] = stacked["forces"].var(dim=0, correction=0)
        results["forces_dev"] = results["forces_var"].sum(dim=-1).sqrt()
    return results


def flag_untrusted(frames: list, trust_level: float, first_index: int = 0) -> None:
    """Set ``info["trusted"]`` on each frame (ase.Atoms) that carries a committee's ``info["max_forces_dev"]``
    (eV/A): False above ``trust_level`` (eV/A), with a warning naming the structure (numbered from
    ``first_index``): its energy and forces are outside what the committee knows."""
    for k, atoms in enumerate(frames, start=first_index):
        if "max_forces_dev" not in atoms.info:
            continue
        deviation = atoms.info["max_forces_dev"]
        atoms.info["trusted"] = bool(deviation <= trust_level)
        if not atoms.info["trusted"]:
            warnings.warn(
                f"structure {k} ({atoms.get_chemical_formula()}): final max_forces_dev {deviation:.3g} eV/A "
                f"is above the trust level {trust_level:g} eV/A: its energy and forces are not to be trusted "
                "(flagged trusted=False in the output)",
                stacklevel=2,
            )


def load_committee(name_or_path: str | Path) -> Committee:
    """A committee from its file or by the name of a shipped committee."""
    path = resolve(name_or_path, COMMITTEE)
    header = read_header(path, COMMITTEE)
    member_headers = header.get("members")
    if not (isinstance(member_headers, list) and all(isinstance(h, dict) for h in member_headers)):
        raise PotentialFileError(f"{path}: corrupt committee header ('members' must be a list of headers)")
    shapes = tensor_shapes(path)
    configs = []
    for k, member_header in enumerate(member_headers):
        cfg = _header_config(member_header, f"{path} member {k}")
        _check_shapes(_member_part(shapes, k), cfg, f"{path} member {k}")
        configs.append(cfg)
    tensors = load_tensors(path)
    return Committee(
        [
            _build(member_header, cfg, _member_part(tensors, k), f"{path} member {k}")
            for k, (member_header, cfg) in enumerate(zip(member_headers, configs))
        ],
        header.get("info"),
    )


def _member_part(items: dict, k: int) -> dict:
    """The entries of member ``k`` (``member{k}.<name>``) under their own names."""
    prefix = f"member{k}."
    return {name[len(prefix) :]: value for name, value in items.items() if name.startswith(prefix)}


def is_committee_file(name_or_path: str | Path) -> bool:
    """True for a committee file or the name of a shipped committee."""
    path = Path(name_or_path)
    if path.suffix == ".safetensors" or path.exists():
        try:
            return COMMITTEE.key in read_metadata(path)
        except PotentialFileError:
            return False
    return str(name_or_path) in shipped_names(COMMITTEE)


def inference_model(
    spec, device: torch.device, dtype: torch.dtype, compile: bool = False
) -> Potential | Committee:
    """A frozen copy on ``device`` in ``dtype`` of what a calculator or the MD engine is given:
    a :class:`Potential`, a :class:`Committee`, a list of potentials (names, paths or objects) as a
    committee, or the name / path of a potential or committee file; ``compile``: see
    :func:`~equiformer_ase.potential.inference_copy`."""
    if isinstance(spec, Committee):
        return Committee(
            [inference_copy(member, device, dtype, compile) for member in spec.members], spec.info
        )
    if isinstance(spec, (list, tuple)):
        return Committee([inference_copy(member, device, dtype, compile) for member in spec])
    if isinstance(spec, (str, Path)) and is_committee_file(spec):
        return inference_model(load_committee(spec), device, dtype, compile)
    return inference_copy(spec, device, dtype, compile)


class OnDevice(NamedTuple):
    """What the ASE calculator and the MD engine evaluate with: the ``device`` and ``dtype``, the frozen
    ``model`` there, and a ``neighbour_list`` for its cutoff."""

    device: torch.device
    dtype: torch.dtype
    model: Potential | Committee
    neighbour_list: NeighbourList


def on_device(
    spec,
    device: str | torch.device,
    dtype: str,
    skin: float,
    neighbour_backend: str,
    compile: bool = False,
    allow_close_contacts: bool = False,
) -> OnDevice:
    """:func:`inference_model` of ``spec`` on the ``device`` in the ``dtype`` named (compiled if ``compile``),
    with a Verlet neighbour list of ``skin`` Angstrom (see :class:`~equiformer_ase.graph.NeighbourList`)
    that checks every graph for close contacts unless ``allow_close_contacts``."""
    device, dtype = resolve_device(device), resolve_dtype(dtype)
    model = inference_model(spec, device, dtype, compile)
    # Positions stay float64 whatever the model's dtype: edge vectors far from the origin keep
    # their precision (Potential.evaluate casts them after the subtraction).
    neighbour_list = NeighbourList(
        model.config.elements,
        model.config.cutoff,
        skin,
        backend=neighbour_backend,
        device=device,
        dtype=torch.float64,
        check_contacts=not allow_close_contacts,
    )
    return OnDevice(device, dtype, model, neighbour_list)


def evaluate_model(
    model: Potential | Committee, graph: AtomGraph, stress: bool = False
) -> dict[str, torch.Tensor]:
    """Energies and forces (and stress) of a potential, or a committee's mean with its spread
    (:func:`committee_statistics`)."""
    out = model.evaluate(graph, forces=True, stress=stress)
    return committee_statistics(out) if isinstance(model, Committee) else out

"""Potential: an Equiformer plus its elements, reference energies and model card metadata.

:meth:`Potential.evaluate` is the single place where energy, forces and stress are computed;
the calculator, batch evaluation, MD, relaxation and training all call it.

File format (``.safetensors``): the weights plus, under the metadata key ``equiformer_ase``, a
JSON header with ``format_version``, ``config``, ``elements``, ``reference_energies`` (eV per
element), ``cutoff`` (Angstrom), ``training`` (data recipe), ``metrics`` (test errors),
``weights_sha256`` and (version 2) ``header_sha256`` over all of it. Version 1 files (no header
hash) still load. Loading never unpickles, validates every header field, and checks the weights'
names and shapes against the config before building the model; every failure is a
:class:`PotentialFileError`.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
from pathlib import Path

import torch
from torch import nn

from .errors import PotentialFileError
from .graph import AtomGraph
from .model import Equiformer, EquiformerConfig
from .nn import scatter_sum
from .nn.constants import ExactConstant
from .shipped import (
    COMMITTEE,
    POTENTIAL,
    check_fields,
    check_weights,
    load_tensors,
    resolve,
    shipped_names,
    tensor_shapes,
    weights_sha256,
    write_model_file,
)
from .shipped import read_header as read_model_header

FORMAT_VERSION = POTENTIAL.versions[-1]
HEADER_KEY = POTENTIAL.key
# Potential.memory -> edges per chunk of the model's per-edge pipelines (Equiformer's ``edge_chunk``)
# in a call that does not train: "low" recomputes them chunk by chunk in the backward pass, "fast"
# keeps them all. See benchmarks/bench_memory.py for what each costs.
MEMORY_MODES = {"fast": None, "low": 2048}


class Potential(nn.Module):
    """Equiformer with per-element reference energies: E = sum_i (e_model(i) + E_ref[Z_i]).

    ``reference_energies`` (eV per element) are the isolated-atom energies; they are fitted, not
    learned by gradient descent, and are stored in the file header rather than with the weights.

    ``metadata`` holds ``elements``, ``cutoff``, ``config``, ``reference_energies`` and free-form
    ``training`` and ``metrics`` dicts (the model card's numbers).

    ``memory`` (a run-time setting, not stored): ``"low"`` (default) or ``"fast"``, see
    :data:`MEMORY_MODES`; the same numbers either way.
    """

    memory = "low"

    def __init__(
        self,
        model: Equiformer,
        reference_energies: dict[str, float] | None = None,
        training: dict | None = None,
        metrics: dict | None = None,
    ):
        super().__init__()
        self.model = model
        self.set_reference_energies(reference_energies or {el: 0.0 for el in model.cfg.elements})
        self.training_info = dict(training or {})
        self.metrics = dict(metrics or {})

    @classmethod
    def from_config(cls, cfg: EquiformerConfig, seed: int = 0, **kwargs) -> "Potential":
        """An untrained potential with a deterministic initialisation for ``seed``."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = Equiformer(cfg)
        return cls(model, **kwargs)

    def set_reference_energies(self, reference_energies: dict[str, float]) -> None:
        """Replace the per-element reference energies (eV); every element of the model needs one."""
        elements = self.model.cfg.elements
        missing = set(elements) - set(reference_energies)
        if missing:
            raise ValueError(f"reference energies missing for {sorted(missing)}")
        self.reference_energies = {el: float(reference_energies[el]) for el in elements}
        self._reference_table = ExactConstant(torch.tensor([self.reference_energies[el] for el in elements]))

    @property
    def config(self) -> EquiformerConfig:
        return self.model.cfg

    def weights_hash(self) -> str:
        """sha256 of the weights, as stored in the file header (``weights_sha256``)."""
        return weights_sha256(_state_tensors(self))

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the weights: edge vectors are cast to it after they are formed."""
        return next(self.model.parameters()).dtype

    @property
    def metadata(self) -> dict:
        elements = self.config.elements
        return {
            "format_version": FORMAT_VERSION,
            "elements": list(elements),
            "cutoff": float(self.config.cutoff),
            "config": self.config.to_dict(),
            "reference_energies": dict(self.reference_energies),
            "training": self.training_info,
            "metrics": self.metrics,
        }

    def evaluate(
        self, graph: AtomGraph, forces: bool = True, stress: bool = False, create_graph: bool = False
    ) -> dict[str, torch.Tensor]:
        """Energies and their derivatives for a batch.

        Returns ``energy`` (B,) eV, ``energies`` (N,) eV per atom, and when asked ``forces``
        (N, 3) eV/A = -dE/dr and ``stress`` (B, 3, 3) eV/A^3 = (1/V) dE/d(strain) for a symmetric
        strain applied to positions and cell (NaN rows for structures that are not periodic in
        all three directions, where stress is undefined). ``create_graph=True`` keeps the graph of
        the derivatives for training on forces.

        Edge vectors are differences formed in the graph's dtype and only then cast to the model's,
        so a float64 graph keeps a float32 model exact far from the origin (forces come out in the
        graph's dtype).
        """
        positions, cell = graph.positions, graph.cell
        inputs = []
        if forces:
            positions = positions.detach().requires_grad_(True)
            inputs.append(positions)
        if stress:
            strain = torch.zeros_like(cell, requires_grad=True)
            inputs.append(strain)

        with torch.set_grad_enabled(torch.is_grad_enabled() or bool(inputs)):
            if stress:
                symmetric = 0.5 * (strain + strain.transpose(1, 2))
                positions = positions + torch.einsum("ni,nij->nj", positions, symmetric[graph.batch])
                cell = cell + torch.bmm(cell, symmetric)
            edge_vectors = graph.edge_vectors(positions, cell).to(self.dtype)
            energies = self.model(
                graph.species, graph.edge_index, edge_vectors, **self._model_options(create_graph)
            )
            energies = energies + self._reference_table(energies).index_select(0, graph.species)
            energy = scatter_sum(energies, graph.batch, graph.num_graphs)
            results = {"energy": energy, "energies": energies}
            if inputs:
                grads = torch.autograd.grad(energy.sum(), inputs, create_graph=create_graph)
                if forces:
                    results["forces"] = -grads[0]
                if stress:
                    # Divide by a finite volume everywhere and mark undefined rows afterwards, so a
                    # NaN never enters the graph that training differentiates.
                    periodic = graph.pbc.all(dim=1)
                    volume = torch.linalg.det(graph.cell).abs()
                    stress = grads[-1] / torch.where(periodic, volume, torch.ones_like(volume))[:, None, None]
                    results["stress"] = torch.where(periodic[:, None, None], stress, torch.nan)
        if not create_graph:
            results = {k: v.detach() for k, v in results.items()}
        return results

    def _model_options(self, create_graph: bool) -> dict:
        """Keyword arguments of the model call: the edge chunk of :attr:`memory` when not training
        (``create_graph=False``). A stand-in model with only Equiformer's three arguments (an analytic
        potential behind the same interface) gets none."""
        if self.memory not in MEMORY_MODES:
            raise ValueError(f"memory must be one of {sorted(MEMORY_MODES)}, got {self.memory!r}")
        edge_chunk = None if create_graph else MEMORY_MODES[self.memory]
        if edge_chunk is None or not isinstance(self.model, Equiformer):
            return {}
        return {"edge_chunk": edge_chunk}

    # ----------------------------------------------------------------------------- files
    def save(self, path: str | Path) -> None:
        """Write weights and the JSON header to one safetensors file."""
        tensors = _state_tensors(self)
        write_model_file(
            path, tensors, {**self.metadata, "weights_sha256": weights_sha256(tensors)}, POTENTIAL
        )


def _state_tensors(potential: Potential) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in potential.state_dict().items()}


def read_header(name_or_path: str | Path) -> dict:
    """The validated JSON header of a potential file or shipped potential, without loading the weights."""
    header = read_model_header(name_or_path, POTENTIAL)
    _header_config(header, name_or_path)
    return header


def _header_config(header: dict, path: str | Path) -> EquiformerConfig:
    """The config of a header whose every field has been checked: PotentialFileError naming the field."""
    check_fields(
        header, POTENTIAL, path
    )  # again for a committee's member headers, which read_header does not see
    try:
        cfg = EquiformerConfig.from_dict(header["config"])
    except (TypeError, ValueError) as exc:
        raise PotentialFileError(f"{path}: invalid config ({exc})") from None
    if header["elements"] != cfg.elements or header["cutoff"] != cfg.cutoff:
        raise PotentialFileError(
            f"{path}: elements {header['elements']!r} / cutoff {header['cutoff']!r} differ from "
            f"the config's {cfg.elements} / {cfg.cutoff}"
        )
    references = header["reference_energies"]
    if not (
        isinstance(references, dict)
        and set(references) == set(cfg.elements)
        and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            for v in references.values()
        )
    ):
        raise PotentialFileError(
            f"{path}: reference_energies must map each of {', '.join(cfg.elements)} to a "
            f"finite number (eV), got {references!r}"
        )
    return cfg


def _check_shapes(shapes: dict[str, tuple[int, ...]], cfg: EquiformerConfig, where: str | Path) -> None:
    """Check the block count and the shapes that pin the config's sizes (``shapes``: name -> shape,
    read from a file's header), so a crafted small file never makes loading build a large model."""
    blocks = {int(m.group(1)) for name in shapes if (m := re.match(r"model\.blocks\.(\d+)\.", name))}
    if blocks != set(range(cfg.num_blocks)):
        raise PotentialFileError(
            f"{where}: the weights hold {len(blocks)} blocks, the config {cfg.num_blocks}"
        )
    for name, shape in Equiformer.expected_shapes(cfg).items():
        found = shapes.get(f"model.{name}")
        if found != shape:
            raise PotentialFileError(
                f"{where}: weight model.{name} has shape {found}, the config implies {shape}"
            )


def _build(
    header: dict, cfg: EquiformerConfig, tensors: dict[str, torch.Tensor], where: str | Path
) -> Potential:
    """The potential of a checked ``header`` (config ``cfg``) and its weights, whose hash is checked here."""
    check_weights(tensors, header, where)
    potential = Potential(
        Equiformer(cfg), header["reference_energies"], header.get("training"), header.get("metrics")
    )
    try:
        potential.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise PotentialFileError(f"{where}: weights do not fit the stored config ({exc})") from None
    return potential


def load_potential(name_or_path: str | Path) -> Potential:
    """Load a potential from a file path or by the name of a shipped potential."""
    if not Path(name_or_path).exists() and str(name_or_path) in shipped_names(COMMITTEE):
        raise PotentialFileError(
            f"{name_or_path!r} is a committee: pass it to EquiformerCalculator or load it "
            "with equiformer_ase.load_committee"
        )
    path = resolve(name_or_path, POTENTIAL)
    header = read_model_header(path, POTENTIAL)
    cfg = _header_config(header, path)
    _check_shapes(tensor_shapes(path), cfg, path)
    return _build(header, cfg, load_tensors(path), path)


def list_potentials() -> list[str]:
    """Names of the Equiformer potentials and committees shipped in ``potentials/``."""
    return sorted(shipped_names(POTENTIAL) + shipped_names(COMMITTEE))


def with_weightless_change(potential: Potential, **changes) -> Potential:
    """A copy of ``potential`` with config fields ``changes`` that have no weights of their own
    (``attention_activation``, ``pair_repulsion``) and the same weights, reference energies and records.
    Its energies move, so measure its errors again (or train it further) before shipping."""
    cfg = dataclasses.replace(potential.config, **changes)
    copy = Potential(
        Equiformer(cfg), potential.reference_energies, potential.training_info, potential.metrics
    )
    copy.load_state_dict(potential.state_dict())
    return copy.to(potential.dtype)


def with_attention_activation(potential: Potential, activation: str) -> Potential:
    """:func:`with_weightless_change` of the attention logits' activation."""
    return with_weightless_change(potential, attention_activation=activation)


def with_smooth_attention(potential: Potential) -> Potential:
    """:func:`with_attention_activation` ``"smooth_leaky_relu"``: a potential trained with LeakyReLU attention
    logits without their force jumps."""
    return with_attention_activation(potential, "smooth_leaky_relu")


def inference_copy(
    potential: Potential | str | Path, device: torch.device, dtype: torch.dtype, compile: bool = False
) -> Potential:
    """A frozen copy (eval mode, no parameter gradients) on ``device`` in ``dtype``, of a
    :class:`Potential` or of the file / shipped name; the caller's potential is never cast in place.

    ``compile=True``: the model goes through ``torch.compile`` (inductor), with dynamic shapes since
    the edge count changes at every MD step. Its first call compiles (minutes on a CPU), later
    calls run faster: worth it for long runs, not for a few calls. A compiled copy runs with
    ``memory="fast"``: the chunked, recomputed edge pipelines of ``"low"`` are not compiled.
    """
    potential = copy.deepcopy(potential) if isinstance(potential, Potential) else load_potential(potential)
    potential = potential.to(device=device, dtype=dtype).eval().requires_grad_(False)
    if compile:
        potential.memory = "fast"
        potential.model.compile(dynamic=True)
    return potential

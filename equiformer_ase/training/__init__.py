"""Training, in rooms that follow the flow of the work (imports point one way, left to right):

``generation`` (recipes, reference data, labelling) -> ``fitting`` (samples, loss, trainer)
-> ``shipping`` (cards, committees, calibration) -> ``active`` (``learn``, on top of all three).
Reference calculators themselves live in :mod:`equiformer_ase.references`. The names below are the
public ones; the modules inside the rooms may move.
"""

from .active.learn import LearnSettings, learn
from .fitting.batching import Batch, collate, predict
from .fitting.dataset import Sample, read_structures, split_indices, to_samples
from .fitting.distributed import Distributed, init_distributed
from .fitting.ema import ExponentialMovingAverage
from .fitting.loss import LossWeights, penalty_sums
from .fitting.metrics import error_summary, format_errors, group_errors
from .fitting.parity import write_parity_plots
from .fitting.reference_energies import average_num_neighbors, energy_scale, fit_reference_energies
from .fitting.trainer import Trainer, TrainingConfig, compute_gradients, learning_rate, train
from .generation.frame_store import read_frames
from .generation.generate import frame_counts, generate, recipe_path
from .generation.labelled_data import combine_labels, keep_labels, rebuild_labelled_data
from .generation.labelling import LabelSettings, label_frames
from .generation.recipes import MoleculeRecipe, SurfaceRecipe, make_recipe
from .shipping.calibration import calibrate
from .shipping.learned_data import rebuild_data

__all__ = [
    "rebuild_labelled_data",
    "rebuild_data",
    "label_frames",
    "keep_labels",
    "combine_labels",
    "LabelSettings",
    "Batch",
    "Distributed",
    "ExponentialMovingAverage",
    "LearnSettings",
    "LossWeights",
    "MoleculeRecipe",
    "Sample",
    "SurfaceRecipe",
    "Trainer",
    "TrainingConfig",
    "average_num_neighbors",
    "calibrate",
    "collate",
    "compute_gradients",
    "energy_scale",
    "error_summary",
    "fit_reference_energies",
    "format_errors",
    "frame_counts",
    "generate",
    "group_errors",
    "init_distributed",
    "learn",
    "learning_rate",
    "make_recipe",
    "predict",
    "read_frames",
    "read_structures",
    "recipe_path",
    "split_indices",
    "penalty_sums",
    "to_samples",
    "train",
    "write_parity_plots",
]

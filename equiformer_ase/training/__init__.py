"""Training data and training: reference-data generation (EMT surfaces, GFN2-xTB MD17 molecules)
with written recipes, the trainer that fits potentials to such data, and active learning with
committees (``learn``) with its calibration check (``calibrate``)."""

from .active import LearnSettings, learn
from .batching import Batch, collate, predict
from .calibration import calibrate
from .dataset import Sample, read_structures, split_indices, to_samples
from .distributed import Distributed, init_distributed
from .ema import ExponentialMovingAverage
from .frame_store import read_frames
from .generation import frame_counts, generate, recipe_path
from .loss import LossWeights, penalty_sums
from .metrics import error_summary, format_errors, group_errors
from .parity import write_parity_plots
from .recipes import MoleculeRecipe, SurfaceRecipe, make_recipe
from .references import average_num_neighbors, energy_scale, fit_reference_energies
from .trainer import Trainer, TrainingConfig, compute_gradients, learning_rate, train

__all__ = [
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

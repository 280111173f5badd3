"""Training data: reference-data generation (EMT surfaces, GFN2-xTB MD17 molecules) with written recipes."""

from .frame_store import read_frames
from .generation import frame_counts, generate, recipe_path
from .recipes import MoleculeRecipe, SurfaceRecipe, make_recipe

__all__ = ["MoleculeRecipe", "SurfaceRecipe", "frame_counts", "generate", "make_recipe", "read_frames", "recipe_path"]

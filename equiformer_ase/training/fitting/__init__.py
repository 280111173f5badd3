"""Fitting a potential to labelled frames: samples and batches, the loss, reference energies,
EMA, the trainer (checkpoints, resume, DDP) and its error metrics."""

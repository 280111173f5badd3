"""Shipping a fitted potential: model cards (held-out and probe errors, lineage, NVE check),
committees and their calibration, evaluation of a potential on data, rebuilding a card's data."""

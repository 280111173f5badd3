"""Shipped trained potentials: NAME.safetensors with its model card NAME.md."""

"""Exceptions with messages that name the problem."""

from __future__ import annotations


class UnsupportedElementError(ValueError):
    """A structure contains an element the potential was not built for."""

    def __init__(self, elements: list[str], supported: list[str]):
        self.elements = sorted(set(elements))
        self.supported = list(supported)
        super().__init__(
            f"unsupported element(s) {', '.join(self.elements)}: this potential supports "
            f"{', '.join(self.supported)}"
        )


class PotentialFileError(ValueError):
    """A potential file is missing, corrupt, truncated or of an unknown format version."""


class CloseContactError(ValueError):
    """Two atoms overlap: closer than a fraction of the sum of their covalent radii."""

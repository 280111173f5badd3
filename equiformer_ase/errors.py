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


class UserFileError(ValueError):
    """An input file is missing or unreadable, or an output path cannot be written."""


class MemoryEstimateError(ValueError):
    """A call would need more memory than its device has (estimated before allocating; see
    :mod:`equiformer_ase.memory_estimate`): the message gives the estimate and what to do."""


class BlowUpError(RuntimeError):
    """The simulation became unphysical: non-finite energies or positions, forces above the threshold, or
    a watchdog of the MD engine (energy drift, temperature, escaping atoms) tripped."""


class UncertaintyError(BlowUpError):
    """A committee's force deviation went above the limit: the structure left the potential's data."""


# What the command line reports as a user mistake: one line on stderr, exit code 2.
USER_ERRORS = (ValueError, OSError, NotImplementedError, ImportError)

"""Even functions of an angle that are 0/0 at the origin, evaluated stably.

The exponential and logarithm of SO(3), SE(2) and SE(3) need coefficients such as
``sin(t)/t`` and ``(t - sin t)/t^3``.  Their closed forms divide by zero at ``t = 0`` and lose
digits to cancellation near it.  Every one of them is even in ``t``, so it is written as a
function of ``t2 = t^2`` (which is smooth in the Lie algebra vector, unlike ``t = |a|``):

    f(t2) = sum_n c_n t2^n          for t2 < threshold   (truncated Taylor series)
    f(t2) = closed_form(t2)         otherwise

Both branches are evaluated on sanitised inputs and joined with ``torch.where`` (the "double
where"), so values, gradients and second derivatives are finite and correct everywhere, in
float32 and float64.  Series are truncated where the next term is below float64 round-off at
the threshold.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from fractions import Fraction

import torch
from torch import Tensor


class EvenSeries:
    """``f(t2)`` from a closed form, with its Taylor series in ``t2`` below ``threshold``.

    Args:
        closed_form: ``t2 -> f`` valid for ``t2 >= threshold``.
        coefficients: Taylor coefficients ``c_0, c_1, ...`` of ``f`` in powers of ``t2``.
        threshold: switch point in ``t2``.
    """

    def __init__(
        self, closed_form: Callable[[Tensor], Tensor], coefficients: Sequence[float], threshold: float
    ):
        self.closed_form = closed_form
        self.coefficients = tuple(float(c) for c in coefficients)
        self.threshold = threshold

    def __call__(self, t2: Tensor) -> Tensor:
        """Evaluate on ``t2`` of any shape and floating dtype; returns the same shape."""
        small = t2 < self.threshold
        t2_small = torch.where(small, t2, torch.zeros_like(t2))
        t2_large = torch.where(small, torch.full_like(t2, self.threshold), t2)
        series = torch.full_like(t2, self.coefficients[-1])
        for c in reversed(self.coefficients[:-1]):  # Horner
            series = series * t2_small + c
        return torch.where(small, series, self.closed_form(t2_large))


def _bernoulli(n: int) -> Fraction:
    """Bernoulli number B_n (B_1 = -1/2 convention), exact."""
    b = [Fraction(1)]
    for m in range(1, n + 1):
        b.append(-sum(math.comb(m + 1, j) * b[j] for j in range(m)) / (m + 1))
    return b[n]


_TERMS = 12

sinc = EvenSeries(
    lambda t2: torch.sin(t2.sqrt()) / t2.sqrt(),
    [(-1) ** n / math.factorial(2 * n + 1) for n in range(_TERMS)],
    threshold=1.0,
)
"""``sin(t)/t``."""

one_minus_cos_over_t2 = EvenSeries(
    lambda t2: 0.5 * (torch.sin(0.5 * t2.sqrt()) / (0.5 * t2.sqrt())) ** 2,
    [(-1) ** n / math.factorial(2 * n + 2) for n in range(_TERMS)],
    threshold=1.0,
)
"""``(1 - cos t)/t^2``, closed form ``sin^2(t/2) / (2 (t/2)^2)`` free of cancellation."""

t_minus_sin_over_t3 = EvenSeries(
    lambda t2: (t2.sqrt() - torch.sin(t2.sqrt())) / (t2 * t2.sqrt()),
    [(-1) ** n / math.factorial(2 * n + 3) for n in range(_TERMS)],
    threshold=1.0,
)
"""``(t - sin t)/t^3``."""

one_minus_half_cot_over_t2 = EvenSeries(
    lambda t2: (1.0 - 0.5 * t2.sqrt() / torch.tan(0.5 * t2.sqrt())) / t2,
    [float((-1) ** (n + 1) * _bernoulli(2 * n) / math.factorial(2 * n)) for n in range(1, _TERMS + 1)],
    threshold=1.0,
)
"""``(1 - (t/2) cot(t/2))/t^2`` (the W^2 coefficient of the inverse SE(3) V matrix); |t| < 2 pi."""

asin_over_x = EvenSeries(
    lambda x2: torch.asin(x2.sqrt()) / x2.sqrt(),
    [math.comb(2 * n, n) / (4**n * (2 * n + 1)) for n in range(_TERMS)],
    threshold=0.04,
)
"""``asin(x)/x`` as a function of ``x^2``; used for the SO(3) log near the identity (x = sin t)."""

"""Building blocks commute with rotations (and reflections with parity), checked with Wigner D matrices."""

import pytest
import torch
from e3nn import o3

from equiformer_ase.nn import (
    DepthwiseTensorProduct,
    EquivariantFeedForward,
    EquivariantLayerNorm,
    Gate,
    IrrepsLinear,
    PolynomialEnvelope,
)


@pytest.fixture(autouse=True)
def _float64_wigner_matrices():
    """e3nn builds D matrices from generators in the default dtype: make it float64 here."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


IRREPS = {"SE(3)": o3.Irreps("8x0e+4x1e+3x2e"), "E(3)": o3.Irreps("8x0e+4x1o+3x2e+2x3o")}


def rotation(parity: bool) -> torch.Tensor:
    torch.manual_seed(0)
    r = o3.rand_matrix(dtype=torch.float64)
    return -r if parity else r


@pytest.mark.parametrize("group", sorted(IRREPS))
def test_depthwise_tensor_product_is_equivariant(group):
    irreps = IRREPS[group]
    parity = group == "E(3)"
    irreps_sh = o3.Irreps.spherical_harmonics(irreps.lmax, p=-1 if parity else 1)
    tp = DepthwiseTensorProduct(irreps, irreps_sh, irreps)
    assert tp.irreps_out == tp.irreps_out.sort().irreps.simplify()
    tp = tp.double()
    x, vec = irreps.randn(7, -1, dtype=torch.float64), torch.randn(7, 3, dtype=torch.float64)
    weights = torch.randn(7, tp.weight_numel, dtype=torch.float64)
    R = rotation(parity)
    sh = o3.spherical_harmonics(irreps_sh, vec, normalize=True)
    sh_rot = o3.spherical_harmonics(irreps_sh, vec @ R.T, normalize=True)
    out = tp(x, sh, weights)
    out_rot = tp(x @ irreps.D_from_matrix(R).T, sh_rot, weights)
    torch.testing.assert_close(out_rot, out @ tp.irreps_out.D_from_matrix(R).T, atol=1e-10, rtol=0)
    assert torch.equal(tp(x, sh), tp(x, sh, torch.ones_like(weights)))  # no weights: every weight 1


def test_depthwise_tensor_product_matches_e3nn_single_path():
    """One channel, one path (1e x 1e -> 1e): the coupling is e3nn's uvu tensor product up to a constant."""
    tp = DepthwiseTensorProduct(o3.Irreps("1x1e"), o3.Irreps("1x1e"), o3.Irreps("1x1e"))
    ref = o3.TensorProduct(
        "1x1e", "1x1e", "1x1e", [(0, 0, 0, "uvu", True)], shared_weights=False, internal_weights=False
    )
    tp, ref = tp.double(), ref.double()
    x, y = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    ours = tp(x, y, torch.ones(5, 1, dtype=torch.float64))
    theirs = ref(x, y, torch.ones(5, 1, dtype=torch.float64))
    ratio = ours / theirs
    torch.testing.assert_close(ratio, torch.full_like(ratio, ratio[0, 0].item()), atol=1e-10, rtol=0)


@pytest.mark.parametrize("group", sorted(IRREPS))
def test_linear_gate_norm_feed_forward_are_equivariant(group):
    irreps = IRREPS[group]
    R = rotation(group == "E(3)")
    D = irreps.D_from_matrix(R)
    x = irreps.randn(6, -1, dtype=torch.float64)
    gate = Gate(irreps)
    modules = [
        IrrepsLinear(irreps, irreps, bias=True),
        EquivariantLayerNorm(irreps),
        EquivariantFeedForward(irreps, irreps, irreps),
        torch.nn.Sequential(IrrepsLinear(irreps, gate.irreps_in), gate),
    ]
    for module in modules:
        module = module.double()
        torch.testing.assert_close(module(x @ D.T), module(x) @ D.T, atol=1e-10, rtol=0)


def test_envelope_is_smooth_and_non_negative():
    envelope = PolynomialEnvelope(cutoff=5.0)
    r = torch.linspace(0, 6, 6001, dtype=torch.float64, requires_grad=True)
    u = envelope(r)
    (du,) = torch.autograd.grad(u.sum(), r, create_graph=True)
    (d2u,) = torch.autograd.grad(du.sum(), r)
    assert u[0] == 1 and (u >= 0).all() and (u[r >= 5.0] == 0).all()
    near = (r > 4.99) & (r < 5.0)
    assert u[near].max() < 1e-6 and du[near].abs().max() < 1e-3 and d2u[near].abs().max() < 5e-2


def test_concat_has_the_derivatives_of_torch_cat_to_second_order():
    """``concat`` only changes how its backward is built (split instead of slices)."""
    from equiformer_ase.nn.concat import concat

    torch.manual_seed(0)
    pieces = [torch.randn(4, k, dtype=torch.float64, requires_grad=True) for k in (1, 3, 5)]
    assert torch.equal(concat(pieces, dim=1), torch.cat(pieces, dim=1))
    assert torch.autograd.gradcheck(lambda *p: concat(list(p), dim=1) ** 2, pieces)
    assert torch.autograd.gradgradcheck(lambda *p: concat(list(p), dim=1) ** 3, pieces)

"""Lie groups: exp/log closed forms, round trips near 0 and pi, group axioms, action, gradients."""

import math

import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

from equiformer_ase import lie

NAMES = lie.GROUP_NAMES
ROTATION_GROUPS = ("SO(2)", "SO(3)", "SE(2)", "SE(3)")


def algebra_vectors(G, count, angle=None, dtype=torch.float64, seed=0):
    """Random algebra vectors; the rotation part gets norm ``angle`` (or a random one below pi)."""
    generator = torch.Generator().manual_seed(seed)
    a = torch.randn(count, G.lie_dim, generator=generator, dtype=torch.float64)
    rotation = G.rotation_components
    if rotation.any():
        part = a[:, rotation]
        norm = (
            torch.full((count, 1), angle, dtype=torch.float64)
            if angle is not None
            else 3.0 * torch.rand(count, 1, generator=generator, dtype=torch.float64)
        )
        a[:, rotation] = part / part.norm(dim=-1, keepdim=True) * norm
    return a.to(dtype)


def test_group_names_and_unknown_name():
    assert set(NAMES) == {"T(2)", "T(3)", "SO(2)", "SE(2)", "SO(3)", "SE(3)"}
    dims = {name: lie.group(name).lie_dim for name in NAMES}
    assert dims == {"T(2)": 2, "T(3)": 3, "SO(2)": 1, "SE(2)": 3, "SO(3)": 3, "SE(3)": 6}
    with pytest.raises(ValueError, match=r"unknown Lie group 'SU\(2\)'.*SE\(3\)"):
        lie.group("SU(2)")


@pytest.mark.parametrize("name", NAMES)
def test_exp_is_matrix_exponential_of_hat(name):
    G = lie.group(name)
    for angle in (None, 1e-8, 0.0, math.pi - 1e-6):
        a = algebra_vectors(G, 64, angle)
        assert G.hat(a).shape == (64, G.matrix_dim, G.matrix_dim)
        torch.testing.assert_close(G.exp(a), torch.linalg.matrix_exp(G.hat(a)), atol=1e-12, rtol=0)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("angle", [None, 0.0, 1e-8, 1e-4, 0.5, 1.0, 2.5, math.pi - 1e-3, math.pi - 1e-6])
def test_log_inverts_exp_float64(name, angle):
    G = lie.group(name)
    a = algebra_vectors(G, 64, angle)
    torch.testing.assert_close(G.log(G.exp(a)), a, atol=1e-9, rtol=0)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("angle", [None, 0.0, 1e-8, 1e-3, 1.0, math.pi - 1e-3])
def test_log_inverts_exp_float32(name, angle):
    G = lie.group(name)
    a = algebra_vectors(G, 64, angle, dtype=torch.float32)
    g = G.exp(a)
    assert g.dtype == torch.float32
    torch.testing.assert_close(G.log(g), a, atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", NAMES)
def test_exp_of_log_on_samples(name):
    G = lie.group(name)
    g = G.sample((64,), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(G.exp(G.log(g)), g, atol=1e-10, rtol=0)


@pytest.mark.parametrize("name", NAMES)
def test_group_axioms(name):
    G = lie.group(name)
    generator = torch.Generator().manual_seed(2)
    g, h, k = (G.sample((32,), generator=generator) for _ in range(3))
    e = G.identity((32,))
    torch.testing.assert_close(
        G.compose(G.compose(g, h), k), G.compose(g, G.compose(h, k)), atol=1e-12, rtol=0
    )
    torch.testing.assert_close(G.compose(g, e), g, atol=0, rtol=0)
    torch.testing.assert_close(G.compose(e, g), g, atol=0, rtol=0)
    torch.testing.assert_close(G.compose(g, G.inverse(g)), e, atol=1e-12, rtol=0)
    torch.testing.assert_close(G.compose(G.inverse(g), g), e, atol=1e-12, rtol=0)
    torch.testing.assert_close(G.inverse(g), torch.linalg.inv(g), atol=1e-12, rtol=0)
    torch.testing.assert_close(G.log(e), torch.zeros(32, G.lie_dim, dtype=torch.float64), atol=0, rtol=0)


@pytest.mark.parametrize("name", NAMES)
def test_elements_are_rigid_motions(name):
    G = lie.group(name)
    g = G.exp(algebra_vectors(G, 32))
    d = G.space_dim
    rotation = g[..., :d, :d]
    torch.testing.assert_close(
        rotation.transpose(-1, -2) @ rotation,
        torch.eye(d, dtype=torch.float64).expand(32, d, d),
        atol=1e-12,
        rtol=0,
    )
    torch.testing.assert_close(
        torch.linalg.det(rotation), torch.ones(32, dtype=torch.float64), atol=1e-12, rtol=0
    )
    if G.homogeneous:
        bottom = torch.zeros(d + 1, dtype=torch.float64)
        bottom[d] = 1
        torch.testing.assert_close(g[..., d, :], bottom.expand(32, d + 1), atol=0, rtol=0)


@pytest.mark.parametrize("name", NAMES)
def test_action_is_a_group_action(name):
    G = lie.group(name)
    generator = torch.Generator().manual_seed(3)
    g, h = G.sample((16,), generator=generator), G.sample((16,), generator=generator)
    x = torch.randn(16, G.space_dim, generator=generator, dtype=torch.float64)
    torch.testing.assert_close(G.act(g, G.act(h, x)), G.act(G.compose(g, h), x), atol=1e-12, rtol=0)
    torch.testing.assert_close(G.act(G.identity((16,)), x), x, atol=0, rtol=0)


@pytest.mark.parametrize("name", ROTATION_GROUPS)
def test_haar_samples_are_reproducible_and_spread(name):
    G = lie.group(name)
    a = G.sample((2000,), generator=torch.Generator().manual_seed(4))
    b = G.sample((2000,), generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b)
    d = G.space_dim
    # E[R] = 0 for the Haar measure on SO(d)
    assert a[..., :d, :d].mean(0).abs().max() < 0.1


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("angle", [0.0, 1e-8, 0.7, 2.0])
def test_gradcheck_exp_and_log(name, angle):
    G = lie.group(name)
    a = algebra_vectors(G, 2, angle).requires_grad_()
    assert gradcheck(G.exp, a)
    assert gradgradcheck(G.exp, a)
    g = G.exp(a).detach().requires_grad_()
    assert gradcheck(G.log, g)
    assert gradgradcheck(G.log, g)


@pytest.mark.parametrize("name", ROTATION_GROUPS)
def test_gradcheck_log_near_pi(name):
    G = lie.group(name)
    a = algebra_vectors(G, 2, math.pi - 1e-3).requires_grad_()
    g = G.exp(a).detach().requires_grad_()
    # derivatives of log grow like 1/(pi - angle) off the group; finer finite differences
    assert gradcheck(G.log, g, eps=1e-8, atol=1e-5)
    assert gradgradcheck(G.log, g, eps=1e-8, atol=1e-4)
    round_trip = algebra_vectors(G, 2, math.pi - 1e-5).requires_grad_()
    assert gradcheck(lambda x: G.log(G.exp(x)), round_trip)
    assert gradgradcheck(lambda x: G.log(G.exp(x)), round_trip)


@pytest.mark.parametrize("name", NAMES)
def test_bad_shapes_raise(name):
    G = lie.group(name)
    with pytest.raises(ValueError, match="algebra vectors"):
        G.exp(torch.zeros(3, G.lie_dim + 1, dtype=torch.float64))
    with pytest.raises(ValueError, match="group elements"):
        G.log(torch.zeros(3, G.matrix_dim + 1, G.matrix_dim + 1, dtype=torch.float64))
    with pytest.raises(ValueError, match="points"):
        G.act(G.identity(), torch.zeros(G.space_dim + 1, dtype=torch.float64))


def test_distance_is_left_invariant():
    G = lie.group("SE(3)")
    generator = torch.Generator().manual_seed(5)
    u, v, g = (G.sample((16,), generator=generator) for _ in range(3))

    def distance(p, q):
        return G.distance(G.log(G.inverse(p) @ q), rotation_weight=0.3)

    torch.testing.assert_close(distance(g @ u, g @ v), distance(u, v), atol=1e-10, rtol=0)

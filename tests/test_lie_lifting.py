"""Lifting points to group elements: orbit representatives, stabiliser samples, equivariance."""

import math

import pytest
import torch

from equiformer_ase import lie

NAMES = lie.GROUP_NAMES


def points(G, batch=2, n=5, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, n, G.space_dim, generator=generator, dtype=torch.float64)
    f = torch.randn(batch, n, 3, generator=generator, dtype=torch.float64)
    return x, f, torch.ones(batch, n, dtype=torch.bool)


def samples_for(G):
    return 1 if G.stabiliser.dim == 0 else 6


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("random", [False, True])
def test_lifted_elements_map_reference_point_to_the_point(name, random):
    G = lie.group(name)
    x, f, mask = points(G)
    ns = samples_for(G)
    lifted = lie.lift(G, x, f, mask, nsamples=ns, random=random, generator=torch.Generator().manual_seed(1))
    assert lifted.elements.shape == (2, 5 * ns, G.matrix_dim, G.matrix_dim)
    assert lifted.orbits.shape == (2, 5 * ns, G.orbit_dim)
    assert lifted.nsamples == ns
    reference = G.reference_point(lifted.orbits)
    torch.testing.assert_close(
        G.act(lifted.elements, reference), x.repeat_interleave(ns, 1), atol=1e-12, rtol=0
    )
    torch.testing.assert_close(lifted.features, f.repeat_interleave(ns, 1), atol=0, rtol=0)
    if G.orbit_dim:
        torch.testing.assert_close(
            lifted.orbits[..., 0], x.norm(dim=-1).repeat_interleave(ns, 1), atol=1e-12, rtol=0
        )


@pytest.mark.parametrize("name", ["T(2)", "T(3)", "SO(2)"])
def test_trivial_stabiliser_lifts_exactly_with_one_sample(name):
    G = lie.group(name)
    x, f, mask = points(G)
    g = G.sample((2, 1), generator=torch.Generator().manual_seed(2))
    lifted = lie.lift(G, x, f, mask)
    lifted_moved = lie.lift(G, G.act(g, x), f, mask)
    torch.testing.assert_close(lifted_moved.elements, g @ lifted.elements, atol=1e-12, rtol=0)
    torch.testing.assert_close(lifted_moved.orbits, lifted.orbits, atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match="nsamples=1"):
        lie.lift(G, x, f, mask, nsamples=3)


@pytest.mark.parametrize("name", ["SO(3)", "SE(2)", "SE(3)"])
def test_lift_is_equivariant_up_to_the_stabiliser(name):
    """lift(g x) and g lift(x) lie in the same cosets: (g u)^-1 u' fixes the reference point."""
    G = lie.group(name)
    x, f, mask = points(G)
    g = G.sample((2, 1), generator=torch.Generator().manual_seed(3))
    lifted = lie.lift(G, x, f, mask, nsamples=4)
    lifted_moved = lie.lift(G, G.act(g, x), f, mask, nsamples=4)
    relative = G.inverse(g @ lifted.elements) @ lifted_moved.elements
    reference = G.reference_point(lifted.orbits)
    torch.testing.assert_close(G.act(relative, reference), reference, atol=1e-12, rtol=0)
    torch.testing.assert_close(lifted_moved.orbits, lifted.orbits, atol=1e-12, rtol=0)


def test_se2_lift_is_exactly_equivariant_for_grid_rotations():
    """Rotating by a multiple of 2 pi / nsamples permutes each point's evenly spaced samples."""
    G = lie.group("SE(2)")
    x, f, mask = points(G)
    ns = 8
    g = G.exp(torch.tensor([0.3, -1.2, 3 * 2 * math.pi / ns], dtype=torch.float64))
    lifted = lie.lift(G, x, f, mask, nsamples=ns).elements.view(2, 5, ns, 3, 3)
    lifted_moved = lie.lift(G, G.act(g, x), f, mask, nsamples=ns).elements.view(2, 5, ns, 3, 3)
    torch.testing.assert_close(lifted_moved, (g @ lifted).roll(3, dims=2), atol=1e-12, rtol=0)


@pytest.mark.parametrize("name", ["SO(3)", "SE(2)", "SE(3)"])
def test_random_lifting_is_seeded(name):
    G = lie.group(name)
    x, f, mask = points(G)

    def lifted(seed):
        return lie.lift(
            G, x, f, mask, nsamples=3, random=True, generator=torch.Generator().manual_seed(seed)
        ).elements

    assert torch.equal(lifted(7), lifted(7))
    assert not torch.allclose(lifted(7), lifted(8))
    assert not torch.allclose(lifted(7), lie.lift(G, x, f, mask, nsamples=3).elements)


def test_stabiliser_grid_is_evenly_spread():
    G = lie.group("SE(3)")
    grid = G.stabiliser.grid(64)
    torch.testing.assert_close(grid[:, 3, :3], torch.zeros(64, 3, dtype=torch.float64), atol=0, rtol=0)
    # the mean of a well-spread set of rotations is near zero (the Haar mean)
    assert grid[:, :3, :3].mean(0).abs().max() < 0.05
    angles = lie.group("SE(2)").log(lie.group("SE(2)").stabiliser.grid(5))[:, 2]
    torch.testing.assert_close(
        torch.sort(torch.remainder(angles, 2 * math.pi)).values,
        torch.arange(5, dtype=torch.float64) * 2 * math.pi / 5,
        atol=1e-12,
        rtol=0,
    )


def test_padding_is_masked_and_sanitised():
    G = lie.group("SO(3)")
    x, f, mask = points(G)
    x[0, -1] = math.nan
    mask[0, -1] = False
    lifted = lie.lift(G, x, f, mask, nsamples=2)
    assert lifted.mask.shape == (2, 10)
    assert not lifted.mask[0, -2:].any() and lifted.mask[0, :-2].all()
    assert torch.isfinite(lifted.elements).all()


def test_bad_input_raises():
    G = lie.group("SE(2)")
    x, f, mask = points(G)
    with pytest.raises(ValueError, match=r"SE\(2\) acts on R\^2"):
        lie.lift(G, torch.zeros(2, 5, 3, dtype=torch.float64), f, mask)
    with pytest.raises(ValueError, match="features must be"):
        lie.lift(G, x, f[:, :4], mask)
    with pytest.raises(ValueError, match="positive int"):
        lie.lift(G, x, f, mask, nsamples=0)


@pytest.mark.parametrize("name", ["SO(2)", "SO(3)"])
def test_rotation_lifts_at_the_origin_and_the_negative_axis(name):
    """The orbit representative is well defined (and its gradient finite) at the special points."""
    G = lie.group(name)
    special = torch.tensor(
        [[0.0, 0.0, 0.0], [-2.0, 0.0, 0.0], [-1.0, 1e-9, 0.0], [-1.0, 0.0, -1e-12]], dtype=torch.float64
    )[None, :, : G.space_dim].requires_grad_()
    f = torch.zeros(1, 4, 1, dtype=torch.float64)
    lifted = lie.lift(G, special, f, torch.ones(1, 4, dtype=torch.bool), nsamples=samples_for(G))
    reference = G.reference_point(lifted.orbits)
    moved = G.act(lifted.elements, reference)
    torch.testing.assert_close(moved, special.repeat_interleave(samples_for(G), 1), atol=1e-12, rtol=0)
    (grad,) = torch.autograd.grad(lifted.elements.sum() + lifted.orbits.sum(), special)
    assert torch.isfinite(grad).all()

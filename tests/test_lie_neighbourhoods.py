"""Neighbourhoods: exact nearest neighbours by group distance, invariance, masks, Monte-Carlo fill."""

import pytest
import torch

from equiformer_ase import lie


def lifted_points(name, batch=2, n=12, nsamples=None, seed=0):
    G = lie.group(name)
    nsamples = nsamples or (1 if G.stabiliser.dim == 0 else 3)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, n, G.space_dim, generator=generator, dtype=torch.float64)
    f = torch.zeros(batch, n, 1, dtype=torch.float64)
    mask = torch.ones(batch, n, dtype=torch.bool)
    return G, x, f, mask, nsamples


def dense_distances(G, elements, rotation_weight=1.0):
    relative = G.inverse(elements)[:, :, None] @ elements[:, None]
    return G.distance(G.log(relative), rotation_weight)


@pytest.mark.parametrize("name", lie.GROUP_NAMES)
def test_nearest_match_dense_reference(name):
    G, x, f, mask, ns = lifted_points(name)
    lifted = lie.lift(G, x, f, mask, ns)
    k = 5
    nbhd = lie.nearest_neighbours(G, lifted.elements, lifted.mask, k, rotation_weight=0.5, chunk_size=7)
    assert nbhd.index.shape == nbhd.mask.shape == (2, lifted.mask.shape[1], k)
    assert nbhd.mask.all()
    expected = dense_distances(G, lifted.elements, 0.5).topk(k, dim=-1, largest=False).values
    got = dense_distances(G, lifted.elements, 0.5).gather(-1, nbhd.index)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)  # keys compare at float32 precision
    # every element is its own nearest neighbour
    assert (nbhd.index[..., 0] == torch.arange(lifted.mask.shape[1])).all()


def test_chunk_size_does_not_change_the_result():
    G, x, f, mask, ns = lifted_points("SE(2)")
    lifted = lie.lift(G, x, f, mask, ns)
    a = lie.nearest_neighbours(G, lifted.elements, lifted.mask, 6, chunk_size=1)
    b = lie.nearest_neighbours(G, lifted.elements, lifted.mask, 6, chunk_size=1000)
    assert torch.equal(a.index, b.index) and torch.equal(a.mask, b.mask)


@pytest.mark.parametrize("name", ["T(3)", "SE(2)", "SE(3)"])
def test_neighbourhoods_are_invariant(name):
    G, x, f, mask, ns = lifted_points(name)
    g = G.sample((2, 1), generator=torch.Generator().manual_seed(1))
    elements = lie.lift(G, x, f, mask, ns).elements
    a = lie.nearest_neighbours(G, elements, mask.repeat_interleave(ns, 1), 5)
    b = lie.nearest_neighbours(G, g @ elements, mask.repeat_interleave(ns, 1), 5)
    assert torch.equal(a.index, b.index)


def test_padding_is_never_a_neighbour_and_short_neighbourhoods_are_masked():
    G, x, f, mask, ns = lifted_points("T(2)", n=6)
    mask[0, 4:] = False
    lifted = lie.lift(G, x, f, mask, ns)
    nbhd = lie.nearest_neighbours(G, lifted.elements, lifted.mask, 5)
    valid_index = nbhd.index[0][nbhd.mask[0]]
    assert (valid_index < 4).all()
    assert nbhd.mask[0].sum(-1).eq(4).all() and nbhd.mask[1].all()
    full = lie.all_neighbours(lifted.mask)
    assert full.index.shape == (2, 6, 6) and torch.equal(full.mask[0, 0], mask[0])


def test_monte_carlo_fill_samples_from_the_nearest_fraction():
    G, x, f, mask, ns = lifted_points("SE(2)", n=20)
    lifted = lie.lift(G, x, f, mask, ns)
    m, k, fill = lifted.mask.shape[1], 4, 0.25
    ball = int(fill * m)

    def sampled(seed):
        return lie.nearest_neighbours(
            G, lifted.elements, lifted.mask, k, fill=fill, generator=torch.Generator().manual_seed(seed)
        )

    a, b, c = sampled(0), sampled(0), sampled(1)
    assert torch.equal(a.index, b.index) and not torch.equal(a.index, c.index)
    assert a.mask.all()
    assert (a.index.sort(-1).values.diff(dim=-1) > 0).all()  # without replacement
    radius = dense_distances(G, lifted.elements).kthvalue(ball, dim=-1).values
    chosen = dense_distances(G, lifted.elements).gather(-1, a.index)
    assert (chosen <= radius[..., None] + 1e-12).all()


def test_relative_logs_are_invariant_and_differentiable():
    G, x, f, mask, ns = lifted_points("SE(3)", n=4)
    x.requires_grad_()
    g = G.sample((2, 1), generator=torch.Generator().manual_seed(2))
    lifted = lie.lift(G, x, f, mask, ns)
    nbhd = lie.all_neighbours(lifted.mask)
    logs = lie.relative_logs(G, lifted.elements, nbhd)
    assert logs.shape == (2, 12, 12, 6)
    torch.testing.assert_close(lie.relative_logs(G, g @ lifted.elements, nbhd), logs, atol=1e-10, rtol=0)
    (grad,) = torch.autograd.grad(logs.square().sum(), x, create_graph=True)
    assert torch.isfinite(grad).all()
    (second,) = torch.autograd.grad(grad.sum(), x)
    assert torch.isfinite(second).all()


def test_bad_arguments_raise():
    G, x, f, mask, ns = lifted_points("T(2)")
    lifted = lie.lift(G, x, f, mask, ns)
    with pytest.raises(ValueError, match="k must be"):
        lie.nearest_neighbours(G, lifted.elements, lifted.mask, 0)
    with pytest.raises(ValueError, match="fill must be"):
        lie.nearest_neighbours(G, lifted.elements, lifted.mask, 3, fill=1.5)

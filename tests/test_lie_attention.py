"""LieSelfAttention on its own: shapes, masked neighbours, normalisations, sparse = dense."""

import pytest
import torch

from equiformer_ase import lie


def layer_inputs(nsamples=2, n=6, seed=0):
    G = lie.group("SE(2)")
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(2, n, 2, generator=generator, dtype=torch.float64)
    f = torch.randn(2, n, 8, generator=generator, dtype=torch.float64)
    lifted = lie.lift(G, x, f, torch.ones(2, n, dtype=torch.bool), nsamples)
    return G, lifted


@pytest.mark.parametrize("combine", lie.attention.COMBINE_MODES)
@pytest.mark.parametrize("normalisation", lie.attention.NORMALISATIONS)
def test_masked_neighbours_have_no_influence(combine, normalisation):
    G, lifted = layer_inputs()
    nbhd = lie.all_neighbours(lifted.mask)
    nbhd.mask = nbhd.mask.clone()
    nbhd.mask[..., -2:] = False  # the last point's two samples are nobody's neighbour
    locations = lie.location_inputs(G, lifted, nbhd)
    layer = lie.LieSelfAttention(
        8, locations.shape[-1], heads=2, combine=combine, normalisation=normalisation
    ).double()
    out = layer(lifted.features, locations, nbhd)
    assert out.shape == lifted.features.shape
    changed = lifted.features.clone()
    changed[:, -2:] = 100.0
    torch.testing.assert_close(layer(changed, locations, nbhd)[:, :-2], out[:, :-2], atol=1e-12, rtol=0)


def test_nearest_with_k_equal_to_all_matches_all_neighbours():
    G, lifted = layer_inputs()
    m = lifted.mask.shape[1]
    dense = lie.all_neighbours(lifted.mask)
    sparse = lie.nearest_neighbours(G, lifted.elements, lifted.mask, k=m)
    layer = lie.LieSelfAttention(8, G.lie_dim, heads=4).double()
    torch.testing.assert_close(
        layer(lifted.features, lie.location_inputs(G, lifted, sparse), sparse),
        layer(lifted.features, lie.location_inputs(G, lifted, dense), dense),
        atol=1e-12,
        rtol=0,
    )


def test_dot_product_normalisation_divides_by_neighbourhood_size():
    G, lifted = layer_inputs()
    nbhd = lie.all_neighbours(lifted.mask)
    locations = lie.location_inputs(G, lifted, nbhd)
    layer = lie.LieSelfAttention(8, locations.shape[-1], heads=1, normalisation="dot_product").double()
    with torch.no_grad():
        layer.query.weight.zero_()
        layer.query.bias.zero_()
        layer.location_kernel[-1].weight.zero_()
        layer.location_kernel[-1].bias.fill_(1.0)  # every logit is 1 -> weights 1 / |N(i)|
    values = layer.key_value(lifted.features)[..., 8:]
    expected = layer.output(values.mean(1, keepdim=True).expand_as(values))
    torch.testing.assert_close(layer(lifted.features, locations, nbhd), expected, atol=1e-12, rtol=0)

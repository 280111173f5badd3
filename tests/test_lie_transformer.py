"""LieTransformer: invariance (exact for T(n), converging with lift samples otherwise), permutations,
padding, second derivatives, configuration and input errors."""

import math

import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

from equiformer_ase import lie


def system(G, batch=2, n=5, features=2, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, n, G.space_dim, generator=generator, dtype=torch.float64)
    f = torch.randn(batch, n, features, generator=generator, dtype=torch.float64)
    return x, f


def model(name, seed=0, **options):
    options = {"width": 16, "depth": 1, "heads": 2, **options}
    return lie.LieTransformer(
        name, in_features=options.pop("in_features", 2), out_features=3, seed=seed, **options
    ).double()


def invariance_error(net, G, x, f, trials=4, lifts=1):
    """Mean over random g of max |V(g x) - V(x)|; V averaged over ``lifts`` seeded random lifts."""

    def averaged(y):
        generator = torch.Generator().manual_seed(123)
        return torch.stack([net(y, f, generator=generator) for _ in range(lifts)]).mean(0)

    reference = averaged(x)
    generator = torch.Generator().manual_seed(7)
    errors = [
        (averaged(G.act(G.sample((x.shape[0], 1), generator=generator), x)) - reference).abs().max()
        for _ in range(trials)
    ]
    return torch.stack(errors).mean().item()


@pytest.mark.parametrize("name", ["T(2)", "T(3)", "SO(2)"])
@pytest.mark.parametrize("combine", lie.attention.COMBINE_MODES)
@pytest.mark.parametrize("normalisation", lie.attention.NORMALISATIONS)
def test_exact_lifts_give_exact_invariance(name, combine, normalisation):
    G = lie.group(name)
    x, f = system(G)
    net = model(name, combine=combine, normalisation=normalisation, depth=2)
    assert invariance_error(net, G, x, f) < 1e-10


@pytest.mark.parametrize("name", ["T(2)", "T(3)"])
@pytest.mark.parametrize("pooling", lie.transformer.POOLINGS)
def test_translation_invariance_with_nearest_neighbourhoods(name, pooling):
    G = lie.group(name)
    x, f = system(G, n=9)
    net = model(name, neighbourhood="nearest", k=4, pooling=pooling)
    assert invariance_error(net, G, x, f) < 1e-10


@pytest.mark.parametrize(
    "name, nsamples", [("SE(2)", (1, 4, 16)), ("SO(3)", (1, 4, 16)), ("SE(3)", (1, 8, 32))]
)
def test_deterministic_lifting_invariance_error_shrinks_with_samples(name, nsamples):
    G = lie.group(name)
    x, f = system(G)
    errors = [invariance_error(model(name, nsamples=ns), G, x, f) for ns in nsamples]
    assert errors[0] > errors[1] > errors[2], errors
    assert errors[2] < errors[0] / 3, errors


@pytest.mark.parametrize("name", ["SE(2)", "SO(3)", "SE(3)"])
def test_averaged_random_lifting_invariance_error_shrinks_with_samples(name):
    G = lie.group(name)
    x, f = system(G)
    errors = [
        invariance_error(model(name, nsamples=ns, lifting="random"), G, x, f, trials=3, lifts=6)
        for ns in (1, 4, 16)
    ]
    assert errors[0] > errors[1] > errors[2], errors
    assert errors[2] < errors[0] / 3, errors


@pytest.mark.parametrize("name", lie.GROUP_NAMES)
@pytest.mark.parametrize("neighbourhood", lie.transformer.NEIGHBOURHOODS)
def test_permutation_invariance(name, neighbourhood):
    G = lie.group(name)
    x, f = system(G, n=6)
    net = model(name, neighbourhood=neighbourhood, k=5)
    permutation = torch.randperm(6, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(net(x[:, permutation], f[:, permutation]), net(x, f), atol=1e-12, rtol=0)


@pytest.mark.parametrize("name", lie.GROUP_NAMES)
@pytest.mark.parametrize("neighbourhood", lie.transformer.NEIGHBOURHOODS)
@pytest.mark.parametrize("pooling", lie.transformer.POOLINGS)
def test_padding_with_mask_changes_nothing(name, neighbourhood, pooling):
    G = lie.group(name)
    x, f = system(G, batch=1, n=5)
    net = model(name, neighbourhood=neighbourhood, k=4, pooling=pooling, combine="mlp")
    generator = torch.Generator().manual_seed(2)
    x_padded = torch.cat(
        [x, 1e3 * torch.randn(1, 3, G.space_dim, generator=generator, dtype=torch.float64)], 1
    )
    f_padded = torch.cat([f, torch.randn(1, 3, 2, generator=generator, dtype=torch.float64)], 1)
    mask = torch.tensor([[True] * 5 + [False] * 3])
    x_padded[0, -1] = math.nan
    torch.testing.assert_close(net(x_padded, f_padded, mask), net(x, f), atol=1e-12, rtol=0)


def test_batch_of_different_sizes_equals_one_by_one():
    G = lie.group("SE(2)")
    net = model("SE(2)")
    (x1, f1), (x2, f2) = system(G, batch=1, n=3, seed=1), system(G, batch=1, n=6, seed=2)
    x = torch.cat([torch.nn.functional.pad(x1, (0, 0, 0, 3)), x2])
    f = torch.cat([torch.nn.functional.pad(f1, (0, 0, 0, 3)), f2])
    mask = torch.tensor([[True] * 3 + [False] * 3, [True] * 6])
    torch.testing.assert_close(net(x, f, mask), torch.cat([net(x1, f1), net(x2, f2)]), atol=1e-12, rtol=0)


@pytest.mark.parametrize("name", ["T(2)", "SE(2)", "SO(3)", "SE(3)"])
def test_second_derivatives_in_positions(name):
    """V is C^2 in the positions: Hamiltonian dynamics differentiates forces and trains through them."""
    G = lie.group(name)
    x, f = system(G, batch=1, n=3)
    net = model(name, width=8, nsamples=None if G.stabiliser.dim == 0 else 2)
    x.requires_grad_()
    assert gradcheck(lambda y: net(y, f), x)
    assert gradgradcheck(lambda y: net(y, f), x)
    (forces,) = torch.autograd.grad(net(x, f).sum(), x, create_graph=True)
    forces.square().sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


@pytest.mark.parametrize("name", ["SE(2)", "SE(3)"])
def test_float32_runs_and_is_nearly_invariant_for_translations(name):
    G = lie.group(name)
    x, f = system(G)
    net = lie.LieTransformer(name, in_features=2, width=16, depth=1, heads=2, nsamples=4, seed=0)
    x, f = x.float(), f.float()
    out = net(x, f)
    assert out.dtype == torch.float32 and out.shape == (2, 1)
    shift = torch.randn(2, 1, G.space_dim, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(net(x + shift, f), out, atol=1e-4, rtol=0)


def test_seed_reproducible_and_no_features():
    a, b = model("SE(2)", seed=3, in_features=0), model("SE(2)", seed=3, in_features=0)
    x, _ = system(lie.group("SE(2)"))
    torch.testing.assert_close(a(x), b(x), atol=0, rtol=0)
    assert not torch.allclose(model("SE(2)", seed=4, in_features=0)(x), a(x))


def test_random_lifting_and_monte_carlo_neighbourhoods_are_seeded():
    G = lie.group("SE(2)")
    x, f = system(G, n=8)
    net = model("SE(2)", lifting="random", neighbourhood="nearest", k=4, fill=0.5)

    def run(seed):
        return net(x, f, generator=torch.Generator().manual_seed(seed))

    torch.testing.assert_close(run(0), run(0), atol=0, rtol=0)
    assert not torch.allclose(run(0), run(1))


def test_bad_input_raises():
    net = model("SE(3)")
    x, f = system(lie.group("SE(3)"))
    with pytest.raises(ValueError, match=r"positions must be a float tensor \(B, n, 3\)"):
        net(x[..., :2], f)
    with pytest.raises(ValueError, match="features must have shape"):
        net(x, f[..., :1])
    with pytest.raises(ValueError, match="expects features"):
        net(x)
    with pytest.raises(ValueError, match="mask must be a bool tensor"):
        net(x, f, torch.ones(2, 5))
    with pytest.raises(ValueError, match="at least one unmasked particle"):
        net(x, f, torch.zeros(2, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="unknown combine 'max'; valid: sum, product, mlp"):
        model("SE(3)", combine="max")
    with pytest.raises(ValueError, match="unknown neighbourhood"):
        model("SE(3)", neighbourhood="knn")
    with pytest.raises(ValueError, match=r"T\(2\) has a trivial stabiliser.*nsamples=1"):
        model("T(2)", nsamples=4)
    with pytest.raises(ValueError, match="divisible by heads"):
        model("T(2)", width=10, heads=4)


def test_seed_leaves_global_rng_alone_and_no_seed_uses_it():
    torch.manual_seed(11)
    state = torch.random.get_rng_state()
    model("T(2)", seed=5)
    assert torch.equal(torch.random.get_rng_state(), state)
    a, b = model("T(2)", seed=None), model("T(2)", seed=None)
    assert not torch.equal(a.embedding.weight, b.embedding.weight)

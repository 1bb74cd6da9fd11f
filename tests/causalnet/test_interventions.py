import dataclasses

import pytest
import torch
from captum.attr import LayerFeatureAblation

from causalnet import interventions
from causalnet.errors import CausalnetInputError
from causalnet.interventions import Ablation, InterventionEngine, ablate_naive
from causalnet.units import UnsupportedModuleError, discover_units

from .toy import tiny_cnn_case


@pytest.fixture(scope="module")
def cnn():
    return tiny_cnn_case()


def test_discovery_finds_coupled_groups_and_flatten_offsets(cnn):
    model, units, _ = cnn
    names = [layer.name for layer in units]
    assert names == ["conv1", "conv3", "fc1"]  # conv1 and conv2 share the residual group
    assert units.layer("conv1").producers == ["conv1", "conv2"]
    fc_reader = units.layer("conv3").reader("fc1")
    assert [len(i) for i in fc_reader.index] == [16] * 8      # 4x4 features per channel
    assert fc_reader.index[2].tolist() == list(range(32, 48))
    assert units.output_layer == "fc2" and units.n_units == 6 + 8 + 12


@pytest.mark.parametrize("cache_prefix", [True, False])
@pytest.mark.parametrize("per_forward", [1, 3, "auto"])
def test_engine_equals_naive_loop(cnn, cache_prefix, per_forward):
    model, units, x = cnn
    engine = InterventionEngine(model, units, x, units_per_forward=per_forward,
                                cache_prefix=cache_prefix)
    for layer in units:
        out = engine.ablate(layer, range(layer.size))
        for u in range(layer.size):
            ref = ablate_naive(model, layer, u, x)
            torch.testing.assert_close(out[u], ref, atol=1e-5, rtol=1e-5)


def test_mean_ablation_equals_naive_with_the_mean(cnn):
    model, units, x = cnn
    engine = InterventionEngine(model, units, x, ablation=Ablation("mean"))
    layer = units.layer("conv3")
    mean = engine.means["fc1"]
    out = engine.ablate(layer, [0, 5])
    for k, u in enumerate([0, 5]):
        torch.testing.assert_close(out[k], ablate_naive(model, layer, u, x, value=mean), atol=1e-5, rtol=1e-5)


def test_replacement_is_what_the_intervention_writes(cnn):
    model, units, x = cnn
    reader = units.layer("conv3").reader("fc1")
    t = torch.randn(len(x), reader.in_size)
    zero = InterventionEngine(model, units, x).replacement(reader, t)
    assert torch.equal(zero.expand_as(t), torch.zeros_like(t))
    mean = InterventionEngine(model, units, x, ablation=Ablation("mean"))
    torch.testing.assert_close(mean.replacement(reader, t).expand_as(t),
                               mean.means["fc1"].expand_as(t))
    calls = []
    assert mean.cached("k", lambda: calls.append(1) or "v") == "v"
    assert mean.cached("k", lambda: calls.append(1) or "w") == "v" and calls == [1]


def test_engine_equals_captum_layer_feature_ablation(cnn):
    model, units, x = cnn
    layer = units.layer("conv3")                     # read by fc1 through a flatten
    engine = InterventionEngine(model, units, x)
    out = engine.ablate(layer, range(layer.size))
    target = 2
    ours = (engine.clean[:, target].unsqueeze(0) - out[:, :, target]).T   # (N, units)
    mask = torch.arange(8).repeat_interleave(16).view(1, 128)
    lfa = LayerFeatureAblation(model, model.fc1)
    attr = lfa.attribute(x, target=target, layer_mask=mask, attribute_to_layer_input=True,
                         layer_baselines=0.0)
    captum = attr.view(len(x), 8, 16)[:, :, 0]
    torch.testing.assert_close(ours, captum, atol=1e-5, rtol=1e-5)


def test_path_intervention_only_changes_the_spliced_outputs(cnn):
    model, units, x = cnn
    engine = InterventionEngine(model, units, x)
    layer = units.layer("fc1")
    cut_all = engine.ablate(layer, [3])[0]
    cut_one = engine.ablate(layer, [3], readers=["fc2"], splice={"fc2": torch.tensor([1])})[0]
    torch.testing.assert_close(cut_one[:, 1], cut_all[:, 1])
    for c in (0, 2, 3):
        torch.testing.assert_close(cut_one[:, c], engine.clean[:, c])


def test_soft_and_resample_are_seeded(cnn):
    model, units, x = cnn
    layer = units.layer("conv1")
    for mode in ("soft", "resample"):
        a = InterventionEngine(model, units, x, ablation=Ablation(mode, beta=0.3, seed=4)).ablate(layer, [1, 2])
        b = InterventionEngine(model, units, x, ablation=Ablation(mode, beta=0.3, seed=4)).ablate(layer, [1, 2])
        torch.testing.assert_close(a, b)
        assert not torch.allclose(a[0], InterventionEngine(model, units, x).ablate(layer, [1])[0])


def test_model_left_untouched_on_error(cnn):
    model, units, x = cnn
    before = {k: v.clone() for k, v in model.state_dict().items()}
    engine = InterventionEngine(model, units, x)
    with pytest.raises(IndexError):  # raised mid-forward, with hooks and cached prefix in place
        engine.ablate(units.layer("fc1"), [0, 1], splice={"fc2": torch.tensor([99])})
    engine.units_per_forward = 2
    with pytest.raises(IndexError):
        engine.ablate(units.layer("fc1"), [0, 1], splice={"fc2": torch.tensor([99])})
    for module in model.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks
        assert "forward" not in module.__dict__
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    torch.testing.assert_close(model(x), engine.clean)


def test_unsupported_module_is_named():
    model = torch.nn.Sequential(torch.nn.Conv1d(1, 4, 3), torch.nn.Flatten(), torch.nn.Linear(24, 2))
    with pytest.raises(UnsupportedModuleError, match=r"'0' \(Conv1d\).*supported kinds"):
        discover_units(model, torch.randn(1, 1, 8))


def test_unknown_intervention_is_a_clear_error():
    with pytest.raises(ValueError, match="zero, mean, resample, soft"):
        Ablation("banana")


def test_first_order_is_exact_where_the_suffix_is_linear():
    from causalnet.first_order import first_order_effects

    from .toy import hand_wired, hand_wired_data

    model = hand_wired()
    x, _ = hand_wired_data(10)
    units = discover_units(model, x[:1])
    layer = units.layer("1")
    for mode in ("zero", "mean"):
        engine = InterventionEngine(model, units, x, ablation=Ablation(mode))
        exact = engine.ablate(layer, range(6))[:, :, 2] - engine.clean[:, 2]
        est = first_order_effects(engine, layer, lambda lg: lg[:, 2], key=f"y2{mode}")
        torch.testing.assert_close(est, exact, atol=1e-5, rtol=1e-5)
        spliced = first_order_effects(engine, layer, lambda lg: lg[:, 2], readers=["3"],
                                      splice={"3": torch.tensor([0])}, key=f"y2{mode}")
        assert spliced.abs().max() == 0      # cut only towards logit 0: no effect on logit 2


@pytest.mark.parametrize("mode", ["soft", "resample", "mean", "predicted"])
def test_values_do_not_depend_on_units_per_forward(cnn, mode):
    """Soft values and resample donors are drawn per unit, so grouping units differently into
    forwards gives the same numbers (up to float rounding)."""
    model, units, x = cnn
    for name in ("conv1", "fc1"):
        layer = units.layer(name)
        idx = list(range(layer.size))
        outs = [InterventionEngine(model, units, x, ablation=Ablation(mode, beta=0.3, seed=4),
                                   units_per_forward=k).ablate(layer, idx) for k in (1, 3, "auto")]
        torch.testing.assert_close(outs[0], outs[1], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(outs[0], outs[2], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", ["soft", "resample"])
def test_first_order_estimate_is_exact_for_the_last_linear_reader(cnn, mode):
    """The gradient estimate uses the same per-unit values as the exact interventions; on a
    reader whose suffix is linear (fc1's only reader feeds the logits) it is exact."""
    from causalnet.first_order import first_order_effects

    model, units, x = cnn
    layer = units.layer("fc1")
    engine = InterventionEngine(model, units, x, ablation=Ablation(mode, beta=0.3, seed=4))
    est = first_order_effects(engine, layer, lambda lg: lg[:, 0], key="logit0")
    exact = engine.ablate(layer, list(range(layer.size)))[..., 0] - engine.clean[:, 0]
    torch.testing.assert_close(est, exact, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("layer_name,reader", [("conv3", "fc1"), ("fc1", "fc2")])
def test_path_intervention_by_subtraction_equals_the_recomputed_one(cnn, layer_name, reader):
    """One unit per forward corrects the reader's cached output (subtraction); three per forward
    recompute it: a path intervention gives the same logits either way."""
    model, units, x = cnn
    layer = units.layer(layer_name)
    splice = {reader: torch.tensor([0, 2])}
    one, three, auto = (InterventionEngine(model, units, x, units_per_forward=k).ablate(
        layer, range(layer.size), readers=[reader], splice=splice) for k in (1, 3, "auto"))
    torch.testing.assert_close(one, three, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(one, auto, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(one, InterventionEngine(model, units, x).clean.expand_as(one))


class _SkipOverReader(torch.nn.Module):
    """fc2 reads fc1's units, and the logits also read fc1's output directly (after fc2): the
    un-replicated prefix is read after the reader, so the engine must not skip replicating it."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(3)
        self.fc1 = torch.nn.Linear(6, 5)
        self.relu = torch.nn.ReLU()
        self.fc2 = torch.nn.Linear(5, 4)
        self.skip = torch.nn.Linear(5, 4)
        for p in self.parameters():
            p.data = torch.randn(p.shape, generator=g)

    def forward(self, x):
        h = self.relu(self.fc1(x))
        return self.fc2(h) + self.skip(h)


def test_many_units_per_forward_falls_back_when_the_prefix_is_read_later():
    model = _SkipOverReader()
    x = torch.randn(10, 6, generator=torch.Generator().manual_seed(0))
    units = discover_units(model, x[:1])
    layer = units.layer("fc1")
    for reader in ("fc2", "skip"):
        engine = InterventionEngine(model, units, x)
        out = engine.ablate(layer, range(layer.size), readers=[reader])
        only = dataclasses.replace(layer, readers=[layer.reader(reader)])
        for u in range(layer.size):
            torch.testing.assert_close(out[u], ablate_naive(model, only, u, x), atol=1e-5, rtol=1e-5)
        assert engine._untiled_failed == {reader}


def test_predicted_ablation_spares_a_unit_the_others_restore():
    """A unit that is an affine copy of another is fully predictable: replacing it by its
    prediction changes nothing, while mean ablation changes the output. An independent unit's
    prediction is about its mean."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 2))
    with torch.no_grad():  # hidden = (a, 2a + 1, b)
        net[0].weight.copy_(torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0]]))
        net[0].bias.copy_(torch.tensor([0.0, 1.0, 0.0]))
    x = torch.randn(200, 2)
    units = discover_units(net, x[:1])
    layer = units.layer("0")
    predicted = InterventionEngine(net, units, x, ablation=Ablation("predicted")).ablate(layer, [0, 1, 2])
    mean = InterventionEngine(net, units, x, ablation=Ablation("mean")).ablate(layer, [0, 1, 2])
    clean = net(x).detach()
    for u in (0, 1):
        torch.testing.assert_close(predicted[u], clean, atol=2e-2, rtol=0)
        assert (mean[u] - clean).abs().max() > 0.5
    assert (predicted[2] - mean[2]).abs().mean() < 0.02  # only the sample correlation of a and b


def test_unit_out_of_range_is_a_clear_error(cnn):
    model, units, x = cnn
    layer = units.layer("conv1")
    engine = InterventionEngine(model, units, x)
    with pytest.raises(ValueError, match=r"not in layer 'conv1', which has 6 units"):
        engine.ablate(layer, range(layer.size + 1))
    with pytest.raises(ValueError, match="not in layer"):
        engine.ablate(layer, [-1])


def _explicit_refit(net, reader, cols, x):
    """``reader`` of a copy of ``net`` re-solved by plain least squares (with intercept) on its
    input columns other than ``cols``: the lsq repair for one unit, written out."""
    import copy

    from causalnet.interventions import _columns

    seen = {}
    h = reader.register_forward_pre_hook(lambda m, a: seen.setdefault("x", a[0]))
    with torch.no_grad():
        net(x)
    h.remove()
    rows = _columns(reader, seen["x"]).double()
    w = reader.weight.reshape(reader.weight.shape[0], -1).double()
    target = rows @ w.T + reader.bias.double()
    keep = [j for j in range(rows.shape[1]) if j not in set(cols)]
    design = torch.cat([rows[:, keep], torch.ones(len(rows), 1, dtype=rows.dtype)], 1)
    sol = torch.linalg.lstsq(design, target).solution
    new = copy.deepcopy(net)
    module = dict(new.named_modules())[[n for n, m in net.named_modules() if m is reader][0]]
    weight = torch.zeros_like(w)
    weight[:, keep] = sol[:-1].T
    with torch.no_grad():
        module.weight.copy_(weight.reshape(module.weight.shape).float())
        module.bias.copy_(sol[-1].float())
    return new


def _conv_flatten_net() -> tuple[torch.nn.Module, torch.Tensor]:
    """Two convolutions, a flatten, two Linear layers, and 300 random 8x8 images."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(4, 6, 3, stride=2, padding=1), torch.nn.ReLU(),
        torch.nn.Flatten(), torch.nn.Linear(6 * 4 * 4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)).eval()
    return net, torch.randn(300, 1, 8, 8)


def test_refit_ablation_equals_removing_the_unit_and_re_solving_its_reader(monkeypatch):
    """``refit`` is the lsq repair of one unit in closed form: the same logits as a copy whose
    reader (a convolution over im2col patches, a Linear behind a flatten) is re-solved without
    the unit by an explicit least-squares fit on the same images."""
    net, x = _conv_flatten_net()
    monkeypatch.setattr(interventions, "LSQ_RIDGE", 0.0)   # plain least squares
    units = discover_units(net, x[:1])
    engine = InterventionEngine(net, units, x, ablation=Ablation("refit"))
    mean = InterventionEngine(net, units, x, ablation=Ablation("mean"))
    for name, reader, unit, cols in (("0", net[2], 1, list(range(9, 18))),
                                     ("2", net[5], 3, list(range(48, 64))),
                                     ("5", net[7], 2, [2])):
        layer = units.layer(name)
        got = engine.ablate(layer, [unit])[0]
        with torch.no_grad():
            want = _explicit_refit(net, reader, cols, x)(x)
        torch.testing.assert_close(got, want, atol=2e-3, rtol=1e-3)
        assert (mean.ablate(layer, [unit])[0] - got).abs().max() > 1e-5   # not mean ablation
    with pytest.raises(Exception, match="node intervention"):
        engine.ablate(units.layer("0"), [0], readers=["2"])


def test_refit_leaves_a_reader_with_too_few_rows_per_column_at_the_mean():
    """``refit_min_rows``: the Linear reader behind the flatten has 300 rows for 96 columns
    (3.1 per column) and reads the unit's mean at 4 rows per column; the convolution (300 x 16
    positions for 36 columns) is still re-solved."""
    net, x = _conv_flatten_net()
    units = discover_units(net, x[:1])
    every = InterventionEngine(net, units, x, ablation=Ablation("refit"))
    guarded = InterventionEngine(net, units, x, ablation=Ablation("refit", refit_min_rows=4))
    mean = InterventionEngine(net, units, x, ablation=Ablation("mean"))
    assert set(every.refits) - set(guarded.refits) == {"5"}
    conv, behind_flatten = units.layer("0"), units.layer("2")
    torch.testing.assert_close(guarded.ablate(conv, [1])[0], every.ablate(conv, [1])[0])
    torch.testing.assert_close(guarded.ablate(behind_flatten, [3])[0], mean.ablate(behind_flatten, [3])[0])
    with pytest.raises(CausalnetInputError, match="refit_min_rows"):
        Ablation("refit", refit_min_rows=-1)

"""Property-based fuzz of the checkpoint reader and the spec parsers (issue 17): every input
ends in a valid result or a CausalnetError, never another exception."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from causalnet.checkpoint import BuildCheckpoint, valid_class_entry, valid_global_entry
from causalnet.errors import CausalnetError
from causalnet.specs import option_value, parse_spec

from ..fuzz import JSON_VALUES, mutate_json

SPEC_TEXT = st.text(alphabet=st.sampled_from(list("abz019:?&=@./-_ %")), max_size=30) | st.text(max_size=20)


@settings(max_examples=300, deadline=None)
@given(text=SPEC_TEXT)
def test_parse_spec_gives_a_spec_or_a_spec_error(text):
    try:
        spec = parse_spec(text)
    except CausalnetError:
        return
    assert spec.kind and isinstance(spec.options, dict)
    for v in spec.options.values():
        option_value(v)


@settings(max_examples=150, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("digtsmnfahor:?&=@1x")), max_size=24))
def test_load_data_refuses_bad_specs_cleanly(text):
    from causalnet.data import load_data

    try:
        load_data(text)
    except CausalnetError:
        pass


@pytest.mark.parametrize("spec", ["digits?size=abc", "folder:/nonexistent?size=abc", "digits:val",
                                  "mnist?foo=1", "digits@x"])
def test_bad_dataset_specs_are_input_errors(spec):
    from causalnet.data import load_data

    with pytest.raises(CausalnetError):
        load_data(spec)


@pytest.mark.parametrize("spec", [".:1", "..x:f", "zoo:", "torchvision:", "x.:y"])
def test_odd_model_specs_are_spec_errors(spec):
    from causalnet.models import load_model

    with pytest.raises(CausalnetError):
        load_model(spec)


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("zotrchvisn:?&=@1x.")), max_size=24))
def test_load_model_refuses_bad_specs_cleanly(text):
    from causalnet.models import load_model

    try:
        load_model(text)
    except CausalnetError:
        pass


GOOD_GLOBAL = {"xi": [1.0, 0.5], "ci_low": [0.9, 0.4], "ci_high": [1.1, 0.6], "p": [0.5, 0.01],
               "mean_log_ratio": [0.0, -0.7], "class_effects": {"0": [0.0, -0.5]}, "n_calibration": 4,
               "exact": [True, True]}
GOOD_CLASS = {"n_samples": 3, "observed_mean": 2.0, "layers_tested": [{"layer": "1"}],
              "edges": [["1:0", "logit:0", 0.5, 0.1, 3.0, 0.001, "edge"]]}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_checkpoint_reader_never_crashes(tmp_path, data):
    state = {"version": 2, "key": "k", "global": {"1": json.loads(json.dumps(GOOD_GLOBAL))},
             "classes": {"0": json.loads(json.dumps(GOOD_CLASS))}}
    for _ in range(data.draw(st.integers(0, 3))):
        mutate_json(state, data)
    if data.draw(st.booleans()):
        state = data.draw(JSON_VALUES)
    path = tmp_path / "c.json"
    path.write_text(json.dumps(state, allow_nan=True))
    ckpt = BuildCheckpoint(path, "k")
    g = ckpt.get("global", "1", lambda e: valid_global_entry(e, 2))
    c = ckpt.get("classes", "0", lambda e: valid_class_entry(e, {"1:0", "1:1", "logit:0"}))
    assert g is None or valid_global_entry(g, 2)
    assert c is None or valid_class_entry(c, {"1:0", "1:1", "logit:0"})

"""Random model metadata, mutations of a real model file's: a built model or one ModelError
sentence, never another exception, never a hang; the model folder lists the good ones."""

from __future__ import annotations

import json
import warnings

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from safetensors.torch import save_file

from napari_mrisr.models import build_model
from napari_mrisr.zoo import ModelError, list_models, load_model, read_metadata, save_model

from .conftest import no_hang

pytestmark = pytest.mark.fuzz

json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=20),
    ),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)),
    max_leaves=20,
)


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """A tiny model's tensors and its file's metadata."""
    torch.manual_seed(0)
    model = build_model("edsr3d", (1, 2, 2), features=4, num_blocks=1)
    path = save_model(model, tmp_path_factory.mktemp("real") / "m.safetensors", {"name": "m"})
    return {k: v.contiguous() for k, v in model.state_dict().items()}, read_metadata(path)


@st.composite
def mutations(draw, meta):
    """The metadata with a few fields, at any depth, replaced, added or removed."""
    doc = json.loads(json.dumps(meta))
    for _ in range(draw(st.integers(1, 4))):
        node, path = doc, []
        while isinstance(node, dict) and node and draw(st.booleans()):
            key = draw(st.sampled_from(sorted(node)))
            if not isinstance(node[key], dict):
                break
            node, path = node[key], [*path, key]
        if not isinstance(node, dict):
            continue
        action = draw(st.sampled_from(["replace", "add", "delete"]))
        key = draw(st.sampled_from(sorted(node))) if node and action != "add" else draw(st.text(max_size=8))
        if action == "delete":
            node.pop(key, None)
        else:
            node[key] = draw(json_values)
    return doc


@given(data=st.data())
def test_mutated_metadata_gives_a_model_or_one_sentence(tmp_path_factory, monkeypatch, real, data):
    tensors, meta = real
    doc = data.draw(mutations(meta))
    folder = tmp_path_factory.mktemp("models")
    path = folder / "m.safetensors"
    save_file(tensors, path, metadata={"napari_mrisr": json.dumps(doc)})
    with no_hang(20):
        try:
            model = load_model(path)
        except ModelError as exc:
            assert str(exc) and "\n" not in str(exc)
        else:
            assert isinstance(model, torch.nn.Module)
        monkeypatch.setenv("NAPARI_MRISR_MODELS", str(folder))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            names = [info.name for info in list_models()]  # never raises: a bad file is skipped
    assert isinstance(names, list)
    assert [p.name for p in folder.iterdir()] == ["m.safetensors"]


@given(text=st.one_of(st.text(max_size=200), json_values.map(json.dumps)))
def test_any_metadata_text_gives_a_model_or_one_sentence(tmp_path_factory, real, text):
    tensors, _ = real
    path = tmp_path_factory.mktemp("text") / "m.safetensors"
    save_file(tensors, path, metadata={"napari_mrisr": text})
    with no_hang(20):
        try:
            load_model(path)
        except ModelError as exc:
            assert str(exc) and "\n" not in str(exc)

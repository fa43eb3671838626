"""Random training configs, mutations of a preset and random YAML: a config or one ConfigError
sentence before Lightning sees it, never another exception, never a hang."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from napari_mrisr.training.config import ConfigError, TrainConfig, load_config
from napari_mrisr.training.engine import _check_network_size

from .conftest import no_hang
from .test_model_metadata import json_values

pytestmark = pytest.mark.fuzz

PRESET = load_config("tiny").model_dump(mode="json")


@st.composite
def mutated_presets(draw):
    doc = yaml.safe_load(yaml.safe_dump(PRESET))
    for _ in range(draw(st.integers(1, 4))):
        section = draw(st.sampled_from(sorted(doc)))
        if isinstance(doc[section], dict) and doc[section] and draw(st.booleans()):
            key = draw(st.sampled_from(sorted(doc[section])))
            doc[section][key] = draw(json_values)
        else:
            doc[section] = draw(json_values)
    return doc


def check(path) -> None:
    with no_hang(20):
        try:
            config = load_config(path)
            _check_network_size(config)  # on the meta device: refuses what memory cannot hold
        except ConfigError as exc:
            assert str(exc) and "\n" not in str(exc)
        else:
            assert isinstance(config, TrainConfig)


@given(doc=mutated_presets())
def test_a_mutated_preset_gives_a_config_or_one_sentence(tmp_path_factory, doc):
    path = tmp_path_factory.mktemp("configs") / "c.yaml"
    try:
        path.write_text(yaml.safe_dump(doc))
    except (yaml.YAMLError, ValueError, OverflowError):  # not representable in YAML: nothing to test
        return
    check(path)


@given(text=st.text(alphabet=st.sampled_from(list("{}[]&*!:,- \n\tabc1.'\"|>#%@")), max_size=400))
def test_random_yaml_text_gives_a_config_or_one_sentence(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("yaml") / "c.yaml"
    path.write_text(text)
    check(path)

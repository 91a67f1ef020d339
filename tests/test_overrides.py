"""gan_jax.overrides.set_field: the one way to set a dotted config field (strings or values)."""

import pytest

from configs import default
from gan_jax import overrides


def test_strings_are_parsed_for_the_field_type_and_values_set_as_they_are():
  config = default.get_config()
  assert overrides.set_field(config, 'optim.g.adam.b1', '0') == 0.0
  assert isinstance(config.optim.g.adam.b1, float)
  assert overrides.set_field(config, 'model.mlp.g_hidden', '(8, 4)') == (8, 4)
  assert overrides.set_field(config, 'model.mlp.d_hidden', (16,)) == (16,)
  assert overrides.set_field(config, 'model.dcgan.d_normalization', 'layer') == 'layer'
  assert overrides.set_field(config, 'seed', 3) == 3 and config.seed == 3
  assert config.model.mlp.g_hidden == (8, 4) and config.model.dcgan.d_normalization == 'layer'


def test_wrong_paths_and_types_are_errors():
  config = default.get_config()
  with pytest.raises(KeyError, match=r"model.mlp has no 'g_depth'.*g_hidden"):
    overrides.set_field(config, 'model.mlp.g_depth', 2)
  with pytest.raises(TypeError):  # ml_collections' type check: a str field gets an int.
    overrides.set_field(config, 'model.name', 3)
  with pytest.raises(ValueError, match='boolean'):
    overrides.set_field(config, 'model.mlp.g_batch_norm', 'maybe')

"""Config overrides written as 'field=value' strings (recipe variants, sweeps).

`set_field(config, 'optim.g.lr', '1e-4')` parses the value for the type the field already
holds, the way `--config.optim.g.lr=1e-4` does on the command line, and names the fields
that exist when the path is wrong. `set_field(config, 'optim.g.lr', 1e-4)` (a value that is
not a string) sets it as it is, type-checked by ml_collections. It is the one way to set a
dotted field (variants, sweeps, tests).
"""

import ast
from typing import Any

import ml_collections


def parse_like(current: Any, value: str) -> Any:
  """Parses `value` (a Python literal, or a bare string) for a field holding `current`."""
  if isinstance(current, str):
    return value
  if isinstance(current, bool):
    if value.lower() not in ('1', 'true', 'yes', '0', 'false', 'no'):
      raise ValueError(f'{value!r} is not a boolean; use true or false.')
    return value.lower() in ('1', 'true', 'yes')
  try:
    parsed = ast.literal_eval(value)
  except (ValueError, SyntaxError) as e:
    if current is None:
      return value  # A field without a value yet takes a bare string as it is.
    raise ValueError(f'{value!r} is not a {type(current).__name__} literal.') from e
  if isinstance(current, (tuple, list)) and not isinstance(parsed, (tuple, list)):
    return (parsed,)
  if isinstance(current, float) and isinstance(parsed, int):
    return float(parsed)
  return parsed


def get_field(config: ml_collections.ConfigDict, path: str) -> Any:
  """The value at dotted `path`; a wrong path is an error listing the fields at that level."""
  node = config
  parts = path.split('.')
  for depth, part in enumerate(parts):
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      where = '.'.join(parts[:depth]) or 'the top level'
      choices = sorted(node.keys()) if isinstance(node, ml_collections.ConfigDict) else []
      raise KeyError(f'No config field {path!r}: {where} has no {part!r}'
                     + (f'; its fields are {", ".join(choices)}.' if choices else '.'))
    node = node[part]
  return node


def set_field(config: ml_collections.ConfigDict, path: str, value: Any) -> Any:
  """Sets the existing field at dotted `path` to `value`; returns the value set.

  A string is parsed for the type the field holds (`parse_like`); any other value is set as
  it is (ml_collections checks its type).
  """
  *parents, leaf = path.split('.')
  parent = get_field(config, '.'.join(parents)) if parents else config
  current = get_field(config, path)
  parsed = parse_like(current, value) if isinstance(value, str) else value
  parent[leaf] = parsed
  return parsed

"""Hyperparameter sweeps: a grid of config overrides, one run directory per trial.

A sweep is the cartesian product of axes ('optim.g.lr=1e-4,2e-4', 'loss.name=hinge,...')
and seeds. Each trial is an ordinary run in `<sweep dir>/<trial name>`, so it resumes,
checkpoints and logs like any run; a trial whose checkpoint already reached
`num_train_steps` is not run again. `summarize` reads every trial's metrics.jsonl into one
table (sweep.csv), sorted by a metric, and plots the trials' curves on shared axes.

The launcher is launch/sweep.py. Nothing here touches a device: the sweep's parent process
on a multi-GPU host only starts trials in subprocesses and must leave the GPUs to them.
"""

import csv
import dataclasses
import itertools
import math
import os
import re
import traceback
from typing import Callable, Optional, Sequence

import ml_collections

from gan_jax import overrides

STATUSES = ('finished', 'failed', 'interrupted', 'not run')


@dataclasses.dataclass(frozen=True)
class Trial:
  """One point of the grid: `overrides` are (dotted field, value string) pairs."""
  name: str
  overrides: tuple[tuple[str, str], ...]


def parse_axis(spec: str) -> tuple[str, list[str]]:
  """'optim.g.lr=1e-4,2e-4' -> ('optim.g.lr', ['1e-4', '2e-4']).

  Values are separated by commas, or by semicolons when a value itself holds commas
  ('model.some_tuple=(1,2);(3,4)').
  """
  field, sep, values = spec.partition('=')
  field = field.strip()
  if not sep or not field or not values.strip():
    raise ValueError(f'Bad sweep axis {spec!r}: write FIELD=V1,V2,... '
                     "(e.g. --sweep=optim.g.lr=1e-4,2e-4), or separate values with ';' when "
                     'they contain commas.')
  items = [v.strip() for v in values.split(';' if ';' in values else ',')]
  if any(not v for v in items):
    raise ValueError(f'Empty value in sweep axis {spec!r}.')
  if len(set(items)) != len(items):
    raise ValueError(f'Repeated value in sweep axis {spec!r}.')
  return field, items


def _dirname(text: str) -> str:
  return re.sub(r'[^A-Za-z0-9._=+-]', '_', text)


def expand(axes: Sequence[tuple[str, Sequence[str]]],
           seeds: Sequence[int] = ()) -> list[Trial]:
  """The trials of the grid, the last axis varying fastest, seeds fastest of all.

  A trial's name is its overrides joined with '_' (e.g. 'optim.g.lr=1e-4_seed=1'); names
  are also its directory names, so characters other than letters, digits and '._=+-'
  become '_'.
  """
  fields = [f for f, _ in axes]
  if 'seed' in fields and seeds:
    raise ValueError("Sweep 'seed' either as an axis or with --seeds, not both.")
  repeated = sorted({f for f in fields if fields.count(f) > 1})
  if repeated:
    raise ValueError(f'Field(s) swept twice: {", ".join(repeated)}; give each one axis.')
  axes = list(axes) + ([('seed', [str(s) for s in seeds])] if seeds else [])
  trials, names = [], set()
  for values in itertools.product(*[v for _, v in axes]):
    pairs = tuple((f, v) for (f, _), v in zip(axes, values))
    name = _dirname('_'.join(f'{f}={v}' for f, v in pairs)) or 'base'
    if name in names:
      raise ValueError(f'Two trials would share the directory {name!r}; use values that '
                       'differ in letters, digits or ._=+-.')
    names.add(name)
    trials.append(Trial(name, pairs))
  return trials


def as_population(axes: Sequence[tuple[str, Sequence[str]]], seeds: Sequence[int] = (),
                  population_fields: Sequence[str] = ()) -> tuple[list, tuple]:
  """Moves the sweep's numerical axes (`population_fields`: gan_jax.population's
  POPULATION_FIELDS) and seeds into one population per point of the other axes.

  Returns (the other axes, the population's overrides: size, hparams listing every
  combination of the moved axes' values, one member per combination and seed, and seeds).
  """
  inside = [(f, v) for f, v in axes if f in population_fields]
  outside = [(f, v) for f, v in axes if f not in population_fields]
  if not inside and not seeds:
    raise ValueError('--population moves the numerical axes ('
                     + ', '.join(sorted(population_fields)) + ') and --seeds into one run; '
                     'this sweep has none of them.')
  combos = list(itertools.product(*[v for _, v in inside])) or [()]
  seeds = list(seeds) or [None]
  members = [(c, s) for c in combos for s in seeds]
  spec = ' '.join(f'{f}=' + ','.join(c[j] for c, _ in members) for j, (f, _) in
                  enumerate(inside))
  pairs = [('population.size', str(len(members))), ('population.hparams', spec)]
  if seeds != [None]:
    pairs.append(('population.seeds', ','.join(str(s) for _, s in members)))
  return outside, tuple(pairs)


def with_overrides(trials: Sequence[Trial], pairs: tuple) -> list[Trial]:
  """The trials with `pairs` appended to their overrides (names unchanged; 'base' becomes
  'population')."""
  return [Trial('population' if t.name == 'base' else t.name, t.overrides + pairs)
          for t in trials]


def trial_config(base: ml_collections.ConfigDict, trial: Trial) -> ml_collections.ConfigDict:
  """A copy of `base` with the trial's overrides applied (types as on the command line)."""
  config = base.copy_and_resolve_references()
  for field, value in trial.overrides:
    try:
      overrides.set_field(config, field, value)
    except (KeyError, ValueError, TypeError) as e:
      message = e.args[0] if isinstance(e, KeyError) and e.args else e  # No repr quotes.
      raise ValueError(f'Sweep value {field}={value}: {message}') from e
  return config


def check(base: ml_collections.ConfigDict, trials: Sequence[Trial]) -> None:
  """Builds every trial's config up front, so a typo fails before any training."""
  for trial in trials:
    trial_config(base, trial)


def saved_step(trial_dir: str) -> Optional[int]:
  """The latest committed checkpoint step of a run directory (None if it has none).

  Reads the directory listing only: it neither creates a checkpoint manager nor
  initializes a JAX backend.
  """
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  from etils import epath  # pylint: disable=g-import-not-at-top
  directory = epath.Path(trial_dir) / 'checkpoints'
  if not directory.exists():
    return None
  steps = ocp.utils.checkpoint_steps(directory)
  return max(steps) if steps else None


def is_finished(base: ml_collections.ConfigDict, trial: Trial, sweep_dir: str) -> bool:
  """Whether the trial's checkpoint has reached its num_train_steps."""
  step = saved_step(os.path.join(sweep_dir, trial.name))
  return step is not None and step >= trial_config(base, trial).num_train_steps


def run_in_process(base: ml_collections.ConfigDict, trials: Sequence[Trial], sweep_dir: str,
                   train_fn: Callable[[ml_collections.ConfigDict, str], dict],
                   log: Callable[[str], None] = print,
                   keep_going: bool = True) -> dict[str, dict]:
  """Runs the trials one after another in this process; returns {name: outcome}.

  An outcome is {'status': one of STATUSES, 'error': text}. A trial that raises is
  recorded as failed and the sweep goes on (`keep_going`), except that the sweep stops when
  a trial ends early without an error (it received SIGTERM and saved a checkpoint):
  re-running the same command resumes it.
  """
  outcomes = {t.name: {'status': 'not run', 'error': ''} for t in trials}
  for i, trial in enumerate(trials, 1):
    if is_finished(base, trial, sweep_dir):
      log(f'[{i}/{len(trials)}] {trial.name}: already finished, not run again.')
      outcomes[trial.name]['status'] = 'finished'
      continue
    log(f'[{i}/{len(trials)}] {trial.name}')
    try:
      train_fn(trial_config(base, trial), os.path.join(sweep_dir, trial.name))
    except Exception as e:  # pylint: disable=broad-except
      outcomes[trial.name] = {'status': 'failed', 'error': f'{type(e).__name__}: {e}'}
      log(traceback.format_exc().rstrip())
      log(f'[{i}/{len(trials)}] {trial.name} failed: {type(e).__name__}: {e}')
      if not keep_going:
        raise
      continue
    if is_finished(base, trial, sweep_dir):
      outcomes[trial.name]['status'] = 'finished'
    else:
      outcomes[trial.name]['status'] = 'interrupted'
      log(f'{trial.name} stopped early; the sweep stops here. Re-run the same command to '
          'resume it and the trials after it.')
      break
  return outcomes


def _last_values(metrics_path: str) -> dict:
  """The last value of every scalar in a metrics.jsonl (training rows and eval/... rows)."""
  from gan_jax import plots  # pylint: disable=g-import-not-at-top
  out = {}
  if os.path.exists(metrics_path):
    for row in plots.read_jsonl(metrics_path):
      out.update({k: v for k, v in row.items() if k != 'wall_time'})
  return out


def sort_key(spec: str):
  """'eval/fid' sorts ascending, '-eval/is_mean' descending; missing or NaN values last."""
  key, sign = (spec[1:], -1.0) if spec.startswith('-') else (spec, 1.0)

  def order(row):
    value = row.get(key)
    missing = not isinstance(value, (int, float)) or math.isnan(value)
    return (missing, 0.0 if missing else sign * value)
  return key, order


def _member_rows(trial_dir: str, table: str, row: dict, saved: Optional[int],
                 fields: list) -> list[dict]:
  """A population trial's members as sweep rows (their hyperparameters as axis values)."""
  out = []
  with open(table) as f:
    for member in csv.DictReader(f):
      m = int(member['member'])
      values = {'member': m, 'seed': member.get('seed', '')}
      for k, v in member.items():
        if k.count('.') >= 1 and not k.startswith('eval/'):
          values[k] = v
          if k not in fields:
            fields.append(k)
      r = dict(row, trial=f'{row["trial"]}/member_{m}', **values)
      r.update(_last_values(os.path.join(trial_dir, 'members', f'member_{m}', 'metrics.jsonl')))
      r['step'] = max(r.get('step', -1), saved if saved is not None else -1)
      out.append(r)
  if 'seed' not in fields:
    fields.append('seed')
  return out


def summarize(trials: Sequence[Trial], outcomes: dict[str, dict], sweep_dir: str,
              sort_by: str = '', curve_keys: Sequence[str] = ('d_loss', 'g_loss')) -> str:
  """Writes sweep.csv (one row per trial: overrides, status, the last value of every
  logged scalar) and sweep_curves.png; returns the table as text for the console."""
  from gan_jax import plots  # pylint: disable=g-import-not-at-top
  rows = []
  fields = [f for f, _ in trials[0].overrides if not f.startswith('population.')] \
      if trials else []
  for trial in trials:
    trial_dir = os.path.join(sweep_dir, trial.name)
    overrides_ = {f: v for f, v in trial.overrides if not f.startswith('population.')}
    row = {'trial': trial.name, **overrides_, **outcomes[trial.name]}
    saved = saved_step(trial_dir)  # An interrupted trial may have saved after its last log.
    table = os.path.join(trial_dir, 'population.csv')
    if os.path.exists(table):  # A population: one row per member, as separate trials.
      rows.extend(_member_rows(trial_dir, table, row, saved, fields))
      continue
    row.update(_last_values(os.path.join(trial_dir, 'metrics.jsonl')))
    if saved is not None and saved > row.get('step', -1):
      row['step'] = saved
    rows.append(row)
  if sort_by:
    key, order = sort_key(sort_by)
    if not any(isinstance(r.get(key), (int, float)) for r in rows):
      raise ValueError(f'No trial logged {key!r}; choose a logged metric (e.g. d_loss, or '
                       'eval/fid with --config.eval_every set).')
    rows.sort(key=order)
  head = ['trial', *fields, 'status', 'step']
  metrics = sorted({k for r in rows for k in r} - set(head) - {'error'})
  os.makedirs(sweep_dir, exist_ok=True)
  with open(os.path.join(sweep_dir, 'sweep.csv'), 'w', newline='') as f:
    writer = csv.DictWriter(f, head + metrics + ['error'], restval='')
    writer.writeheader()
    writer.writerows(rows)

  shown = [k for k in ([sort_by.lstrip('-')] if sort_by else []) + list(curve_keys) +
           [k for k in metrics if k.startswith('eval/')] if k in metrics]
  shown = list(dict.fromkeys(shown))
  cell = lambda v: f'{v:.4g}' if isinstance(v, float) else str(v)
  table = [head[1:] + shown] + [[cell(r.get(k, '')) for k in head[1:] + shown] for r in rows]
  widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
  text = '\n'.join('  '.join(c.ljust(w) for c, w in zip(line, widths)).rstrip()
                   for line in table)

  runs = {r['trial']: os.path.join(sweep_dir, r['trial'].replace('/member_', '/members/member_'),
                                   'metrics.jsonl') for r in rows}
  runs = {name: path for name, path in runs.items() if os.path.exists(path)}
  if runs and shown:
    plots.plot_runs(runs, os.path.join(sweep_dir, 'sweep_curves.png'), shown)
  return text

"""Static figures written as PNG: real-vs-generated scatter plots for 2-D data, and
training curves from a run's JSON-lines metrics file.

Uses matplotlib's object API (`Figure` + Agg canvas), so importing this module never changes
the global pyplot backend and works without a display.
"""

import json
import math
import os
from typing import Mapping, Optional, Sequence

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def _save(fig: Figure, path: str):
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  FigureCanvasAgg(fig)
  fig.savefig(path, format='png', dpi=100)


def scatter_real_vs_fake(real, fake, path: str, title: Optional[str] = None,
                         modes=None) -> str:
  """Scatter of real (N, 2) and generated (K, 2) points, optional mode centres; writes PNG."""
  real, fake = np.asarray(real), np.asarray(fake)
  for name, a in (('real', real), ('fake', fake)):
    if a.ndim != 2 or a.shape[1] != 2:
      raise ValueError(f'scatter_real_vs_fake needs 2-D points (N, 2); {name} has shape '
                       f'{a.shape}.')
  fig = Figure(figsize=(5, 5))
  ax = fig.add_subplot(1, 1, 1)
  ax.scatter(fake[:, 0], fake[:, 1], s=4, alpha=0.5, c='tab:orange', label='generated')
  ax.scatter(real[:, 0], real[:, 1], s=4, alpha=0.5, c='tab:blue', label='real')
  if modes is not None:
    modes = np.asarray(modes)
    ax.scatter(modes[:, 0], modes[:, 1], s=12, marker='+', linewidths=0.6, c='black',
               label='modes')
  ax.set_aspect('equal', adjustable='datalim')
  ax.legend(loc='upper right', markerscale=3)
  if title:
    ax.set_title(title)
  fig.tight_layout()
  _save(fig, path)
  return path


def read_jsonl(path: str) -> list[dict]:
  """Rows of a JSON-lines file (blank lines skipped); a bad line is an error naming it."""
  if not os.path.exists(path):
    raise FileNotFoundError(f'No metrics file at {path}; train first or pass the workdir\'s '
                            'metrics .jsonl file.')
  rows = []
  with open(path) as f:
    for number, line in enumerate(f, 1):
      if line.strip():
        try:
          rows.append(json.loads(line))
        except json.JSONDecodeError as e:
          raise ValueError(f'{path}:{number} is not valid JSON: {e}') from e
  return rows


def _is_scalar(v) -> bool:
  return isinstance(v, (int, float)) and not isinstance(v, bool)


def plot_training_curves(metrics_jsonl_path: str, out_png: str,
                         keys: Optional[Sequence[str]] = None) -> str:
  """One subplot per metric key against 'step'; keys=None plots every scalar key."""
  return plot_runs({'': metrics_jsonl_path}, out_png, keys)


def plot_runs(runs: Mapping[str, str], out_png: str,
              keys: Optional[Sequence[str]] = None) -> str:
  """One subplot per metric key against 'step', one line per run ({label: metrics.jsonl}).

  keys=None plots every scalar key any run logged; a key no run logged is an error. A run
  without a key is left out of that subplot. Labels '' draw no legend.
  """
  data = {label: [r for r in read_jsonl(path) if _is_scalar(r.get('step'))]
          for label, path in runs.items()}
  available = sorted({k for rows in data.values() for r in rows for k, v in r.items()
                      if k != 'step' and _is_scalar(v)})
  if keys is None:
    keys = available
  missing = [k for k in keys if k not in available]
  if missing or not keys:
    raise ValueError(f'No scalar values for {missing or "any key"} in '
                     f'{", ".join(runs.values())}; available: {available}.')
  cols = min(2, len(keys))
  nrows = math.ceil(len(keys) / cols)
  fig = Figure(figsize=(5 * cols, 3 * nrows))
  for i, key in enumerate(keys):
    ax = fig.add_subplot(nrows, cols, i + 1)
    for label, rows in data.items():
      points = [(r['step'], r[key]) for r in rows if _is_scalar(r.get(key))]
      if points:
        steps, values = zip(*points)
        ax.plot(steps, values, lw=1, label=label or None)
    ax.set_title(key)
    ax.set_xlabel('step')
    ax.grid(alpha=0.3)
    if any(runs) and i == 0:
      ax.legend(fontsize='x-small')
  fig.tight_layout()
  _save(fig, out_png)
  return out_png


def scatter_panels(real, fakes: Sequence, path: str, titles: Sequence[str]) -> str:
  """One panel per generated point set (a population's members) over the same real points."""
  real = np.asarray(real)
  cols = min(4, len(fakes))
  rows = math.ceil(len(fakes) / cols)
  fig = Figure(figsize=(3 * cols, 3 * rows))
  for i, (fake, title) in enumerate(zip(fakes, titles)):
    fake = np.asarray(fake)
    ax = fig.add_subplot(rows, cols, i + 1)
    ax.scatter(real[:, 0], real[:, 1], s=2, alpha=0.3, c='tab:blue')
    ax.scatter(fake[:, 0], fake[:, 1], s=2, alpha=0.5, c='tab:orange')
    ax.set_aspect('equal', adjustable='datalim')
    ax.set_title(title, fontsize='small')
    ax.set_xticks([])
    ax.set_yticks([])
  fig.tight_layout()
  _save(fig, path)
  return path


def plot_lineage(rows: Sequence[dict], path: str) -> str:
  """PBT lineage (rows of lineage.jsonl: step, member, parent, hparams; every member at
  every round): one panel per hyperparameter (log scale), each member's value over steps. A
  member that copied another at a round jumps there from its parent's previous value (dashed),
  so the lines show descent."""
  fields = sorted({f for r in rows for f in r['hparams']})
  members = sorted({r['member'] for r in rows})
  value_at = {(r['step'], r['member']): r['hparams'] for r in rows}
  cmap = matplotlib.colormaps['tab10']
  fig = Figure(figsize=(6, 2.6 * max(len(fields), 1)))
  for j, field in enumerate(fields):
    ax = fig.add_subplot(len(fields), 1, j + 1)
    for m in members:
      points = sorted((r['step'], r['hparams'][field], r['parent']) for r in rows
                      if r['member'] == m)
      color = cmap(m % 10)
      for (s0, v0, _), (s1, v1, parent) in zip(points, points[1:]):
        ax.plot([s0, s1], [v0, v0], color=color, lw=1.2)
        source = value_at.get((s0, parent), {}).get(field, v0)
        ax.plot([s1, s1], [source, v1], color=color, lw=0.8 if parent != m else 1.2,
                ls='--' if parent != m else '-')
      ax.plot([points[-1][0]], [points[-1][1]], 'o', color=color, ms=3, label=f'member {m}')
    ax.set_yscale('log')
    ax.set_title(field, fontsize='small')
    ax.set_xlabel('step')
    ax.grid(alpha=0.3)
    if j == 0:
      ax.legend(fontsize='xx-small', ncol=4)
  fig.tight_layout()
  _save(fig, path)
  return path

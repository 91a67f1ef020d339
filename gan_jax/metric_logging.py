"""Training metrics: JSON lines, TensorBoard events (tensorboardX, no TensorFlow), console.

Only process 0 writes (`enabled=False` elsewhere).
"""

import json
import logging
import os
import time

import numpy as np


class MetricWriter:
  """Writes one JSON object per logged step to metrics.jsonl and TensorBoard scalars."""

  def __init__(self, workdir: str, enabled: bool = True):
    self.enabled = enabled
    self.path = os.path.join(workdir, 'metrics.jsonl')
    self._tb = None
    if enabled:
      os.makedirs(workdir, exist_ok=True)
      from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
      self._tb = SummaryWriter(os.path.join(workdir, 'tensorboard'))

  def write(self, step: int, scalars: dict) -> dict:
    row = {'step': int(step), 'wall_time': time.time()}
    row.update({k: float(np.asarray(v)) for k, v in scalars.items()})
    if self.enabled:
      with open(self.path, 'a') as f:
        f.write(json.dumps(row) + '\n')
      for k, v in row.items():
        if k not in ('step', 'wall_time'):
          self._tb.add_scalar(k, v, step)
      self._tb.flush()
    return row

  def close(self):
    if self._tb is not None:
      self._tb.close()


def progress_line(step: int, total: int, steps_per_sec: float, scalars: dict) -> str:
  """'step 100/5000 (2%) 12.3 steps/s ETA 6m38s d_loss=1.23 g_loss=0.98'."""
  remaining = (total - step) / steps_per_sec if steps_per_sec > 0 else float('inf')
  eta = 'unknown' if not np.isfinite(remaining) else (
      f'{int(remaining // 3600)}h{int(remaining % 3600 // 60):02d}m' if remaining >= 3600 else
      f'{int(remaining // 60)}m{int(remaining % 60):02d}s')
  shown = ' '.join(f'{k}={v:.4g}' for k, v in scalars.items()
                   if k in ('d_loss', 'g_loss', 'd_real_prob', 'd_fake_prob', 'penalty',
                            'wasserstein_estimate'))
  return (f'step {step}/{total} ({100 * step / max(total, 1):.0f}%) '
          f'{steps_per_sec:.2f} steps/s ETA {eta} {shown}')


def log(msg: str):
  """Prints on process 0 only (every process logs through absl)."""
  import jax  # pylint: disable=g-import-not-at-top
  logging.info(msg)
  if jax.process_index() == 0:
    print(msg, flush=True)

"""Batches for training: deterministic, sharded per host, resumable by step.

The batch for step s is a pure function of (seed, s): examples are drawn from a grain
`MapDataset` that is shuffled with `seed` and reshuffled every epoch, at global positions
[s * B * n_critic, (s + 1) * B * n_critic). Resuming at step s therefore continues exactly
where the interrupted run stopped, with no iterator state to save. Process p of P loads
its contiguous slice of every critic chunk, so hosts never read the same example.
"""

from typing import Iterator

import grain
import numpy as np

from gan_jax.data.sources import Source


def check_batch_size(global_batch: int, num_devices: int, num_processes: int = 1):
  if global_batch % num_devices:
    raise ValueError(
        f'batch_size={global_batch} is not divisible by the {num_devices} devices in use. '
        f'Set --config.batch_size to a multiple of {num_devices}.')
  if global_batch % num_processes:
    raise ValueError(f'batch_size={global_batch} is not divisible by the {num_processes} '
                     'processes (hosts).')


def batch_for_step(examples, step: int, global_batch: int, n_critic: int,
                   process_index: int = 0, process_count: int = 1) -> dict:
  """The local (this process's) part of step `step`'s batch, as numpy arrays.

  Shapes: (B_local, ...) when n_critic == 1, else (n_critic, B_local, ...).
  """
  local = global_batch // process_count
  base = step * global_batch * n_critic
  items = [examples[base + i * global_batch + process_index * local + j]
           for i in range(n_critic) for j in range(local)]
  batch = {k: np.stack([it[k] for it in items]) for k in items[0]}  # Every key of an example.
  if n_critic > 1:
    batch = {k: v.reshape(n_critic, local, *v.shape[1:]) for k, v in batch.items()}
  return batch


def batches(source: Source, *, global_batch: int, n_critic: int, seed: int, start_step: int,
            num_steps: int, process_index: int = 0, process_count: int = 1,
            num_threads: int = 4, prefetch: int = 8) -> Iterator[dict]:
  """Yields local batches for steps start_step .. num_steps - 1 (prefetched in threads)."""
  if len(source) == 0:
    raise ValueError(f'Dataset {source.description} is empty.')
  examples = grain.MapDataset.source(source).shuffle(seed=seed).repeat()
  steps = grain.MapDataset.range(start_step, num_steps).map(
      lambda s: batch_for_step(examples, s, global_batch, n_critic, process_index,
                               process_count))
  return iter(steps.to_iter_dataset(
      grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=prefetch)))

"""Runs the per-device train step on many devices: `jax.pmap`, or `jax.jit` + `shard_map`.

Both wrap the same `train_step` (gan_jax.train_step), whose gradients, metrics and
BatchNorm statistics are reduced with collectives over the axis `AXIS`, so both give the
same numbers as the single-device step on the same global batch.

- 'pmap' (default): the state is replicated with a leading device axis over this host's
  devices; each host feeds its local batch.
- 'shard_map': one `jax.sharding.Mesh` over all devices of all hosts; the state is a
  replicated global array, the batch is sharded along `AXIS`. `check_vma=False` keeps
  pmap's semantics, in which gradients of replicated parameters are per-device and the
  step reduces them explicitly with `lax.pmean` (with the check on, shard_map would already
  sum them and the step's pmean would see a sum).
- 'none': plain `jax.jit` on one device.
The train state is donated to the step, so its buffers are reused in place.

A population (gan_jax.population) runs the vmapped member step in place of `train_step`: the
member axis is inside the device axis (state (devices, K, ...) under pmap), the batch is
(K, [n_critic,] B, ...) and the step's key is the members' keys (K,).
"""

import dataclasses
from typing import Any, Callable

import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from gan_jax import data, models
from gan_jax import train_step as train_step_lib

AXIS = 'batch'
MODES = ('pmap', 'shard_map', 'none')


@dataclasses.dataclass
class ParallelTrainer:
  """A compiled train step plus the functions that move state and data to its devices."""

  mode: str
  num_devices: int
  step: Callable[[Any, Any, jax.Array], tuple[Any, dict]]
  put_state: Callable[[Any], Any]
  put_batch: Callable[[dict], Any]
  host_state: Callable[[Any], Any]     # device state -> one unreplicated host-local copy
  host_metrics: Callable[[dict], dict]


def _split_local(batch: dict, num_local: int, batch_axis: int) -> dict:
  """(B, ...) -> (devices, B/devices, ...); with leading axes before the batch axis (the
  members, n_critic), (..., B, ...) -> (devices, ..., B/devices, ...)."""
  def split(x):
    b = x.shape[batch_axis]
    x = x.reshape(*x.shape[:batch_axis], num_local, b // num_local, *x.shape[batch_axis + 1:])
    return np.moveaxis(x, batch_axis, 0)
  return {k: split(v) for k, v in batch.items()}


def _stacked(tree, sharding: NamedSharding, num: int, broadcast: bool):
  """Puts host arrays with a leading per-device axis on the devices (pmap layout)."""
  def put(x):
    x = np.asarray(x)
    if broadcast:
      x = np.broadcast_to(x[None], (num, *x.shape))
    return jax.device_put(x, sharding)
  return jax.tree_util.tree_map(put, tree)


def _first_local_replica(x: jax.Array) -> jax.Array:
  """This host's first replica of a pmap output, read without any cross-host computation.

  `x[0]` would be a gather over a global array whose first row may live on another host: a
  program every host must run in step, which hung two-process pmap runs at the first
  checkpoint. Every replica holds the same (pmean-ed) values, so the local one is as good.
  """
  shard = x.addressable_data(0)
  # PmapSharding shards drop the mapped axis; a NamedSharding shard keeps it with size 1.
  return shard[0] if shard.ndim == x.ndim else shard


def build_trainer(config: ml_collections.ConfigDict, networks: models.Networks) -> ParallelTrainer:
  from gan_jax import population  # pylint: disable=g-import-not-at-top (population -> train_step)
  mode = config.parallel
  n_critic = int(config.d_steps_per_g_step)
  members = population.enabled(config)
  make_step = population.make_population_step if members else train_step_lib.make_train_step
  batch_axis = int(members) + int(n_critic > 1)  # Axes before the batch axis.
  if mode not in MODES:
    raise ValueError(f'Unknown parallel mode {mode!r}; choose one of {MODES}.')
  if mode == 'none':
    data.check_batch_size(config.batch_size, 1, jax.process_count())
    step = jax.jit(make_step(config, networks), donate_argnums=0)
    return ParallelTrainer(mode, 1, step, jax.device_put, jax.device_put, lambda s: s,
                           lambda m: m)
  if mode == 'pmap':
    devices = jax.local_devices()
    data.check_batch_size(config.batch_size, len(devices) * jax.process_count(),
                          jax.process_count())
    # No `devices=`: pmap then maps over this host's devices while its collectives span the
    # devices of all hosts (with `devices=jax.local_devices()` they would stay on one host).
    step = jax.pmap(make_step(config, networks, axis_name=AXIS),
                    axis_name=AXIS, in_axes=(0, 0, None), donate_argnums=0)
    first = lambda tree: jax.tree_util.tree_map(_first_local_replica, tree)
    stacked = NamedSharding(Mesh(np.asarray(devices), (AXIS,)), P(AXIS))
    n = len(devices)
    return ParallelTrainer(
        mode, n * jax.process_count(), step,
        put_state=lambda s: _stacked(jax.device_get(s), stacked, n, broadcast=True),
        put_batch=lambda b: _stacked(_split_local(b, n, batch_axis), stacked, n,
                                     broadcast=False),
        host_state=first, host_metrics=first)
  # shard_map over a global mesh.
  devices = jax.devices()
  data.check_batch_size(config.batch_size, len(devices), jax.process_count())
  mesh = Mesh(np.asarray(devices), (AXIS,))
  batch_spec = P(*([None] * batch_axis), AXIS)
  sharded = jax.shard_map(
      make_step(config, networks, axis_name=AXIS), mesh=mesh,
      in_specs=(P(), batch_spec, P()), out_specs=(P(), P()), check_vma=False)
  replicated = NamedSharding(mesh, P())
  batch_sharding = NamedSharding(mesh, batch_spec)
  return ParallelTrainer(
      mode, len(devices), jax.jit(sharded, donate_argnums=0),
      put_state=lambda s: jax.tree_util.tree_map(
          lambda x: jax.make_array_from_process_local_data(replicated, np.asarray(x)), s),
      put_batch=lambda b: jax.tree_util.tree_map(
          lambda x: jax.make_array_from_process_local_data(batch_sharding, x), b),
      host_state=lambda s: jax.tree_util.tree_map(lambda x: x.addressable_data(0), s),
      host_metrics=lambda m: jax.tree_util.tree_map(lambda x: x.addressable_data(0), m))

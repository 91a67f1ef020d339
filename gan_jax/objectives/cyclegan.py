"""CycleGAN (Zhu et al. 2017): unpaired translation between domains A and B.

G's player owns two generators, G_ab: A -> B and G_ba: B -> A; D's player owns two
discriminators, D_a (real A vs G_ba(b)) and D_b (real B vs G_ab(a)). With L the adversarial
loss named by `loss.name` (the paper's is `least_squares`):

  D:  min  L_D(D_a(a), D_a(pool_a(G_ba(b)))) + L_D(D_b(b), D_b(pool_b(G_ab(a))))
  G:  min  w_adv * [L_G(D_b(G_ab(a))) + L_G(D_a(G_ba(b)))]
           + lambda * [|G_ba(G_ab(a)) - a|_1 + |G_ab(G_ba(b)) - b|_1]          (cycle)
           + lambda * lambda_idt * [|G_ba(a) - a|_1 + |G_ab(b) - b|_1]        (identity)

lambda = `cycle_weight` (10), lambda_idt = `identity_weight` (0.5). The least-squares loss
here has G term 1/2 E[(D - 1)^2]; the paper's is E[(D - 1)^2], so `adversarial_weight` = 2
keeps the paper's balance against lambda. Its D term 1/2 E[(D(x) - 1)^2] + 1/2 E[D(G)^2] is
the paper's halved D objective already.

Each discriminator sees generated images through an *image pool* (Shrivastava et al. 2017)
of `pool_size` (50) earlier translations, kept in `GANState.extras` and updated inside the
compiled step: while the pool is not full every new image is stored and passed on; after,
with probability 1/2 a new image replaces a random stored one, which D sees instead, else D
sees the new image. The pool is global: each device gathers the global batch of
translations, all devices update the same pool with the same key, and each keeps its slice,
so the numbers do not depend on the device count.

The batch holds 'condition' (domain A) and 'image' (domain B), unpaired.
"""

import jax
import jax.numpy as jnp
from jax import lax

from gan_jax import optimizers
from gan_jax.objectives import base
from gan_jax.objectives.pix2pix import l1_loss


def init_pool(size: int, image_shape) -> dict:
  return {'images': jnp.zeros((size, *image_shape), jnp.float32),
          'count': jnp.zeros((), jnp.int32)}


def pool_draws(key: jax.Array, n: int, size: int):
  """The random numbers of one pool query: a uniform and a slot index per image."""
  k_u, k_j = jax.random.split(key)
  return jax.random.uniform(k_u, (n,)), jax.random.randint(k_j, (n,), 0, max(size, 1))


def query_pool(pool: dict, images: jax.Array, key: jax.Array):
  """Shrivastava et al.'s history buffer, one image at a time -> (new pool, images for D).

  For each image in order: if the pool holds fewer than its size, store it and return it;
  otherwise with probability 1/2 (uniform u > 0.5) return a random stored image (slot j)
  and store the new one in its place, else return the new image.
  """
  size = pool['images'].shape[0]
  if size == 0:
    return pool, images
  u, j = pool_draws(key, images.shape[0], size)

  def one(carry, xs):
    stored, count = carry
    image, u_i, j_i = xs
    filling = count < size
    swap = jnp.logical_and(jnp.logical_not(filling), u_i > 0.5)
    slot = jnp.where(filling, count, j_i)
    old = stored[slot]
    stored = stored.at[slot].set(jnp.where(jnp.logical_or(filling, swap), image, old))
    return (stored, count + filling.astype(jnp.int32)), jnp.where(swap, old, image)

  (stored, count), out = lax.scan(one, (pool['images'], pool['count']), (images, u, j))
  return {'images': stored, 'count': count}, out


class CycleGAN(base.Objective):
  """Two generators, two discriminators, cycle and identity terms, image pools."""

  name = 'cyclegan'

  def __init__(self, config):
    super().__init__(config)
    options = config.objective.cyclegan
    self.cycle_weight = optimizers.hyperparameter(options.cycle_weight)
    self.identity_weight = float(options.identity_weight)
    self.adversarial_weight = float(options.adversarial_weight)
    self.pool_size = int(options.pool_size)
    if self.pool_size < 0:
      raise ValueError(f'objective.cyclegan.pool_size must be >= 0; got {self.pool_size}.')
    outputs = bool(config.model.cycle_resnet.identity_outputs)
    if (self.identity_weight > 0) != outputs:
      raise ValueError(
          f'objective.cyclegan.identity_weight={self.identity_weight} needs '
          f'model.cycle_resnet.identity_outputs={not outputs} (the generators compute the '
          'identity mappings only when they are used); set both together.')

  def init_extras(self, networks):
    return {'pool_a': init_pool(self.pool_size, networks.condition_shape),
            'pool_b': init_pool(self.pool_size, networks.data_shape)}

  def generator_inputs(self, ctx, key, batch):
    del ctx, key
    return {'a': batch['condition'], 'b': batch['image']}

  def _pooled(self, ctx, pool, images, key):
    """Pool query on the global batch (same on every device), this device's slice."""
    pool, out = query_pool(pool, ctx.all_gather(images), key)
    return pool, ctx.local_slice(out, images.shape[0])

  def discriminator_loss(self, ctx, d_params, d_coll, batch, g_inputs, fake, key, extras, step):
    k_pool_a, k_pool_b = jax.random.split(jax.random.fold_in(key, 0x9001))
    pool_a, fake_a = self._pooled(ctx, extras['pool_a'], fake['fake_a'], k_pool_a)
    pool_b, fake_b = self._pooled(ctx, extras['pool_b'], fake['fake_b'], k_pool_b)
    k_real, k_fake, k_pen, k_ra, k_rb, k_fa, k_fb = jax.random.split(ctx.device_key(key), 7)
    real_in = {'a': ctx.discriminator_input(g_inputs['a'], k_ra, step),
               'b': ctx.discriminator_input(g_inputs['b'], k_rb, step)}
    fake_in = {'a': ctx.discriminator_input(fake_a, k_fa, step),
               'b': ctx.discriminator_input(fake_b, k_fb, step)}
    d_real, coll = ctx.discriminator(d_params, d_coll, real_in, None, k_real)
    d_fake, coll = ctx.discriminator(d_params, coll, fake_in, None, k_fake)
    total, aux = 0.0, {}
    for domain in ('a', 'b'):
      d_loss, _, loss_aux = ctx.loss_fn(d_real[domain], d_fake[domain])
      aux.update({f'{k}_{domain}': v for k, v in loss_aux.items()})
      aux[f'd_loss_{domain}'] = d_loss

      def d_apply(p, x, domain=domain):
        return ctx.discriminator(p, coll, {domain: x}, None, k_pen)[0][domain]

      penalty, penalty_aux = ctx.penalty(d_apply, d_params, real_in[domain], fake_in[domain],
                                         jax.random.fold_in(k_pen, ord(domain)))
      aux.update({f'{k}_{domain}': v for k, v in penalty_aux.items()})
      total = total + d_loss + penalty
    aux['d_loss'] = aux['d_loss_a'] + aux['d_loss_b']
    aux['d_real_logit'] = 0.5 * (jnp.mean(d_real['a']) + jnp.mean(d_real['b']))
    aux['d_fake_logit'] = 0.5 * (jnp.mean(d_fake['a']) + jnp.mean(d_fake['b']))
    if 'd_accuracy_a' in aux:  # The two D's mean accuracy (what d_accuracy_gate reads).
      aux['d_accuracy'] = 0.5 * (aux['d_accuracy_a'] + aux['d_accuracy_b'])
    return total, (coll, aux, d_real, {'pool_a': pool_a, 'pool_b': pool_b})

  def generator_loss(self, ctx, d_params, d_coll, batch, g_inputs, fake, key, cache, step):
    k_disc, k_a, k_b = jax.random.split(ctx.device_key(key), 3)
    d_in = {'a': ctx.discriminator_input(fake['fake_a'], k_a, step),
            'b': ctx.discriminator_input(fake['fake_b'], k_b, step)}
    d_fake, coll = ctx.discriminator(d_params, d_coll, d_in, None, k_disc)
    cache = lax.stop_gradient(cache)
    g_adv = {d: ctx.loss_fn(cache[d], d_fake[d])[1] for d in ('a', 'b')}
    a, b = g_inputs['a'], g_inputs['b']
    cycle = l1_loss(fake['rec_a'], a) + l1_loss(fake['rec_b'], b)
    total = (self.adversarial_weight * (g_adv['a'] + g_adv['b'])
             + self.cycle_weight * cycle)
    aux = {'g_adversarial_a': g_adv['a'], 'g_adversarial_b': g_adv['b'], 'g_cycle': cycle}
    if self.identity_weight > 0:
      identity = l1_loss(fake['idt_a'], a) + l1_loss(fake['idt_b'], b)
      total = total + self.cycle_weight * self.identity_weight * identity
      aux['g_identity'] = identity
    return total, (coll, aux)

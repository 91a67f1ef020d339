"""Class-conditional GANs: G(z, y) and D(x, y), with D's conditioning chosen by the
architecture (`model.d_conditioning`: input concatenation, or the projection discriminator of
Miyato & Koyama 2018) and, optionally, ACGAN's auxiliary classifier (Odena et al. 2017).

Labels y of generated samples are drawn uniformly (for the global batch, like the latents);
real samples come with theirs. With `ac_weight` w > 0 D has a class head ('class_logits',
`model.d_class_head=True`) and the losses gain the classification terms of ACGAN:

  D:  + w * [CE(C(x), y) + CE(C(G(z, y')), y')]     (fake term off: `ac_fake_in_d=False`)
  G:  + w * CE(C(G(z, y')), y')

where CE is the mean softmax cross-entropy. w = 0 is the plain conditional GAN (cGAN, or the
projection discriminator when the architecture projects).
"""

import jax.numpy as jnp
import optax

from gan_jax.metrics import classifier
from gan_jax.objectives import unconditional


def cross_entropy(logits, labels):
  """Mean softmax cross-entropy of integer labels."""
  return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))


def _class_logits(out):
  if not isinstance(out, dict) or 'class_logits' not in out:
    raise ValueError('objective.conditional.ac_weight > 0 needs a discriminator class head: '
                     'set --config.model.d_class_head=True.')
  return out['class_logits']


class Conditional(unconditional.Unconditional):
  """G(z, y), D(x, y); ACGAN's classification terms when ac_weight > 0."""

  name = 'conditional'

  def __init__(self, config):
    super().__init__(config)
    options = config.objective.conditional
    self.ac_weight = float(options.ac_weight)
    self.ac_fake_in_d = bool(options.ac_fake_in_d)
    if not config.dataset.conditional:
      raise ValueError("objective.name='conditional' needs labels: set "
                       '--config.dataset.conditional=True.')

  def discriminator_terms(self, ctx, batch, g_inputs, out_real, out_fake):
    if self.ac_weight <= 0:
      return 0.0, {}
    real_logits = _class_logits(out_real)
    ce_real = cross_entropy(real_logits, batch['label'])
    ce_fake = cross_entropy(_class_logits(out_fake), g_inputs['labels'])
    value = ce_real + ce_fake if self.ac_fake_in_d else ce_real
    return self.ac_weight * value, {
        'd_class_loss_real': ce_real, 'd_class_loss_fake': ce_fake,
        'd_class_accuracy_real': classifier.top1_agreement(real_logits, batch['label'])}

  def generator_terms(self, ctx, batch, g_inputs, out_fake):
    if self.ac_weight <= 0:
      return 0.0, {}
    logits = _class_logits(out_fake)
    ce = cross_entropy(logits, g_inputs['labels'])
    return self.ac_weight * ce, {
        'g_class_loss': ce,
        'g_class_accuracy': classifier.top1_agreement(logits, g_inputs['labels'])}


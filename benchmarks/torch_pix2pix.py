"""The PyTorch peer of gan_jax's pix2pix: U-Net G, PatchGAN D and their training iteration.

The networks of `gan_jax.models.unet` and `gan_jax.models.patchgan` (Isola et al. 2017; the
authors' `UnetGenerator` and `NLayerDiscriminator`) with BatchNorm, layer for layer, with
submodules named as gan_jax's Flax modules so `copy_gan_jax_params` is a lookup
(tests/test_pix2pix_peer.py checks the copied nets compute the same):

  G, depth D, widths w_i = ngf * min(2**i, 8):
    e_0 = Conv(4, 2, 1)(x);  e_i = BN(Conv(4, 2, 1)(LeakyReLU_0.2(e_{i-1}))), no BN on e_{D-1};
    u_{D-1} = BN(ConvT(4, 2, 1)(ReLU(e_{D-1})));  u_i = BN(ConvT(ReLU(cat[e_i, u_{i+1}])));
    Dropout(p) after the `dropout_layers` innermost u_i;  y = tanh(ConvT(ReLU(cat[e_0, u_1])));
    only the last ConvT has a bias.
  D: num_layers x [Conv(4, 2, 1), BN (not the first), LeakyReLU(0.2)], Conv(4, 1, 1), BN,
    LeakyReLU, Conv(4, 1, 1) -> patch logits; only the first and last convs have a bias.
  Init: conv weights ~ N(0, 0.02), biases 0, BN weight ~ N(1, 0.02), BN bias 0.

Training iteration (as pix2pix_model.py of pytorch-CycleGAN-and-pix2pix, and as gan_jax's
step): fake = G(x); D step on 0.5 * [BCE(D(x, y), 1) + BCE(D(x, fake.detach()), 0)]; then,
with D's parameters frozen, G step on BCE(D(x, fake), 1) + l1_weight * |fake - y|_1, reusing
`fake`; Adam(lr 2e-4, betas (0.5, 0.999)) for both.

Needs `torch==2.13.0` (pinned: an unpinned torch pulls a multi-GB CUDA build).
"""

import statistics
import time
from typing import Any, Mapping, Optional

import numpy as np
import torch
from torch import nn

from benchmarks import torch_dcgan
from gan_jax import overrides
from gan_jax.models import unet


def _check_batch_norm(kind: str, field: str) -> None:
  if kind != 'batch':
    raise ValueError(f"The PyTorch pix2pix peer has BatchNorm only; got {field}={kind!r}. Use "
                     f"{field}=batch (the configs/pix2pix.py recipe's).")


class UNetGenerator(nn.Module):
  """U-Net G of gan_jax.models.unet.UNet with BatchNorm, NCHW: condition -> image."""

  def __init__(self, in_channels: int, out_channels: int, ngf: int = 64, num_downs: int = 5,
               dropout: float = 0.5, dropout_layers: int = 3):
    super().__init__()
    self.depth = num_downs
    widths = [ngf * min(2**i, 8) for i in range(num_downs)]
    self.layers = nn.ModuleDict()
    features = in_channels
    for i in range(num_downs):
      self.layers[f'down{i}'] = nn.Conv2d(features, widths[i], 4, 2, 1, bias=False)
      if 0 < i < num_downs - 1:
        self.layers[f'down_norm{i}'] = nn.BatchNorm2d(widths[i])
      features = widths[i]
    for i in reversed(range(num_downs)):
      if i < num_downs - 1:
        features = widths[i] + features  # cat[e_i, u_{i+1}].
      outermost = i == 0
      out = out_channels if outermost else widths[i - 1]
      self.layers[f'up{i}'] = nn.ConvTranspose2d(features, out, 4, 2, 1, bias=outermost)
      if not outermost:
        self.layers[f'up_norm{i}'] = nn.BatchNorm2d(out)
        if num_downs - 1 - i < dropout_layers and dropout > 0:
          self.layers[f'dropout{i}'] = nn.Dropout(dropout)
      features = out

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    skips, h = [], x
    for i in range(self.depth):
      if i > 0:
        h = nn.functional.leaky_relu(h, 0.2)
      h = self.layers[f'down{i}'](h)
      if f'down_norm{i}' in self.layers:
        h = self.layers[f'down_norm{i}'](h)
      skips.append(h)
    for i in reversed(range(self.depth)):
      if i < self.depth - 1:
        h = torch.cat([skips[i], h], dim=1)
      h = self.layers[f'up{i}'](torch.relu(h))
      if i == 0:
        break
      h = self.layers[f'up_norm{i}'](h)
      if f'dropout{i}' in self.layers:
        h = self.layers[f'dropout{i}'](h)
    return torch.tanh(h)


class PatchDiscriminator(nn.Module):
  """PatchGAN D of gan_jax.models.patchgan.PatchGAN with BatchNorm: (N, C, H, W) -> (N, h, w)."""

  def __init__(self, in_channels: int, ndf: int = 64, num_layers: int = 3):
    super().__init__()
    self.num_layers = num_layers
    self.layers = nn.ModuleDict()
    features = in_channels
    for i in range(num_layers + 1):
      out = ndf * min(2**i, 8)
      stride = 2 if i < num_layers else 1
      self.layers[f'conv{i}'] = nn.Conv2d(features, out, 4, stride, 1, bias=i == 0)
      if i > 0:
        self.layers[f'norm{i}'] = nn.BatchNorm2d(out)
      features = out
    self.layers['logits'] = nn.Conv2d(features, 1, 4, 1, 1, bias=True)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    for i in range(self.num_layers + 1):
      x = self.layers[f'conv{i}'](x)
      if i > 0:
        x = self.layers[f'norm{i}'](x)
      x = nn.functional.leaky_relu(x, 0.2)
    return self.layers['logits'](x)[:, 0]


def init_pix2pix_weights(module: nn.Module) -> None:
  """Conv weights ~ N(0, 0.02), biases 0; BN weight ~ N(1, 0.02), bias 0 (gan_jax's init)."""
  if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
    nn.init.normal_(module.weight, 0.0, 0.02)
    if module.bias is not None:
      nn.init.zeros_(module.bias)
  elif isinstance(module, nn.BatchNorm2d):
    nn.init.normal_(module.weight, 1.0, 0.02)
    nn.init.zeros_(module.bias)


def make_pix2pix(model_config, image_shape: tuple[int, int, int],
                 condition_channels: int, device: Any = 'cpu'):
  """(G, D) for gan_jax's `config.model` (unet, patchgan blocks) and (H, W, C) images."""
  u, p = model_config.unet, model_config.patchgan
  _check_batch_norm(u.normalization, 'model.unet.normalization')
  _check_batch_norm(p.normalization, 'model.patchgan.normalization')
  depth = unet.resolve_downs(image_shape[0], u.num_downs)
  g = UNetGenerator(condition_channels, image_shape[-1], u.ngf, depth, u.dropout,
                    u.dropout_layers)
  d = PatchDiscriminator(condition_channels + image_shape[-1], p.ndf, p.num_layers)
  g.apply(init_pix2pix_weights)
  d.apply(init_pix2pix_weights)
  return g.to(device), d.to(device)


# ---- weights from gan_jax ---------------------------------------------------------------


def _tensor(value, like: torch.Tensor) -> torch.Tensor:
  return torch.tensor(np.asarray(value)).to(like.device, like.dtype)


@torch.no_grad()
def copy_gan_jax_variables(module: nn.Module, variables: Mapping) -> None:
  """Copies gan_jax variables ({'params', 'batch_stats'}) into a peer module, by name.

  flax Conv kernel[a, b, i, o] == Conv2d.weight[o, i, a, b]; gan_jax ConvTranspose2D
  kernel[a, b, i, o] == ConvTranspose2d.weight[i, o, a, b]; BatchNorm scale, bias, mean, var
  == weight, bias, running_mean, running_var. Every torch tensor must be matched.
  """
  params, stats = variables['params'], variables.get('batch_stats', {})
  for name, layer in module.layers.items():
    if isinstance(layer, nn.Dropout):
      continue
    if isinstance(layer, nn.BatchNorm2d):
      layer.weight.copy_(_tensor(params[name]['scale'], layer.weight))
      layer.bias.copy_(_tensor(params[name]['bias'], layer.bias))
      if name in stats:
        layer.running_mean.copy_(_tensor(stats[name]['mean'], layer.running_mean))
        layer.running_var.copy_(_tensor(stats[name]['var'], layer.running_var))
      continue
    order = (2, 3, 0, 1) if isinstance(layer, nn.ConvTranspose2d) else (3, 2, 0, 1)
    layer.weight.copy_(_tensor(np.transpose(params[name]['kernel'], order), layer.weight))
    if layer.bias is not None:
      layer.bias.copy_(_tensor(params[name]['bias'], layer.bias))
  unused = set(params) - set(module.layers)
  if unused:
    raise ValueError(f'gan_jax parameters {sorted(unused)} have no layer in the torch peer.')


# ---- the training iteration -------------------------------------------------------------


class Pix2PixTrainer:
  """One pix2pix iteration (1 D + 1 G update) per `step(condition, image)`, NCHW tensors.

  Without arguments `step()` reuses one fixed random batch (uniform in [-1, 1]).
  """

  def __init__(self, model_config, image_shape: tuple[int, int, int], condition_channels: int,
               batch_size: int, *, l1_weight: float = 100.0, d_loss_scale: float = 0.5,
               g_adam: tuple[float, float, float] = (2e-4, 0.5, 0.999),
               d_adam: tuple[float, float, float] = (2e-4, 0.5, 0.999),
               device: Any = 'cpu', seed: int = 0):
    torch.manual_seed(seed)
    self.device = torch.device(device)
    self.g, self.d = make_pix2pix(model_config, image_shape, condition_channels, self.device)
    self.opt_g = torch.optim.Adam(self.g.parameters(), lr=g_adam[0], betas=g_adam[1:])
    self.opt_d = torch.optim.Adam(self.d.parameters(), lr=d_adam[0], betas=d_adam[1:])
    self.criterion = nn.BCEWithLogitsLoss()
    self.l1 = nn.L1Loss()
    self.l1_weight, self.d_loss_scale = l1_weight, d_loss_scale
    h, w, c = image_shape
    self.condition = torch.rand(batch_size, condition_channels, h, w, device=self.device) * 2 - 1
    self.image = torch.rand(batch_size, c, h, w, device=self.device) * 2 - 1

  def _set_d_trainable(self, trainable: bool) -> None:
    for p in self.d.parameters():
      p.requires_grad_(trainable)

  def step(self, condition: Optional[torch.Tensor] = None,
           image: Optional[torch.Tensor] = None):
    x = self.condition if condition is None else condition
    y = self.image if image is None else image
    fake = self.g(x)
    # (1) D: 0.5 * [BCE(D(x, y), 1) + BCE(D(x, G(x)), 0)].
    self._set_d_trainable(True)
    self.opt_d.zero_grad(set_to_none=True)
    d_real = self.d(torch.cat([x, y], 1))
    d_fake = self.d(torch.cat([x, fake.detach()], 1))
    d_loss = self.d_loss_scale * (self.criterion(d_real, torch.ones_like(d_real)) +
                                  self.criterion(d_fake, torch.zeros_like(d_fake)))
    d_loss.backward()
    self.opt_d.step()
    # (2) G: BCE(D(x, G(x)), 1) + l1_weight * |G(x) - y|_1 through the updated, frozen D.
    self._set_d_trainable(False)
    self.opt_g.zero_grad(set_to_none=True)
    d_fake = self.d(torch.cat([x, fake], 1))
    g_loss = (self.criterion(d_fake, torch.ones_like(d_fake)) +
              self.l1_weight * self.l1(fake, y))
    g_loss.backward()
    self.opt_g.step()
    return d_loss.detach(), g_loss.detach()

  def synchronize(self):
    if self.device.type == 'cuda':
      torch.cuda.synchronize(self.device)


def recipe_trainer(batch_size: Optional[int] = None, variant: Optional[str] = None,
                   device: Any = 'cpu') -> Pix2PixTrainer:
  """The peer of `configs/pix2pix.py[:variant]`: its nets, batch, loss weights and Adam."""
  from configs import pix2pix as pix2pix_config  # pylint: disable=g-import-not-at-top
  config = pix2pix_config.get_config(variant)
  side = config.dataset.image_size
  return trainer_for_config(config, batch_size or config.batch_size, (side, side, 1), 1,
                            device)  # Paired digits: 1-channel condition and image.


def trainer_for_config(config, batch_size: int, image_shape: tuple[int, int, int],
                       condition_channels: int, device: Any = 'cpu') -> Pix2PixTrainer:
  """A trainer with the config's networks, loss weights and optimizers."""
  for player in ('g', 'd'):
    opt = config.optim[player]
    if opt.name != 'adam' or opt.schedule != 'constant' or opt.grad_clip_norm > 0:
      raise ValueError(f'The PyTorch pix2pix peer runs constant-lr Adam without clipping; got '
                       f'optim.{player}: name={opt.name!r}, schedule={opt.schedule!r}, '
                       f'grad_clip_norm={opt.grad_clip_norm}. Use the configs/pix2pix.py '
                       'optimizers.')
  recipe = {'loss.name': 'non_saturating', 'loss.real_label': 1.0, 'penalty.name': 'none',
            'd_regularizer.name': 'none', 'augment.name': 'none', 'instance_noise_std': 0.0,
            'd_steps_per_g_step': 1, 'd_weight_clip': 0.0, 'g_step_fresh_latents': False,
            'model.compute_dtype': 'float32', 'objective.name': 'pix2pix'}
  for field, value in recipe.items():
    if overrides.get_field(config, field) != value:
      raise ValueError(f'The PyTorch pix2pix peer implements {field}={value!r} only; got '
                       f'{overrides.get_field(config, field)!r}. Use the configs/pix2pix.py '
                       'value.')
  adam = {p: (o.lr, o.adam.b1, o.adam.b2) for p, o in config.optim.items()}
  pix = config.objective.pix2pix
  return Pix2PixTrainer(config.model, tuple(image_shape), condition_channels, batch_size,
                        l1_weight=pix.l1_weight, d_loss_scale=pix.d_loss_scale,
                        g_adam=adam['g'], d_adam=adam['d'], device=device, seed=config.seed)


def torch_train_step_throughput(batch_size: int = 32, steps: int = 10, warmup: int = 3,
                                threads: Optional[int] = None, repeats: int = 1,
                                variant: Optional[str] = None) -> dict:
  """Times the peer's iteration (1 D + 1 G update) of the recipe on one fixed batch, CPU.

  `warmup` untimed steps, then `repeats` blocks of `steps` steps; img/s of the median block.
  """
  threads = threads or torch_dcgan.available_cores()
  torch.set_num_threads(threads)
  trainer = recipe_trainer(batch_size, variant)
  for _ in range(warmup):
    trainer.step()
  rates = []
  for _ in range(repeats):
    start = time.perf_counter()
    for _ in range(steps):
      trainer.step()
    rates.append(batch_size * steps / (time.perf_counter() - start))
  return dict(img_per_sec=statistics.median(rates), img_per_sec_all=rates,
              batch_size=batch_size, steps=steps, threads=threads,
              torch_version=torch.__version__)


if __name__ == '__main__':
  print(torch_train_step_throughput(32, steps=5, warmup=2, repeats=3))

"""The PyTorch peer: canonical DCGAN (pytorch/examples dcgan) and its training iteration.

64x64: ConvTranspose2d/Conv2d k4 s2 p1, BatchNorm, ngf = ndf = 64, nz = 100, a 4x4 first
(generator) / last (discriminator) layer. 28x28 follows the same pattern with a 7x7
first/last layer (z -> 7x7x128 -> 14x14x64 -> 28x28x1). These are exactly the shapes of
`gan_jax.models.dcgan` (base * 2**stages), and `copy_gan_jax_params` moves gan_jax
variables into these modules (tests/test_torch_peer.py checks they compute the same).

Training iteration (as in pytorch/examples/dcgan/main.py, with BCEWithLogitsLoss because the
discriminators return logits): D step on real and fake.detach(), then G step on D(fake);
Adam(lr 2e-4, betas (0.5, 0.999)) for both.

Needs `torch==2.13.0` (pinned: an unpinned torch pulls a multi-GB CUDA build).
"""

import os
import statistics
import time
from typing import Any, Mapping, Optional

import numpy as np
import torch
from torch import nn


def dcgan_geometry(image_size: int) -> tuple[int, int]:
  """(base, stages) with image_size = base * 2**stages, e.g. 64 -> (4, 4), 28 -> (7, 2)."""
  for base in (4, 7, 3, 5, 6):
    size, stages = image_size, 0
    while size > base and size % 2 == 0:
      size //= 2
      stages += 1
    if size == base and stages >= 1:
      return base, stages
  raise ValueError(f'No DCGAN geometry for image side {image_size} (use 28, 32, 64, ...).')


class Generator(nn.Module):
  """z (N, nz, 1, 1) -> ConvT(base, 1, 0) -> [BN, ReLU, ConvT(4, 2, 1)] x stages -> tanh."""

  def __init__(self, image_size: int, channels: int, nz: int = 100, ngf: int = 64):
    super().__init__()
    base, stages = dcgan_geometry(image_size)
    features = ngf * 2 ** (stages - 1)
    self.project = nn.ConvTranspose2d(nz, features, base, 1, 0, bias=False)
    self.bns = nn.ModuleList()
    self.ups = nn.ModuleList()
    for i in range(stages):
      out = channels if i == stages - 1 else features // 2
      self.bns.append(nn.BatchNorm2d(features))
      self.ups.append(nn.ConvTranspose2d(features, out, 4, 2, 1, bias=False))
      features = out

  def forward(self, z):
    x = self.project(z)
    for bn, up in zip(self.bns, self.ups):
      x = up(torch.relu(bn(x)))
    return torch.tanh(x)


class Discriminator(nn.Module):
  """x -> [Conv(4, 2, 1), BN (not first), LeakyReLU(0.2)] x stages -> Conv(base) -> logit."""

  def __init__(self, image_size: int, channels: int, ndf: int = 64):
    super().__init__()
    base, stages = dcgan_geometry(image_size)
    self.downs = nn.ModuleList()
    self.bns = nn.ModuleList()  # bns[i - 1] follows downs[i].
    features = channels
    for i in range(stages):
      out = ndf * 2 ** i
      self.downs.append(nn.Conv2d(features, out, 4, 2, 1, bias=False))
      if i > 0:
        self.bns.append(nn.BatchNorm2d(out))
      features = out
    self.logit = nn.Conv2d(features, 1, base, 1, 0, bias=False)

  def forward(self, x):
    for i, down in enumerate(self.downs):
      x = down(x)
      if i > 0:
        x = self.bns[i - 1](x)
      x = nn.functional.leaky_relu(x, 0.2)
    return self.logit(x).reshape(-1)


def init_dcgan_weights(module: nn.Module) -> None:
  """DCGAN init: conv weights ~ N(0, 0.02); BN weight ~ N(1, 0.02), bias 0."""
  if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
    nn.init.normal_(module.weight, 0.0, 0.02)
  elif isinstance(module, nn.BatchNorm2d):
    nn.init.normal_(module.weight, 1.0, 0.02)
    nn.init.zeros_(module.bias)


def make_dcgan(image_size: int, channels: int, nz: int = 100, ngf: int = 64, ndf: int = 64,
               device: Any = 'cpu') -> tuple[Generator, Discriminator]:
  g = Generator(image_size, channels, nz, ngf)
  d = Discriminator(image_size, channels, ndf)
  g.apply(init_dcgan_weights)
  d.apply(init_dcgan_weights)
  return g.to(device), d.to(device)


# ---- weights from gan_jax ---------------------------------------------------------------


def _tensor(value, like: torch.Tensor) -> torch.Tensor:
  return torch.tensor(np.array(value, dtype=np.float32)).to(like.device)


def _copy_bn(bn: nn.BatchNorm2d, params: Mapping, stats: Optional[Mapping]) -> None:
  bn.weight.data.copy_(_tensor(params['scale'], bn.weight))
  bn.bias.data.copy_(_tensor(params['bias'], bn.bias))
  if stats is not None:
    bn.running_mean.copy_(_tensor(stats['mean'], bn.running_mean))
    bn.running_var.copy_(_tensor(stats['var'], bn.running_var))


@torch.no_grad()
def copy_gan_jax_params(g: Generator, d: Discriminator, g_variables: Mapping,
                        d_variables: Mapping) -> None:
  """Copies gan_jax DCGAN variables ({'params', 'batch_stats'}) into the torch modules.

  ConvTranspose2D kernel[a, b, i, o] == ConvTranspose2d.weight[i, o, a, b];
  flax Conv kernel[a, b, i, o] == Conv2d.weight[o, i, a, b]; BN scale/bias/mean/var map
  to weight/bias/running_mean/running_var.
  """
  gp, gs = g_variables['params'], g_variables.get('batch_stats', {})
  g.project.weight.copy_(_tensor(np.transpose(gp['project']['kernel'], (2, 3, 0, 1)),
                                 g.project.weight))
  for i, (bn, up) in enumerate(zip(g.bns, g.ups)):
    _copy_bn(bn, gp[f'bn{i}'], gs.get(f'bn{i}'))
    up.weight.copy_(_tensor(np.transpose(gp[f'up{i}']['kernel'], (2, 3, 0, 1)), up.weight))
  dp, ds = d_variables['params'], d_variables.get('batch_stats', {})
  for i, down in enumerate(d.downs):
    down.weight.copy_(_tensor(np.transpose(dp[f'down{i}']['kernel'], (3, 2, 0, 1)),
                              down.weight))
    if i > 0:
      _copy_bn(d.bns[i - 1], dp[f'bn{i}'], ds.get(f'bn{i}'))
  d.logit.weight.copy_(_tensor(np.transpose(dp['logit']['kernel'], (3, 2, 0, 1)),
                               d.logit.weight))


# ---- the training iteration -------------------------------------------------------------


def available_cores() -> int:
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:
    return os.cpu_count() or 1


class DCGANTrainer:
  """One canonical DCGAN iteration per `step()`; random real data, fresh noise each step."""

  def __init__(self, image_size: int, channels: int, batch_size: int, device: Any = 'cpu',
               nz: int = 100, seed: int = 0):
    torch.manual_seed(seed)
    self.device = torch.device(device)
    self.nz, self.batch_size = nz, batch_size
    self.g, self.d = make_dcgan(image_size, channels, nz, device=self.device)
    self.opt_g = torch.optim.Adam(self.g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    self.opt_d = torch.optim.Adam(self.d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    self.criterion = nn.BCEWithLogitsLoss()
    self.real = torch.rand(batch_size, channels, image_size, image_size,
                           device=self.device) * 2 - 1
    self.ones = torch.ones(batch_size, device=self.device)
    self.zeros = torch.zeros(batch_size, device=self.device)

  def step(self):
    # (1) D: maximize log D(x) + log(1 - D(G(z))).
    self.d.zero_grad(set_to_none=True)
    err_d_real = self.criterion(self.d(self.real), self.ones)
    err_d_real.backward()
    noise = torch.randn(self.batch_size, self.nz, 1, 1, device=self.device)
    fake = self.g(noise)
    err_d_fake = self.criterion(self.d(fake.detach()), self.zeros)
    err_d_fake.backward()
    self.opt_d.step()
    # (2) G: maximize log D(G(z)) (non-saturating).
    self.g.zero_grad(set_to_none=True)
    err_g = self.criterion(self.d(fake), self.ones)
    err_g.backward()
    self.opt_g.step()
    return err_d_real + err_d_fake, err_g

  def synchronize(self):
    if self.device.type == 'cuda':
      torch.cuda.synchronize(self.device)


def torch_train_step_throughput(image_size: int, channels: int, batch_size: int = 64,
                                steps: int = 10, warmup: int = 3,
                                threads: Optional[int] = None, repeats: int = 1,
                                device: Optional[str] = None) -> dict:
  """Times the canonical PyTorch DCGAN iteration (1 D + 1 G update) on random data.

  Runs `warmup` untimed steps, then `repeats` blocks of `steps` steps (one synchronisation
  per block). Returns img_per_sec (median block), the per-block figures and the setup.
  """
  if device is None:
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
  threads = threads or available_cores()
  torch.set_num_threads(threads)
  trainer = DCGANTrainer(image_size, channels, batch_size, device)
  for _ in range(warmup):
    trainer.step()
  trainer.synchronize()
  block_seconds = []
  for _ in range(repeats):
    start = time.perf_counter()
    for _ in range(steps):
      trainer.step()
    trainer.synchronize()
    block_seconds.append(time.perf_counter() - start)
  rates = [batch_size * steps / s for s in block_seconds]
  return dict(img_per_sec=statistics.median(rates), img_per_sec_all=rates,
              step_ms=1e3 * statistics.median(block_seconds) / steps,
              batch_size=batch_size, steps=steps, repeats=repeats, threads=threads,
              device=str(trainer.device), torch_version=torch.__version__)


if __name__ == '__main__':
  for size, ch in ((28, 1), (64, 3)):
    print(size, torch_train_step_throughput(size, ch, 64, steps=5, warmup=2, repeats=3))

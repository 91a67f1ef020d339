"""The Flax FID Inception against pytorch-fid's reference network, with the same weights.

pytorch_fid.inception imports torchvision, which has no CPU-only build installable here
without pulling a CUDA torch. So this test inserts, ONLY inside the test, a minimal stub
`torchvision` module providing the few symbols pytorch_fid uses: `__version__`,
`models.inception_v3` (the Inception3 stem, Mixed_6a/7a, fc) and the base classes
`models.inception.InceptionA/C/E` (their layer definitions only). Everything FID-specific
comes from pytorch_fid itself: FIDInceptionA/C/E_1/E_2 forward passes (padding-excluded
average pools, the max-pool branch of Mixed_7c), the block composition of InceptionV3,
its bilinear resize to 299 and its [0, 1] -> [-1, 1] scaling. The weights reach it through
pytorch_fid's own `load_state_dict(strict=True)`, so the state_dict layout is the one of
the released .pth file. Random weights (with non-trivial BatchNorm statistics) are saved to
a .pth and read back by `load_inception`, exercising the real loading path.

Tolerance: float32 on both sides; pool3 and logits agree to atol 1e-4 * max|ref| +
rtol 1e-3 (measured: max abs difference 2.5e-5 on pool3 values up to ~11, i.e.
~2e-6 of the largest value). Resize alone: atol 1e-5.
"""

import sys
import types

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.metrics import inception

torch = pytest.importorskip('torch')
nn = torch.nn


def _stub_torchvision():
  """A minimal stand-in for torchvision's Inception-v3 layer definitions (test only)."""

  class BasicConv2d(nn.Module):
    def __init__(self, cin, cout, **kwargs):
      super().__init__()
      self.conv = nn.Conv2d(cin, cout, bias=False, **kwargs)
      self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
      return torch.relu(self.bn(self.conv(x)))

  class InceptionA(nn.Module):
    def __init__(self, cin, pool_features):
      super().__init__()
      self.branch1x1 = BasicConv2d(cin, 64, kernel_size=1)
      self.branch5x5_1 = BasicConv2d(cin, 48, kernel_size=1)
      self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
      self.branch3x3dbl_1 = BasicConv2d(cin, 64, kernel_size=1)
      self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
      self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
      self.branch_pool = BasicConv2d(cin, pool_features, kernel_size=1)

  class InceptionB(nn.Module):
    def __init__(self, cin):
      super().__init__()
      self.branch3x3 = BasicConv2d(cin, 384, kernel_size=3, stride=2)
      self.branch3x3dbl_1 = BasicConv2d(cin, 64, kernel_size=1)
      self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
      self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x):
      b3 = self.branch3x3(x)
      bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
      return torch.cat([b3, bd, nn.functional.max_pool2d(x, kernel_size=3, stride=2)], 1)

  class InceptionC(nn.Module):
    def __init__(self, cin, channels_7x7):
      super().__init__()
      c7 = channels_7x7
      self.branch1x1 = BasicConv2d(cin, 192, kernel_size=1)
      self.branch7x7_1 = BasicConv2d(cin, c7, kernel_size=1)
      self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
      self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
      self.branch7x7dbl_1 = BasicConv2d(cin, c7, kernel_size=1)
      self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
      self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
      self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
      self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
      self.branch_pool = BasicConv2d(cin, 192, kernel_size=1)

  class InceptionD(nn.Module):
    def __init__(self, cin):
      super().__init__()
      self.branch3x3_1 = BasicConv2d(cin, 192, kernel_size=1)
      self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
      self.branch7x7x3_1 = BasicConv2d(cin, 192, kernel_size=1)
      self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
      self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
      self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x):
      b3 = self.branch3x3_2(self.branch3x3_1(x))
      b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
      return torch.cat([b3, b7, nn.functional.max_pool2d(x, kernel_size=3, stride=2)], 1)

  class InceptionE(nn.Module):
    def __init__(self, cin):
      super().__init__()
      self.branch1x1 = BasicConv2d(cin, 320, kernel_size=1)
      self.branch3x3_1 = BasicConv2d(cin, 384, kernel_size=1)
      self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
      self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
      self.branch3x3dbl_1 = BasicConv2d(cin, 448, kernel_size=1)
      self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
      self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
      self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
      self.branch_pool = BasicConv2d(cin, 192, kernel_size=1)

  class Inception3(nn.Module):
    # pytorch_fid replaces Mixed_5b..5d, 6b..6e, 7b, 7c with its FID blocks.
    def __init__(self, num_classes=1000, aux_logits=False, init_weights=False):
      super().__init__()
      assert not aux_logits
      self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
      self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
      self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
      self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
      self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
      self.Mixed_6a = InceptionB(288)
      self.Mixed_7a = InceptionD(768)
      self.fc = nn.Linear(2048, num_classes)

  def inception_v3(weights=None, **kwargs):
    assert weights is None, 'the stub has no pretrained weights'
    return Inception3(**kwargs)

  tv = types.ModuleType('torchvision')
  tv.__version__ = '0.20.0'
  tv.models = types.ModuleType('torchvision.models')
  tv.models.inception_v3 = inception_v3
  tv.models.inception = types.ModuleType('torchvision.models.inception')
  tv.models.inception.InceptionA = InceptionA
  tv.models.inception.InceptionC = InceptionC
  tv.models.inception.InceptionE = InceptionE
  return {'torchvision': tv, 'torchvision.models': tv.models,
          'torchvision.models.inception': tv.models.inception}


@pytest.fixture(scope='module')
def pytorch_fid_inception():
  """pytorch_fid.inception, imported against the real torchvision if present, else the stub."""
  try:
    import torchvision  # pylint: disable=unused-import
  except ImportError:
    saved = {k: sys.modules.get(k) for k in _stub_torchvision()}
    sys.modules.update(_stub_torchvision())
    try:
      sys.modules.pop('pytorch_fid.inception', None)
      module = pytest.importorskip('pytorch_fid.inception')
    finally:
      for k, v in saved.items():
        if v is None:
          sys.modules.pop(k, None)
        else:
          sys.modules[k] = v
    yield module
    sys.modules.pop('pytorch_fid.inception', None)
    return
  yield pytest.importorskip('pytorch_fid.inception')


def _randomize(net):
  with torch.no_grad():
    for name, m in net.named_modules():
      if isinstance(m, nn.Conv2d):
        fan_in = m.weight[0].numel()
        m.weight.normal_(0.0, (2.0 / fan_in) ** 0.5)
      elif isinstance(m, nn.BatchNorm2d):
        m.weight.uniform_(0.5, 1.5)
        m.bias.normal_(0.0, 0.1)
        m.running_mean.normal_(0.0, 0.1)
        m.running_var.uniform_(0.5, 1.5)
      elif isinstance(m, nn.Linear):
        m.weight.normal_(0.0, 0.05)
        m.bias.normal_(0.0, 0.1)


@pytest.fixture(scope='module')
def reference(pytorch_fid_inception, tmp_path_factory):
  """(pytorch_fid InceptionV3 with random weights, its fc, path of those weights as .pth)."""
  module = pytorch_fid_inception
  torch.manual_seed(0)
  # An Inception3 of the right layout (from the torchvision that pytorch_fid imported) to
  # draw random weights for; pytorch_fid's own fid_inception_v3 then loads them strictly.
  layout = module._inception_v3(num_classes=1008, aux_logits=False, weights=None)
  layout.Mixed_5b = module.FIDInceptionA(192, pool_features=32)
  layout.Mixed_5c = module.FIDInceptionA(256, pool_features=64)
  layout.Mixed_5d = module.FIDInceptionA(288, pool_features=64)
  layout.Mixed_6b = module.FIDInceptionC(768, channels_7x7=128)
  layout.Mixed_6c = module.FIDInceptionC(768, channels_7x7=160)
  layout.Mixed_6d = module.FIDInceptionC(768, channels_7x7=160)
  layout.Mixed_6e = module.FIDInceptionC(768, channels_7x7=192)
  layout.Mixed_7b = module.FIDInceptionE_1(1280)
  layout.Mixed_7c = module.FIDInceptionE_2(2048)
  _randomize(layout)
  state_dict = layout.state_dict()
  saved = module.load_state_dict_from_url
  module.load_state_dict_from_url = lambda *a, **k: state_dict  # never download
  try:
    net = module.InceptionV3([module.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()
    fc = module.fid_inception_v3().fc.eval()
  finally:
    module.load_state_dict_from_url = saved
  path = tmp_path_factory.mktemp('weights') / inception.FID_WEIGHTS_FILENAME
  torch.save(state_dict, path)
  return net, fc, str(path)


def test_resize_matches_torch_interpolate():
  rng = np.random.default_rng(0)
  for size in (32, 64, 320, 301):  # upsampling and (non-antialiased) downsampling
    x = rng.uniform(0, 1, size=(2, size, size + 3, 3)).astype(np.float32)
    ref = torch.nn.functional.interpolate(torch.from_numpy(x).permute(0, 3, 1, 2),
                                          size=(299, 299), mode='bilinear',
                                          align_corners=False)
    got = inception.preprocess_images(jnp.asarray(x), input_range=(0.0, 1.0))
    chex.assert_shape(got, (2, 299, 299, 3))
    np.testing.assert_allclose(np.asarray(got), 2 * ref.permute(0, 2, 3, 1).numpy() - 1,
                               atol=1e-5)


def test_features_and_logits_match_pytorch_fid(reference):
  net, fc, path = reference
  apply_fn, variables = inception.load_inception(path)
  rng = np.random.default_rng(1)
  images = rng.uniform(-1, 1, size=(2, 64, 64, 3)).astype(np.float32)  # generator range
  with torch.no_grad():
    # pytorch_fid takes NCHW in [0, 1], resizes and scales to [-1, 1] itself.
    ref_pool = net(torch.from_numpy((images + 1) / 2).permute(0, 3, 1, 2))[0]
    ref_logits = fc(ref_pool.flatten(1)).numpy()
    ref_pool = ref_pool.flatten(1).numpy()
  out = apply_fn(variables, jnp.asarray(images))
  chex.assert_shape((out['pool3'], out['logits']), [(2, 2048), (2, 1008)])
  chex.assert_tree_all_finite(out)
  assert ref_pool.std() > 1e-2  # random weights still give non-degenerate features
  np.testing.assert_allclose(np.asarray(out['pool3']), ref_pool, rtol=1e-3,
                             atol=1e-4 * np.abs(ref_pool).max())
  np.testing.assert_allclose(np.asarray(out['logits']), ref_logits, rtol=1e-3,
                             atol=1e-4 * np.abs(ref_logits).max())
  # [0, 1] inputs with input_range=(0, 1) are the same images.
  out01 = apply_fn(variables, jnp.asarray((images + 1) / 2), input_range=(0.0, 1.0))
  chex.assert_trees_all_close(out01, out, rtol=1e-4, atol=1e-4 * np.abs(ref_pool).max())


def test_converter_rejects_wrong_state_dict():
  with pytest.raises(ValueError, match='FID'):
    inception.convert_torch_state_dict({'features.0.weight': np.zeros((3, 3))})
  with pytest.raises(ValueError, match='missing'):
    inception.convert_torch_state_dict({'fc.weight': np.zeros((1008, 2048)),
                                        'fc.bias': np.zeros(1008)})
  with pytest.raises(FileNotFoundError, match='local path'):
    inception.load_inception('/nonexistent/pt_inception.pth')
  with pytest.raises(ValueError, match='NHWC'):
    inception.preprocess_images(jnp.zeros((2, 3, 32, 32)))

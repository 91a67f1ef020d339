"""Sample grids as images (Pillow)."""

import math
import os

import numpy as np


def image_grid(images: np.ndarray, ncols: int | None = None, padding: int = 2) -> np.ndarray:
  """Tiles (N, H, W, C) images in [-1, 1] into one uint8 (rows*H, cols*W, C) image."""
  images = np.asarray(images, np.float32)
  if images.ndim != 4:
    raise ValueError(f'image_grid expects (N, H, W, C) images; got shape {images.shape}.')
  n, h, w, c = images.shape
  ncols = ncols or int(math.ceil(math.sqrt(n)))
  nrows = int(math.ceil(n / ncols))
  grid = np.full((nrows * (h + padding) + padding, ncols * (w + padding) + padding, c), 255,
                 np.uint8)
  pixels = np.clip(np.round((images + 1.0) * 127.5), 0, 255).astype(np.uint8)
  for i in range(n):
    r, col = divmod(i, ncols)
    y, x = padding + r * (h + padding), padding + col * (w + padding)
    grid[y:y + h, x:x + w] = pixels[i]
  return grid


def save_image_grid(images: np.ndarray, path: str, ncols: int | None = None,
                    upscale: int = 1) -> str:
  """Writes a PNG grid of images in [-1, 1]; returns the path."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  grid = image_grid(images, ncols)
  pil = Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)
  if upscale > 1:
    pil = pil.resize((pil.width * upscale, pil.height * upscale), Image.NEAREST)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  pil.save(path)
  return path

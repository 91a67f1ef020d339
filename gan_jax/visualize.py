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


def clip_grid_frames(clips: np.ndarray, ncols: int | None = None,
                     padding: int = 2) -> np.ndarray:
  """Tiles clips (N, T, H, W, C) in [-1, 1] into T grid frames, uint8 (T, rows*H, cols*W, C):
  grid frame t holds frame t of every clip, clip i in cell i (image_grid's layout)."""
  clips = np.asarray(clips, np.float32)
  if clips.ndim != 5:
    raise ValueError(f'Expected clips (N, T, H, W, C); got shape {clips.shape}. A single clip '
                     'is clips[None]; frames of an image model are stacked T at a time first.')
  return np.stack([image_grid(clips[:, t], ncols, padding) for t in range(clips.shape[1])])


def _pil_frame(frame: np.ndarray, upscale: int):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  pil = Image.fromarray(frame[..., 0] if frame.shape[-1] == 1 else frame)
  if upscale > 1:
    pil = pil.resize((pil.width * upscale, pil.height * upscale), Image.NEAREST)
  return pil


def save_clip_gif(clips: np.ndarray, path: str, ncols: int | None = None, upscale: int = 1,
                  frame_ms: int = 100) -> str:
  """Writes an animated, looping GIF of a grid of clips (N, T, H, W, C) in [-1, 1]: GIF frame t
  is frame t of every clip (one clip per cell, clip_grid_frames), each shown `frame_ms`
  milliseconds; returns the path.

  Grey clips (C = 1) are stored exactly (256 grey levels fit the GIF palette); RGB clips are
  quantized to a 256-colour palette per frame (GIF's limit). Pillow merges consecutive
  identical frames into one frame of the summed duration, so a static clip plays as one frame.
  """
  if upscale < 1 or frame_ms < 1:
    raise ValueError(f'upscale and frame_ms must be >= 1; got {upscale} and {frame_ms}.')
  frames = [_pil_frame(f, upscale) for f in clip_grid_frames(clips, ncols)]
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  frames[0].save(path, save_all=True, append_images=frames[1:], duration=frame_ms, loop=0)
  return path


def save_frame_strip(clips: np.ndarray, path: str, upscale: int = 1) -> str:
  """Writes a PNG of clips (N, T, H, W, C) in [-1, 1]: row i = clip i, column t = frame t;
  returns the path."""
  clips = np.asarray(clips, np.float32)
  if clips.ndim != 5:
    raise ValueError(f'Expected clips (N, T, H, W, C); got shape {clips.shape}.')
  n, t = clips.shape[:2]
  return save_image_grid(clips.reshape(n * t, *clips.shape[2:]), path, ncols=t,
                         upscale=upscale)

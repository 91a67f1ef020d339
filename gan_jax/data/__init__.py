"""Data: sources (TFDS, embedded MNIST, image folders, toy 2-D) and the batch pipeline."""

from gan_jax.data.pipeline import batch_for_step, batches, check_batch_size
from gan_jax.data.sources import Source, describe, load_source

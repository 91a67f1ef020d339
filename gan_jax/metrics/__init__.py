"""Evaluation metrics: pure JAX functions of features or images (one file per family).

- frechet: FID formula (feature_statistics, frechet_distance).
- kid: Kernel Inception Distance.
- inception_score: Inception Score (also the classifier score).
- precision_recall: improved precision/recall, density/coverage.
- image_similarity: PSNR, SSIM, MS-SSIM for paired image tasks.
- inception: the FID Inception-v3 feature extractor (weights from a local .pth).
- classifier: a small CNN feature extractor for MNIST-like data and its metrics.
None of these modules imports torch; only reading a .pth file needs it.

`inception_score` and `precision_recall` name both a module and its main function; the
package attribute is the module (call `inception_score.inception_score(...)`,
`precision_recall.precision_recall(...)`), so `from gan_jax.metrics import X` is unambiguous.
"""

from gan_jax.metrics.classifier import cached_classifier
from gan_jax.metrics.classifier import class_histogram
from gan_jax.metrics.classifier import class_histogram_kl
from gan_jax.metrics.classifier import classifier_accuracy
from gan_jax.metrics.classifier import classifier_features
from gan_jax.metrics.classifier import classifier_frechet_distance
from gan_jax.metrics.classifier import classifier_score
from gan_jax.metrics.classifier import file_sha256
from gan_jax.metrics.classifier import histogram_kl
from gan_jax.metrics.classifier import label_distribution
from gan_jax.metrics.classifier import load_classifier
from gan_jax.metrics.classifier import save_classifier
from gan_jax.metrics.classifier import top1_agreement
from gan_jax.metrics.classifier import train_classifier
from gan_jax.metrics.frechet import feature_statistics
from gan_jax.metrics.frechet import frechet_distance
from gan_jax.metrics.frechet import frechet_distance_from_features
from gan_jax.metrics.image_similarity import ms_ssim
from gan_jax.metrics.image_similarity import psnr
from gan_jax.metrics.image_similarity import ssim
from gan_jax.metrics.inception import convert_torch_state_dict
from gan_jax.metrics.inception import inception_apply
from gan_jax.metrics.inception import inception_features
from gan_jax.metrics.inception import load_inception
from gan_jax.metrics.inception import preprocess_images
from gan_jax.metrics.kid import kernel_inception_distance
from gan_jax.metrics.precision_recall import density_coverage
from gan_jax.metrics.precision_recall import knn_sq_radii

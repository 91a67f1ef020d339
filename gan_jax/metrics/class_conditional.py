"""Metrics of class-conditional generators and of InfoGAN's categorical code.

- Requested-class accuracy: the fraction of samples a classifier assigns to the class they
  were generated for, overall and per requested class.
- Code-to-class matching: InfoGAN's categorical code c is unsupervised, so its values carry
  no class names. The confusion matrix counts[c, k] (samples generated with code c that the
  classifier calls class k) is matched one-to-one with the Hungarian algorithm
  (`scipy.optimize.linear_sum_assignment`, maximizing matched counts); the code's error as a
  classifier is 1 - matched / total (Chen et al. 2016 report 5% on MNIST).

Pure numpy/scipy functions of predictions and labels; the protocol that produces them is in
gan_jax/conditional_evaluation.py.
"""

import numpy as np
import scipy.optimize


def _check(predicted, requested, num_classes):
  predicted = np.asarray(predicted)
  requested = np.asarray(requested)
  if predicted.ndim != 1 or predicted.shape != requested.shape:
    raise ValueError(f'Need one prediction per requested label; got {predicted.shape} and '
                     f'{requested.shape}.')
  if len(requested) and (requested.min() < 0 or requested.max() >= num_classes):
    raise ValueError(f'Requested labels must lie in [0, {num_classes}); got '
                     f'[{requested.min()}, {requested.max()}].')
  return predicted.astype(np.int64), requested.astype(np.int64)


def requested_class_accuracy(predicted, requested, num_classes: int) -> dict:
  """{'overall': float, 'per_class': [K floats (nan for a class never requested)]}."""
  predicted, requested = _check(predicted, requested, num_classes)
  hits = predicted == requested
  per_class = [float(hits[requested == c].mean()) if np.any(requested == c) else float('nan')
               for c in range(num_classes)]
  return {'overall': float(hits.mean()), 'per_class': per_class}


def confusion_counts(codes, predicted, num_codes: int, num_classes: int) -> np.ndarray:
  """counts (num_codes, num_classes): counts[c, k] = #samples of code c predicted as k."""
  predicted, codes = _check(predicted, codes, num_codes)
  if len(predicted) and (predicted.min() < 0 or predicted.max() >= num_classes):
    raise ValueError(f'Predictions must lie in [0, {num_classes}).')
  counts = np.zeros((num_codes, num_classes), np.int64)
  np.add.at(counts, (codes, predicted), 1)
  return counts


def matched_code_error(counts: np.ndarray) -> tuple[float, np.ndarray]:
  """(error, mapping) of the best one-to-one matching of code values to classes.

  mapping[c] is the class matched to code c (-1 for a code left unmatched when there are
  more codes than classes); error = 1 - sum_c counts[c, mapping[c]] / total.
  """
  counts = np.asarray(counts)
  if counts.ndim != 2 or counts.sum() <= 0:
    raise ValueError(f'Need a non-empty confusion matrix (codes, classes); got {counts.shape}.')
  rows, cols = scipy.optimize.linear_sum_assignment(counts, maximize=True)
  mapping = np.full((counts.shape[0],), -1, np.int64)
  mapping[rows] = cols
  return float(1.0 - counts[rows, cols].sum() / counts.sum()), mapping

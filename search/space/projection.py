"""A 2-D projection of document vectors for the map: PCA, in numpy.

PCA is linear, deterministic and one pass over the vectors (a d x d covariance, an eigen
decomposition): 100,000 documents project in well under a second, and distances along each axis
mean what they say. UMAP/t-SNE separate clusters more, but UMAP needs numba and pynndescent
(JIT-compiled on first use, tens of seconds on 2 cores) and neither is deterministic across
versions; docs/decisions.md, "The map's projection".
"""

from __future__ import annotations

import numpy as np


def pca_2d(vectors: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """(n, 2) coordinates scaled into [-1, 1], and the share of variance each axis explains.
    Axis signs are fixed (the largest loading positive) so a rebuild does not mirror the map."""
    n = len(vectors)
    if n == 0:
        return np.zeros((0, 2), np.float32), [0.0, 0.0]
    x = np.asarray(vectors, dtype=np.float32)
    centred = x - x.mean(axis=0, dtype=np.float64).astype(np.float32)
    covariance = (centred.T @ centred).astype(np.float64) / max(n - 1, 1)  # float32 product: BLAS sgemm
    values, axes = np.linalg.eigh(covariance)
    top = np.argsort(values)[::-1][:2]
    components = axes[:, top]
    if components.shape[1] < 2:  # 1-d vectors
        components = np.pad(components, ((0, 0), (0, 2 - components.shape[1])))
    signs = np.sign(components[np.argmax(np.abs(components), axis=0), [0, 1]])
    components = components * np.where(signs == 0, 1.0, signs)
    points = centred @ components
    scale = np.abs(points).max(axis=0)
    points = points / np.where(scale > 0, scale, 1.0)
    total = float(values.sum()) or 1.0
    explained = [float(max(values[i], 0.0) / total) for i in top] + [0.0] * (2 - len(top))
    return points.astype(np.float32), [round(e, 4) for e in explained]

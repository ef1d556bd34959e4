"""Label encoding shared by the metrics that group cells by a label (silhouettes, entropy).

Kept apart from any one metric so that a metric module does not import another just for this.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def encode_labels(labels: ArrayLike) -> tuple[NDArray[np.intp], NDArray]:
    """(codes, categories) with categories sorted, as `pd.Categorical(labels).codes` does."""
    categories, codes = np.unique(np.asarray(labels), return_inverse=True)
    return codes.reshape(-1), categories

"""The one place tfmodel imports Keras 3 (`import keras`), for models users bring or write with it.

tfmodel.backend imports tf_keras (Keras 2, which TFMOT needs) as `keras`; Keras 3 is what
`pip install tensorflow` gives users. The two are never mixed: a model's Keras is decided once,
where it enters, and Keras 3 objects are built only with the module imported here. TensorFlow is
loaded first, quietly, by tfmodel.backend.
"""

from tfmodel.backend import tf  # noqa: F401  (first: TensorFlow loads quietly there)

# isort: split
import keras

__all__ = ["keras"]

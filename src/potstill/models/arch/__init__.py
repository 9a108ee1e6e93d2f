"""The built-in architectures: :class:`~potstill.models.arch.mlp.MLP`,
:class:`~potstill.models.arch.ensemble.DeepEnsemble`, :class:`~potstill.models.arch.cnn.SmallCNN`
and :class:`~potstill.models.arch.mobilenet.MobileNetV2`; each has
``hidden_layer_names()``, ``embedding_layer_name()`` and a JSON ``spec()``.
"""

from __future__ import annotations

__all__: list[str] = []

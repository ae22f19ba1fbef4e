"""isit core: image decoding, preprocessing, the ONNX model bundle and prediction.

Shared by the Azure Function and by training so preprocessing cannot drift between
them. Imports no TensorFlow and nothing from ``training``.
"""

__version__ = "0.1.0"

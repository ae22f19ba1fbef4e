"""isit training: check a photo folder, cache backbone features, train a head, export ONNX.

Never imported by the Function or by the ``isit`` core.
"""

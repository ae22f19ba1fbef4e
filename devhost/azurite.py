"""Azurite, the local Azure Blob storage emulator, for feedback on this machine.

``make azurite`` installs the pinned npm package into ``tools/azurite/node_modules`` (after
that it runs offline). The tests and ``make serve-feedback`` start it here: blob service
only, on 127.0.0.1, a free port unless one is asked for, a workspace folder of its own,
``--disableTelemetry`` (it would otherwise keep calling out). The Function then writes to it
through the real ``azure-storage-blob`` SDK with :attr:`Azurite.connection_string`.

Command line (what ``make serve-feedback`` runs)::

    python -m devhost.azurite [--model PATH] [--port 7071] [--workspace .azurite]

starts Azurite and the dev host with ``FEEDBACK_STORAGE`` pointing at it; Ctrl+C stops both.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

from isit.errors import IsitError
from isit.photo_feedback import FeedbackSettings

ROOT = Path(__file__).resolve().parent.parent
AZURITE_BLOB = ROOT / "tools" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT = "devstoreaccount1"
# Azurite's published development key (the same in every Azurite): not a secret.
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
_LISTENING = re.compile(r"successfully listens on (http://[\d.]+:(\d+))")
START_TIMEOUT_S = 30.0


class AzuriteMissing(IsitError):
    code = "azurite_missing"


def azurite_command() -> list[str]:
    """The azurite-blob executable (``ISIT_AZURITE`` overrides), or a message saying how
    to install it."""
    if shutil.which("node") is None:
        raise AzuriteMissing(
            "Node.js is not installed, and Azurite (local Azure storage) needs it: install "
            "it (apt-get install nodejs npm), then run `make azurite`. Without Node, use "
            "`isit serve --feedback-dir DIR` to keep feedback in a folder."
        )
    binary = Path(os.environ.get("ISIT_AZURITE") or AZURITE_BLOB)
    if not binary.is_file():
        raise AzuriteMissing(
            f"Azurite is not installed at {binary}: run `make azurite` (npm installs the "
            "pinned azurite into tools/azurite/)."
        )
    return [str(binary)]


class Azurite:
    """One Azurite blob service process; ``start()`` returns once it listens."""

    def __init__(self, workspace: Path, port: int = 0, host: str = "127.0.0.1") -> None:
        self.workspace = Path(workspace)
        self.host = host
        self.port = port
        self.url = ""
        self.process: subprocess.Popen[str] | None = None

    @property
    def connection_string(self) -> str:
        """What ``FEEDBACK_STORAGE`` takes to reach this Azurite."""
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.url}/{ACCOUNT};"
        )

    def start(self, timeout: float = START_TIMEOUT_S) -> Azurite:
        self.workspace.mkdir(parents=True, exist_ok=True)
        command = [
            *azurite_command(),
            *("--blobHost", self.host, "--blobPort", str(self.port)),
            *("--location", str(self.workspace), "--disableTelemetry"),
            "--skipApiVersionCheck",  # the SDK may speak a newer API version than Azurite
            "--silent",
        ]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        output = self._wait_until_listening(timeout)
        # Keep reading, so a chatty Azurite never blocks on a full pipe.
        threading.Thread(target=self._drain, daemon=True, name="azurite-output").start()
        if not self.url:
            self.stop()
            raise AzuriteMissing("Azurite did not start:\n" + "".join(output)[-2000:])
        return self

    def _wait_until_listening(self, timeout: float) -> list[str]:
        assert self.process is not None and self.process.stdout is not None
        deadline, output = time.monotonic() + timeout, []
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            output.append(line)
            found = _LISTENING.search(line)
            if found:
                self.url, self.port = found.group(1), int(found.group(2))
                break
        return output

    def _drain(self) -> None:
        if self.process is not None and self.process.stdout is not None:
            for _ in self.process.stdout:
                pass

    def stop(self) -> None:
        """Stop the process (terminate; kill after 10 s). Idempotent."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """Azurite plus the dev host, with feedback on; what ``make serve-feedback`` runs."""
    from devhost.serve import DEFAULT_PORT, serve

    parser = argparse.ArgumentParser(prog="python -m devhost.azurite", description=__doc__)
    parser.add_argument("--model", help="model.onnx to serve (default: $MODEL_PATH)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="the dev host's port")
    parser.add_argument("--blob-port", type=int, default=10000, help="Azurite's (0 = any)")
    parser.add_argument("--workspace", default=str(ROOT / ".azurite"), help="Azurite's data")
    args = parser.parse_args(argv)
    try:
        azurite = Azurite(Path(args.workspace), args.blob_port).start()
    except IsitError as exc:
        print(f"error: {exc.message}")
        return 1
    os.environ["FEEDBACK_STORAGE"] = azurite.connection_string
    container = FeedbackSettings.from_env().container
    print(
        f"Azurite: {azurite.url} (data in {args.workspace}); flagged photos go to its "
        f"container '{container}'."
    )
    try:
        return serve(args.port, model=args.model)
    except IsitError as exc:
        print(f"error: {exc.message}")
        return 1
    finally:
        azurite.stop()


if __name__ == "__main__":
    raise SystemExit(main())

"""The Function's deployment files: host.json, local.settings.json.example, .funcignore."""

from __future__ import annotations

import json
from pathlib import Path

from devhost.server import route_prefix

ROOT = Path(__file__).resolve().parents[2]


def test_host_json_routes_under_api():
    host = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))
    assert host["version"] == "2.0"
    assert host["extensions"]["http"]["routePrefix"] == "api"
    assert route_prefix(ROOT / "host.json") == "api"  # what the dev host serves


def test_local_settings_example_has_every_app_setting():
    settings = json.loads((ROOT / "local.settings.json.example").read_text(encoding="utf-8"))
    values = settings["Values"]
    assert values["FUNCTIONS_WORKER_RUNTIME"] == "python"
    for name in (
        "AzureWebJobsStorage",
        "MODEL_PATH",
        "ALLOWED_ORIGINS",
        "MAX_UPLOAD_BYTES",
        "MAX_IMAGE_PIXELS",
    ):
        assert values[name], name
    assert int(values["MAX_UPLOAD_BYTES"]) == 10_000_000
    assert settings["Host"]["CORS"] == values["ALLOWED_ORIGINS"]


def test_funcignore_keeps_dev_only_things_out_of_the_package():
    lines = {
        line.strip().rstrip("/")
        for line in (ROOT / ".funcignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for excluded in (
        "training",
        "tests",
        "bench",
        "site",
        ".venv",
        "devhost",
        "infra",
        "local.settings.json",
        ".demo",
    ):
        assert excluded in lines, excluded
    for needed in ("function_app.py", "host.json", "requirements.txt", "isit", "model"):
        assert needed not in lines, needed

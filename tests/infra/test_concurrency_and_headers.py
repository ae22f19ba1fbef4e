"""Issue 14, finding 12: concurrency that fits the instance, and the page's security headers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_infra import expr, one_resource, templates  # noqa: F401  (the parsed-templates fixture)

ROOT = Path(__file__).resolve().parents[2]
SWA_CONFIG = ROOT / "site" / "staticwebapp.config.json"
GOAL_MB = 300  # the decode budget's per-request goal (bench/bench_hostile.py)


def _csp(value: str) -> dict[str, list[str]]:
    directives = {}
    for part in value.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


def test_per_instance_concurrency_fits_the_instance_memory(templates: dict[str, Any]) -> None:  # noqa: F811
    tpl = templates["modules/functionapp.bicep"]
    site = one_resource(templates, "Microsoft.Web/sites")
    scale = site["properties"]["functionAppConfig"]["scaleAndConcurrency"]
    assert scale["triggers"]["http"]["perInstanceConcurrency"] == "httpPerInstanceConcurrency"
    variables = {k: v["value"] for k, v in tpl["variables"].items()}
    assert expr(variables["httpPerInstanceConcurrency"]) == (
        "max(1, divide(substract(instanceMemoryMB, workerBaselineMB), requestWorstCaseMB))"
    )
    baseline, worst = variables["workerBaselineMB"], variables["requestWorstCaseMB"]
    assert worst >= GOAL_MB
    decorators = tpl["parameters"]["instanceMemoryMB"]["decorators"]
    allowed = next(d["argument"] for d in decorators if d["type"] == "allowed")
    for memory in allowed:
        concurrency = max(1, (memory - baseline) // worst)
        if memory >= 2048:
            assert concurrency >= 2
            assert baseline + concurrency * worst <= memory
    default = tpl["parameters"]["instanceMemoryMB"]["default"]
    assert max(1, (default - baseline) // worst) == 4


@pytest.fixture(scope="module")
def headers() -> dict[str, str]:
    return json.loads(SWA_CONFIG.read_text(encoding="utf-8"))["globalHeaders"]


def test_static_page_sends_security_headers(headers: dict[str, str]) -> None:
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] in ("no-referrer", "strict-origin-when-cross-origin")
    assert headers["X-Frame-Options"] == "DENY"


def test_csp_allows_only_what_the_page_uses(headers: dict[str, str]) -> None:
    csp = _csp(headers["Content-Security-Policy"])
    assert csp["default-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["script-src"] == ["'self'"]  # ES modules from the site, nothing inline
    assert csp["style-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'none'"]
    # The photo preview is an object URL; the API is the Function's azurewebsites.net host.
    assert set(csp["img-src"]) == {"'self'", "blob:", "data:"}
    assert set(csp["connect-src"]) == {"'self'", "https://*.azurewebsites.net"}
    for sources in csp.values():
        assert "'unsafe-inline'" not in sources and "'unsafe-eval'" not in sources
        assert "*" not in sources


def test_the_page_needs_nothing_the_csp_forbids() -> None:
    html = (ROOT / "site" / "index.html").read_text(encoding="utf-8")
    assert "style=" not in html and "onclick" not in html.lower()
    scripts = html.count("<script")
    assert scripts == html.count('<script type="module" src=')  # no inline script

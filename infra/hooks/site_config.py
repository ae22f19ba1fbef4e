"""azd hook: point the page at the deployed API, then put the page back as it was.

`azd deploy` (and `azd up`) run, from the repository root:
  predeploy:  python3 infra/hooks/site_config.py write    # before the page is uploaded
  postdeploy: python3 infra/hooks/site_config.py restore  # after the upload

`write` sets ``API_BASE_URL`` in site/config.js to the Function's URL, read from the
``API_URL`` output that `azd provision` saved in the azd environment. The page is
served from the Static Web App origin, so without this it would call itself.
`restore` sets it back to "" (same origin), the value kept in git and used locally.
Only the string value is touched; the rest of the file is kept byte for byte.

Standard library only: it runs on the deploying machine, outside any venv.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

SITE_DIR = Path(__file__).resolve().parents[2] / "site"
CONFIG_NAME = "config.js"
# export const API_BASE_URL = "...";  (single or double quotes, any spacing)
_ASSIGNMENT = re.compile(
    r"""(?P<head>export\s+const\s+API_BASE_URL\s*=\s*)(?P<q>["'])(?P<value>.*?)(?P=q)"""
)


class HookError(Exception):
    """A problem the person deploying can fix; printed without a traceback."""


def api_base_url(raw: str | None) -> str:
    """Validate the API URL from the azd environment and drop any trailing slash."""
    if not raw or not raw.strip():
        raise HookError(
            "API_URL is not set in the azd environment. Run `azd provision` (or `azd up`) "
            "first; it saves the Function's URL as API_URL."
        )
    url = raw.strip().rstrip("/")
    parts = urlsplit(url)
    local = parts.hostname in {"localhost", "127.0.0.1"}
    if parts.scheme != "https" and not (parts.scheme == "http" and local):
        raise HookError(f"API_URL must be an https:// URL, got {raw!r}.")
    if not parts.hostname or parts.query or parts.fragment:
        raise HookError(
            f"API_URL must be a plain origin like https://name.azurewebsites.net, got {raw!r}."
        )
    return url


def set_api_base_url(config_path: Path, value: str) -> bool:
    """Set API_BASE_URL in ``config_path`` to ``value``; True if the file changed."""
    if not config_path.is_file():
        raise HookError(f"{config_path} is missing; the page cannot be configured.")
    text = config_path.read_text(encoding="utf-8")
    match = _ASSIGNMENT.search(text)
    if match is None:
        raise HookError(f'{config_path} has no line like `export const API_BASE_URL = "";` to set.')
    literal = json.dumps(value)  # a valid JS string literal, quotes escaped
    new_text = text[: match.start()] + match.group("head") + literal + text[match.end() :]
    if new_text == text:
        return False
    config_path.write_text(new_text, encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["write", "restore"])
    parser.add_argument("--site-dir", type=Path, default=SITE_DIR, help="folder holding config.js")
    args = parser.parse_args(argv)
    config_path = args.site_dir / CONFIG_NAME
    try:
        if args.action == "write":
            url = api_base_url(os.environ.get("API_URL"))
            set_api_base_url(config_path, url)
            print(f"site/config.js: API_BASE_URL = {url}")
        else:
            set_api_base_url(config_path, "")
            print('site/config.js: API_BASE_URL = "" (same origin)')
    except HookError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Offline validation of the Azure deployment: infra/*.bicep, infra/main.parameters.json,
azure.yaml and the azd hook that points the page at the API.

No Bicep compiler can run here, so the templates are checked three ways:
1. every .bicep file parses with pycep-parser;
2. checkov (in .venv-iac, offline) reports no failed check, and every suppressed
   check carries a written reason in the template;
3. structural tests on the parsed templates assert the settings the design asks for.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pycep import BicepParser

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
# Overridable so a test can prove a missing checkov fails loudly instead of skipping.
CHECKOV = Path(os.environ.get("ISIT_CHECKOV", ROOT / ".venv-iac" / "bin" / "checkov"))
HOOK = INFRA / "hooks" / "site_config.py"

STORAGE_BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"


# ------------------------------------------------------------------ helpers


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


@pytest.fixture(scope="module")
def templates() -> dict[str, dict[str, Any]]:
    """Every template parsed once, keyed by its path relative to infra/."""
    parser = BicepParser()
    return {str(p.relative_to(INFRA)): parser.parse(file_path=p) for p in bicep_files()}


def expr(node: Any) -> Any:
    """Render a pycep expression tree as compact Bicep-like text, e.g. 'api.outputs.url'.

    Literals come back unchanged, so tests can compare both kinds of value."""
    if isinstance(node, dict) and "operator" in node:
        op = node["operator"]
        operands = op["operands"]
        if op["type"] == "property_accessor":
            return f"{expr(operands['operand_1'])}.{expr(operands['operand_2'])}"
        return f"{op['type']}({', '.join(str(expr(v)) for v in operands.values())})"
    if isinstance(node, dict) and "function" in node:
        fn = node["function"]
        args = ", ".join(str(expr(v)) for v in fn["parameters"].values() if v is not None)
        return f"{fn['type']}({args})"
    if isinstance(node, list):
        return [expr(v) for v in node]
    return node


def resources_of_type(templates: dict[str, dict[str, Any]], rtype: str) -> list[dict[str, Any]]:
    found = [
        res
        for tpl in templates.values()
        for res in tpl.get("resources", {}).values()
        if res["type"] == rtype and not res["existing"]  # 'existing' = a reference
    ]
    assert found, f"no {rtype} resource in infra/"
    return found


def one_resource(templates: dict[str, dict[str, Any]], rtype: str) -> dict[str, Any]:
    found = resources_of_type(templates, rtype)
    assert len(found) == 1, f"expected one {rtype}, found {len(found)}"
    return found[0]["config"]


def walk_values(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        for value in node.values():
            yield from walk_values(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk_values(value)
    else:
        yield node


def app_settings(templates: dict[str, dict[str, Any]]) -> dict[str, Any]:
    site = one_resource(templates, "Microsoft.Web/sites")
    settings = site["properties"]["siteConfig"]["appSettings"]
    return {item["name"]: expr(item["value"]) for item in settings}


def module_call(templates: dict[str, dict[str, Any]], path: str) -> dict[str, Any]:
    calls = [m for m in templates["main.bicep"]["modules"].values() if m["detail"]["path"] == path]
    assert len(calls) == 1, f"main.bicep should call {path} once"
    return calls[0]["config"]


# ------------------------------------------------------------------ parsing


def test_infra_has_the_expected_templates() -> None:
    names = {str(p.relative_to(INFRA)) for p in bicep_files()}
    assert "main.bicep" in names
    assert {
        "modules/feedback.bicep",
        "modules/functionapp.bicep",
        "modules/storage.bicep",
        "modules/monitoring.bicep",
        "modules/staticwebapp.bicep",
        "modules/rbac.bicep",
        "modules/identity.bicep",
    } <= names


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: str(p.relative_to(INFRA)))
def test_every_bicep_file_parses(path: Path) -> None:
    parsed = BicepParser().parse(file_path=path)
    assert parsed.get("resources") or parsed.get("modules"), f"{path} declares nothing"


def test_every_module_main_calls_exists(templates: dict[str, dict[str, Any]]) -> None:
    for call in templates["main.bicep"]["modules"].values():
        assert (INFRA / call["detail"]["path"]).is_file(), call["detail"]["path"]


# ------------------------------------------------------------------ checkov


@pytest.fixture(scope="module")
def checkov_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One offline checkov run over a copy of infra/ plus a known-bad control template.

    The control proves this invocation really evaluates checks: checkov exits 0 on parse
    errors and reports nothing for files it skips, so a silent no-op must not pass."""
    if not CHECKOV.is_file():
        pytest.fail(
            f"{CHECKOV} is missing: run `make iac-venv` "
            "(checkov lives in its own venv because its pins clash with TensorFlow)."
        )
    work = tmp_path_factory.mktemp("checkov")
    shutil.copytree(INFRA, work / "infra")
    (work / "control").mkdir()
    (work / "control" / "insecure.bicep").write_text(
        "param location string = resourceGroup().location\n"
        "resource bad 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n"
        "  name: 'insecurecontrol'\n"
        "  location: location\n"
        "  kind: 'StorageV2'\n"
        "  sku: {\n"
        "    name: 'Standard_LRS'\n"
        "  }\n"
        "  properties: {\n"
        "    minimumTlsVersion: 'TLS1_0'\n"
        "    supportsHttpsTrafficOnly: false\n"
        "  }\n"
        "}\n"
    )
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE"}
    proc = subprocess.run(
        [str(CHECKOV), "-d", str(work), "--framework", "bicep", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov printed no JSON (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    assert isinstance(report, dict), "expected one bicep report"
    return report


def test_missing_checkov_fails_and_says_make_iac_venv(tmp_path: Path) -> None:
    env = {**os.environ, "ISIT_CHECKOV": str(tmp_path / "no-checkov")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            f"{Path(__file__)}::test_checkov_parses_every_template",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout[-2000:]
    assert "make iac-venv" in proc.stdout
    assert "1 error" in proc.stdout or "1 failed" in proc.stdout
    assert "skipped" not in proc.stdout


def _checks(report: dict[str, Any], kind: str, folder: str) -> list[dict[str, Any]]:
    return [c for c in report["results"].get(kind, []) if c["file_path"].startswith(f"/{folder}/")]


def test_checkov_parses_every_template(checkov_report: dict[str, Any]) -> None:
    assert checkov_report["check_type"] == "bicep"
    assert checkov_report["summary"]["parsing_errors"] == 0
    assert checkov_report["results"].get("parsing_errors", []) == []
    assert checkov_report["summary"]["resource_count"] >= 10


def test_checkov_catches_the_insecure_control(checkov_report: dict[str, Any]) -> None:
    failed = {c["check_id"] for c in _checks(checkov_report, "failed_checks", "control")}
    assert {"CKV_AZURE_3", "CKV_AZURE_44"} <= failed  # HTTPS only, TLS 1.2


def test_checkov_has_no_failed_check_in_infra(checkov_report: dict[str, Any]) -> None:
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for c in _checks(checkov_report, "failed_checks", "infra")
    ]
    assert failed == [], "\n".join(failed)
    assert len(_checks(checkov_report, "passed_checks", "infra")) >= 15


def test_every_suppressed_check_has_a_written_reason(checkov_report: dict[str, Any]) -> None:
    skipped = _checks(checkov_report, "skipped_checks", "infra")
    assert skipped, "expected the documented suppressions to be reported as skipped"
    for check in skipped:
        reason = check["check_result"].get("suppress_comment", "")
        assert reason != "No comment provided" and len(reason.split()) >= 6, (
            f"{check['check_id']} on {check['resource']} is suppressed without a reason"
        )
    # The security basics are never suppressed: they must pass.
    never_skipped = {"CKV_AZURE_3", "CKV_AZURE_44", "CKV_AZURE_14", "CKV_AZURE_15", "CKV_AZURE_57"}
    assert not never_skipped & {c["check_id"] for c in skipped}
    passed = {c["check_id"] for c in _checks(checkov_report, "passed_checks", "infra")}
    assert never_skipped <= passed


def test_suppressions_in_templates_match_the_report(checkov_report: dict[str, Any]) -> None:
    in_text = set()
    for path in bicep_files():
        in_text |= set(re.findall(r"checkov:skip=(CKV_[A-Z0-9_]+):\S", path.read_text()))
    reported = {c["check_id"] for c in _checks(checkov_report, "skipped_checks", "infra")}
    assert in_text == reported, "a checkov:skip comment is outside its resource or lacks a reason"


# ------------------------------------------------------------------ Function App


def test_plan_is_flex_consumption_linux(templates: dict[str, dict[str, Any]]) -> None:
    plan = one_resource(templates, "Microsoft.Web/serverfarms")
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    assert plan["properties"]["reserved"] is True  # Linux


def test_function_app_runs_python_311_on_the_flex_plan(
    templates: dict[str, dict[str, Any]],
) -> None:
    site = one_resource(templates, "Microsoft.Web/sites")
    assert site["kind"] == "functionapp,linux"
    assert expr(site["properties"]["serverFarmId"]) == "plan.id"
    runtime = site["properties"]["functionAppConfig"]["runtime"]
    assert runtime["name"] == "python"
    version = templates["modules/functionapp.bicep"]["parameters"][runtime["version"]]
    assert version["default"] == "3.11"
    allowed = [d["argument"] for d in version["decorators"] if d["type"] == "allowed"]
    assert allowed == [["3.11"]]
    assert module_call(templates, "modules/functionapp.bicep")["params"]["pythonVersion"] == "3.11"


def test_always_ready_instances_default_to_zero(templates: dict[str, dict[str, Any]]) -> None:
    for name in ("main.bicep", "modules/functionapp.bicep"):
        param = templates[name]["parameters"]["alwaysReadyInstanceCount"]
        assert param["type"] == "int" and param["default"] == 0, name
    params = module_call(templates, "modules/functionapp.bicep")["params"]
    assert params["alwaysReadyInstanceCount"] == "alwaysReadyInstanceCount"
    site = one_resource(templates, "Microsoft.Web/sites")
    scale = site["properties"]["functionAppConfig"]["scaleAndConcurrency"]
    always_ready = scale["alwaysReady"]["operator"]["operands"]
    assert expr(always_ready["condition"]) == "greater_than(alwaysReadyInstanceCount, 0)"
    assert always_ready["true_value"] == [
        {"name": "http", "instanceCount": "alwaysReadyInstanceCount"}
    ]
    assert always_ready["false_value"] == []
    assert scale["maximumInstanceCount"] == "maximumInstanceCount"
    assert scale["instanceMemoryMB"] == "instanceMemoryMB"
    fn_params = templates["modules/functionapp.bicep"]["parameters"]
    assert fn_params["instanceMemoryMB"]["default"] == 2048
    assert 1 <= fn_params["maximumInstanceCount"]["default"] <= 1000


def test_function_app_is_https_only_with_tls12_and_no_ftp(
    templates: dict[str, dict[str, Any]],
) -> None:
    site = one_resource(templates, "Microsoft.Web/sites")
    props = site["properties"]
    assert props["httpsOnly"] is True
    assert props["siteConfig"]["minTlsVersion"] == "1.2"
    assert props["siteConfig"]["scmMinTlsVersion"] == "1.2"
    # Flex Consumption has no FTP endpoint and ARM rejects siteConfig.ftpsState for it,
    # so FTP (and basic-auth publishing generally) is switched off by policy instead.
    assert "ftpsState" not in props["siteConfig"]
    policies = {
        res["config"]["name"]: res["config"]
        for res in resources_of_type(
            templates, "Microsoft.Web/sites/basicPublishingCredentialsPolicies"
        )
    }
    assert set(policies) == {"ftp", "scm"}
    for policy in policies.values():
        assert policy["parent"] == "functionApp"
        assert policy["properties"]["allow"] is False


def test_no_site_property_that_flex_consumption_rejects(
    templates: dict[str, dict[str, Any]],
) -> None:
    """ARM refuses these on FC1 sites (error 51021); runtime and scale live in functionAppConfig."""
    site_config = one_resource(templates, "Microsoft.Web/sites")["properties"]["siteConfig"]
    rejected = {
        "linuxFxVersion",
        "windowsFxVersion",
        "pythonVersion",
        "alwaysOn",
        "ftpsState",
        "use32BitWorkerProcess",
        "preWarmedInstanceCount",
        "functionAppScaleLimit",
        "functionsRuntimeScaleMonitoringEnabled",
    }
    assert not rejected & set(site_config)


def test_function_uses_its_managed_identity_for_storage(
    templates: dict[str, dict[str, Any]],
) -> None:
    site = one_resource(templates, "Microsoft.Web/sites")
    assert site["identity"]["type"] == "UserAssigned"
    deployment = site["properties"]["functionAppConfig"]["deployment"]["storage"]
    assert deployment["type"] == "blobContainer"
    assert deployment["authentication"] == {
        "type": "UserAssignedIdentity",
        "userAssignedIdentityResourceId": "identityId",
    }
    settings = app_settings(templates)
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["AzureWebJobsStorage__accountName"] == "storageAccountName"
    assert settings["AzureWebJobsStorage__clientId"] == "identityClientId"
    assert "AzureWebJobsStorage" not in settings  # no connection string
    # Settings Flex Consumption rejects or replaces with functionAppConfig.
    for deprecated in (
        "FUNCTIONS_WORKER_RUNTIME",
        "FUNCTIONS_EXTENSION_VERSION",
        "WEBSITE_RUN_FROM_PACKAGE",
        "WEBSITE_CONTENTSHARE",
        "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    ):
        assert deprecated not in settings
    params = module_call(templates, "modules/functionapp.bicep")["params"]
    assert expr(params["identityId"]) == "identity.outputs.id"
    assert expr(params["identityClientId"]) == "identity.outputs.clientId"
    assert expr(params["deploymentContainerUrl"]) == "storage.outputs.deploymentContainerUrl"


def test_no_storage_key_or_connection_string_anywhere() -> None:
    for path in bicep_files():
        text = path.read_text()
        assert "listKeys(" not in text, path
        assert "AccountKey=" not in text, path
        assert "DefaultEndpointsProtocol" not in text, path


def test_isit_app_settings_are_set(templates: dict[str, dict[str, Any]]) -> None:
    settings = app_settings(templates)
    params = templates["modules/functionapp.bicep"]["parameters"]
    assert settings["MODEL_PATH"] == "modelPath"
    assert params["modelPath"]["default"] == "model/model.onnx"
    assert settings["ALLOWED_ORIGINS"] == "join(allowedOrigins, ,)"
    assert settings["MAX_UPLOAD_BYTES"] == "string(maxUploadBytes)"
    assert settings["MAX_IMAGE_PIXELS"] == "string(maxImagePixels)"
    assert params["maxUploadBytes"]["default"] == 10_000_000  # function_app.py's default
    assert params["maxImagePixels"]["default"] == 80_000_000  # the core's decode limit
    call = module_call(templates, "modules/functionapp.bicep")["params"]
    assert call["modelPath"] == "model/model.onnx"
    assert call["maxUploadBytes"] == "maxUploadBytes"
    assert call["maxImagePixels"] == "maxImagePixels"


def test_application_insights_is_wired_with_entra_auth(
    templates: dict[str, dict[str, Any]],
) -> None:
    workspace = one_resource(templates, "Microsoft.OperationalInsights/workspaces")
    assert workspace["properties"]["retentionInDays"] == "retentionInDays"
    insights = one_resource(templates, "Microsoft.Insights/components")
    assert expr(insights["properties"]["WorkspaceResourceId"]) == "logAnalytics.id"
    assert insights["properties"]["DisableLocalAuth"] is True
    settings = app_settings(templates)
    assert (
        settings["APPLICATIONINSIGHTS_CONNECTION_STRING"] == "applicationInsightsConnectionString"
    )
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == (
        "ClientId=${identityClientId};Authorization=AAD"
    )
    call = module_call(templates, "modules/functionapp.bicep")["params"]
    assert (
        expr(call["applicationInsightsConnectionString"]) == "monitoring.outputs.connectionString"
    )
    outputs = templates["modules/monitoring.bicep"]["outputs"]
    assert expr(outputs["connectionString"]["value"]) == (
        "applicationInsights.properties.ConnectionString"
    )


def test_identity_gets_exactly_the_roles_flex_needs(templates: dict[str, dict[str, Any]]) -> None:
    rbac = templates["modules/rbac.bicep"]
    role_ids = {name: var["value"] for name, var in rbac["variables"].items()}
    assignments = {
        expr(res["config"]["properties"]["roleDefinitionId"]): res["config"]
        for res in rbac["resources"].values()
        if res["type"] == "Microsoft.Authorization/roleAssignments"
    }
    by_role = {role_ids[key.split(", ")[-1].rstrip(")")]: cfg for key, cfg in assignments.items()}
    assert set(by_role) == {STORAGE_BLOB_DATA_OWNER, MONITORING_METRICS_PUBLISHER}
    assert by_role[STORAGE_BLOB_DATA_OWNER]["scope"] == "storage"
    assert by_role[MONITORING_METRICS_PUBLISHER]["scope"] == "applicationInsights"
    for cfg in by_role.values():
        assert cfg["properties"]["principalId"] == "principalId"
        assert cfg["properties"]["principalType"] == "ServicePrincipal"
    rbac_call = module_call(templates, "modules/rbac.bicep")
    assert expr(rbac_call["params"]["principalId"]) == "identity.outputs.principalId"
    # The Function waits for its roles, so the host can reach storage on first start.
    assert module_call(templates, "modules/functionapp.bicep")["dependsOn"] == ["rbac"]


# ------------------------------------------------------------------ storage


def test_storage_is_private_keyless_https_tls12(templates: dict[str, dict[str, Any]]) -> None:
    account = one_resource(templates, "Microsoft.Storage/storageAccounts")
    props = account["properties"]
    assert props["allowSharedKeyAccess"] is False
    assert props["allowBlobPublicAccess"] is False
    assert props["minimumTlsVersion"] == "TLS1_2"
    assert props["supportsHttpsTrafficOnly"] is True
    assert props["defaultToOAuthAuthentication"] is True
    containers = resources_of_type(
        templates, "Microsoft.Storage/storageAccounts/blobServices/containers"
    )
    assert len(containers) == 2  # the deployment package's and the feedback's
    for container in containers:
        assert container["config"]["properties"]["publicAccess"] == "None"


# ------------------------------------------------------------------ page, CORS, outputs


def test_page_is_a_free_static_web_app_tagged_for_azd(templates: dict[str, dict[str, Any]]) -> None:
    swa = one_resource(templates, "Microsoft.Web/staticSites")
    assert swa["sku"] == {"name": "Free", "tier": "Free"}
    assert swa["tags"]["function"]["parameters"]["arg_2"] == {"'azd-service-name'": "web"}
    site = one_resource(templates, "Microsoft.Web/sites")
    assert site["tags"]["function"]["parameters"]["arg_2"] == {"'azd-service-name'": "api"}
    outputs = templates["modules/staticwebapp.bicep"]["outputs"]
    assert outputs["url"]["value"] == "https://${staticWebApp.properties.defaultHostname}"


def test_cors_allows_exactly_the_static_web_app_origin(
    templates: dict[str, dict[str, Any]],
) -> None:
    site = one_resource(templates, "Microsoft.Web/sites")
    cors = site["properties"]["siteConfig"]["cors"]
    assert cors == {"allowedOrigins": "allowedOrigins", "supportCredentials": False}
    call = module_call(templates, "modules/functionapp.bicep")["params"]
    assert expr(call["allowedOrigins"]) == "concat(['web.outputs.url'], extraAllowedOrigins)"
    assert templates["main.bicep"]["parameters"]["extraAllowedOrigins"]["default"] == []
    # No wildcard origin anywhere in any template.
    for name, tpl in templates.items():
        for value in walk_values(tpl):
            assert value != "*", f"'*' found in {name}"
    for path in bicep_files():
        code = "\n".join(
            line for line in path.read_text().splitlines() if not line.lstrip().startswith("//")
        )
        assert not re.search(r"""['"]\*['"]""", code), path


def test_outputs_give_the_page_and_api_urls(templates: dict[str, dict[str, Any]]) -> None:
    outputs = templates["main.bicep"]["outputs"]
    assert expr(outputs["API_URL"]["value"]) == "api.outputs.url"
    assert expr(outputs["WEB_URL"]["value"]) == "web.outputs.url"
    fn_out = templates["modules/functionapp.bicep"]["outputs"]
    assert fn_out["url"]["value"] == "https://${functionApp.properties.defaultHostName}"
    for name in ("AZURE_LOCATION", "AZURE_RESOURCE_GROUP", "AZURE_FUNCTION_APP_NAME"):
        assert name in outputs


def test_main_is_subscription_scoped_and_azd_ready(templates: dict[str, dict[str, Any]]) -> None:
    main = templates["main.bicep"]
    assert main["globals"]["scope"]["value"] == "subscription"
    location = main["parameters"]["location"]
    metadata = [d["argument"] for d in location["decorators"] if d["type"] == "metadata"]
    assert metadata == [{"azd": {"type": "location"}}]


def test_parameters_file_matches_main_bicep(templates: dict[str, dict[str, Any]]) -> None:
    data = json.loads((INFRA / "main.parameters.json").read_text())
    values = {name: p["value"] for name, p in data["parameters"].items()}
    declared = templates["main.bicep"]["parameters"]
    assert set(values) <= set(declared), "parameters file names an unknown parameter"
    required = {name for name, p in declared.items() if p.get("default") is None}
    assert required <= set(values), "a parameter without default is not supplied"
    assert values["environmentName"] == "${AZURE_ENV_NAME}"
    assert values["location"] == "${AZURE_LOCATION}"
    assert values["alwaysReadyInstanceCount"] == 0


# ------------------------------------------------------------------ azure.yaml


@pytest.fixture(scope="module")
def azure_yaml() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "azure.yaml").read_text())
    assert isinstance(data, dict)
    return data


def test_azure_yaml_names_both_services(azure_yaml: dict[str, Any]) -> None:
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", azure_yaml["name"])
    assert azure_yaml["infra"] == {"provider": "bicep", "path": "infra", "module": "main"}
    services = azure_yaml["services"]
    assert set(services) == {"api", "web"}
    assert services["api"] == {"project": ".", "language": "python", "host": "function"}
    assert services["web"]["project"] == "site"
    assert services["web"]["host"] == "staticwebapp"
    assert services["web"]["dist"] == "."


def test_azure_yaml_paths_exist(azure_yaml: dict[str, Any]) -> None:
    infra = ROOT / azure_yaml["infra"]["path"]
    assert (infra / f"{azure_yaml['infra']['module']}.bicep").is_file()
    assert (infra / "main.parameters.json").is_file()
    api = ROOT / azure_yaml["services"]["api"]["project"]
    for needed in ("function_app.py", "host.json", "requirements.txt"):
        assert (api / needed).is_file(), f"api service lacks {needed}"
    web = ROOT / azure_yaml["services"]["web"]["project"]
    for needed in ("index.html", "config.js"):
        assert (web / needed).is_file(), f"web service lacks {needed}"


def test_azure_yaml_hooks_run_the_config_script(azure_yaml: dict[str, Any]) -> None:
    hooks = azure_yaml["hooks"]
    for event, action in (("predeploy", "write"), ("postdeploy", "restore")):
        for platform in ("posix", "windows"):
            run = hooks[event][platform]["run"].split()
            assert run[-2:] == ["infra/hooks/site_config.py", action], (event, platform)
            assert (ROOT / run[-2]).is_file()


def test_model_ships_in_the_function_package() -> None:
    """azd and Core Tools package the repo root minus .funcignore; model/ must stay in."""
    funcignore = ROOT / ".funcignore"
    assert funcignore.is_file()
    patterns = [
        line.strip()
        for line in funcignore.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for pattern in patterns:
        bare = pattern.strip("/")
        for path in ("model", "model/model.onnx", "function_app.py", "host.json", "isit"):
            assert not fnmatch.fnmatch(path, bare), f".funcignore pattern {pattern!r} drops {path}"
    for kept_out in ("infra/", "site/", "training/", "tests/"):
        assert kept_out in patterns


# ------------------------------------------------------------------ the hook


def run_hook(action: str, site_dir: Path, api_url: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "API_URL"}
    if api_url is not None:
        env["API_URL"] = api_url
    return subprocess.run(
        [sys.executable, str(HOOK), action, "--site-dir", str(site_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.fixture
def site_copy(tmp_path: Path) -> Path:
    """A copy of the real site/config.js (the hook must never touch the working tree here)."""
    shutil.copy(ROOT / "site" / "config.js", tmp_path / "config.js")
    return tmp_path


def test_committed_config_points_at_same_origin() -> None:
    text = (ROOT / "site" / "config.js").read_text()
    assert re.search(r"""export\s+const\s+API_BASE_URL\s*=\s*(""|'')""", text)


def test_hook_writes_the_api_url_then_restores_the_file(site_copy: Path) -> None:
    config = site_copy / "config.js"
    original = config.read_bytes()
    done = run_hook("write", site_copy, "https://func-abc123.azurewebsites.net/")
    assert done.returncode == 0, done.stderr
    written = config.read_text()
    assert 'export const API_BASE_URL = "https://func-abc123.azurewebsites.net";' in written
    assert written.replace("https://func-abc123.azurewebsites.net", "").encode() == original
    done = run_hook("restore", site_copy, None)
    assert done.returncode == 0, done.stderr
    assert config.read_bytes() == original


def test_hook_write_is_idempotent_and_keeps_other_lines(tmp_path: Path) -> None:
    config = tmp_path / "config.js"
    config.write_text(
        "// comment\nexport const API_BASE_URL = 'http://old';\nexport const X = 1;\n"
    )
    for _ in range(2):
        assert run_hook("write", tmp_path, "https://api.example.net").returncode == 0
    assert config.read_text() == (
        '// comment\nexport const API_BASE_URL = "https://api.example.net";\nexport const X = 1;\n'
    )


@pytest.mark.parametrize(
    ("api_url", "message"),
    [
        (None, "azd provision"),
        ("", "azd provision"),
        ("http://func-abc.azurewebsites.net", "https://"),
        ("ftp://func-abc.azurewebsites.net", "https://"),
        ("https://func-abc.azurewebsites.net/?x=1", "plain origin"),
    ],
)
def test_hook_refuses_a_missing_or_unsafe_url(
    site_copy: Path, api_url: str | None, message: str
) -> None:
    before = (site_copy / "config.js").read_bytes()
    done = run_hook("write", site_copy, api_url)
    assert done.returncode == 1
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert (site_copy / "config.js").read_bytes() == before


def test_hook_explains_a_config_without_the_setting(tmp_path: Path) -> None:
    (tmp_path / "config.js").write_text("export const SOMETHING_ELSE = 1;\n")
    done = run_hook("write", tmp_path, "https://func-abc.azurewebsites.net")
    assert done.returncode == 1
    assert "API_BASE_URL" in done.stderr
    missing = run_hook("restore", tmp_path / "nowhere", None)
    assert missing.returncode == 1 and "missing" in missing.stderr


# ------------------------------------------------------------------ feedback (issue 27)


def test_feedback_container_is_private_with_a_container_scoped_writer_role(
    templates: dict[str, dict[str, Any]],
) -> None:
    feedback = templates["modules/feedback.bicep"]
    resources = feedback["resources"]
    container = resources["feedbackContainer"]["config"]
    assert resources["feedbackContainer"]["type"].endswith("/blobServices/containers")
    assert container["name"] == "containerName" and container["parent"] == "blobService"
    assert container["properties"] == {"publicAccess": "None"}
    assert feedback["parameters"]["containerName"]["default"] == "feedback"
    role = resources["feedbackWriter"]["config"]
    assert resources["feedbackWriter"]["type"] == "Microsoft.Authorization/roleAssignments"
    assert role["scope"] == "feedbackContainer"  # the container only, not the account
    variables = {name: var["value"] for name, var in feedback["variables"].items()}
    role_id = expr(role["properties"]["roleDefinitionId"]).split(", ")[-1].rstrip(")")
    assert variables[role_id] == STORAGE_BLOB_DATA_CONTRIBUTOR
    assert role["properties"]["principalId"] == "principalId"
    assert role["properties"]["principalType"] == "ServicePrincipal"
    call = module_call(templates, "modules/feedback.bicep")
    assert expr(call["params"]["principalId"]) == "identity.outputs.principalId"
    assert expr(call["params"]["storageAccountName"]) == "storage.outputs.name"


def test_feedback_is_deleted_after_the_retention_days(
    templates: dict[str, dict[str, Any]],
) -> None:
    from isit.photo_feedback import FeedbackSettings

    feedback = templates["modules/feedback.bicep"]
    policy = feedback["resources"]["lifecycle"]
    assert policy["type"] == "Microsoft.Storage/storageAccounts/managementPolicies"
    assert policy["config"]["name"] == "default" and policy["config"]["parent"] == "storage"
    (rule,) = policy["config"]["properties"]["policy"]["rules"]
    assert rule["enabled"] is True and rule["type"] == "Lifecycle"
    assert rule["definition"]["filters"]["prefixMatch"] == ["${containerName}/items/"]
    assert rule["definition"]["filters"]["blobTypes"] == ["blockBlob"]
    delete = rule["definition"]["actions"]["baseBlob"]["delete"]
    assert delete == {"daysAfterCreationGreaterThan": "retentionDays"}
    # One number: what the rule deletes after is what the page tells visitors.
    default = FeedbackSettings().retention_days
    assert feedback["parameters"]["retentionDays"]["default"] == default
    assert templates["main.bicep"]["parameters"]["feedbackRetentionDays"]["default"] == default
    call = module_call(templates, "modules/feedback.bicep")["params"]
    assert call["retentionDays"] == "feedbackRetentionDays"
    assert (
        module_call(templates, "modules/functionapp.bicep")["params"]["feedbackRetentionDays"]
        == "feedbackRetentionDays"
    )
    assert app_settings(templates)["FEEDBACK_RETENTION_DAYS"] == "string(feedbackRetentionDays)"


def test_feedback_app_settings_are_off_by_default_and_use_the_identity(
    templates: dict[str, dict[str, Any]],
) -> None:
    from isit.photo_feedback import FeedbackSettings

    defaults = FeedbackSettings()
    settings = app_settings(templates)
    assert settings["FEEDBACK_STORAGE"] == "feedbackStorageUrl"
    assert settings["FEEDBACK_CONTAINER"] == "feedbackContainerName"
    assert settings["FEEDBACK_CLIENT_ID"] == "identityClientId"  # no key, no connection string
    assert settings["FEEDBACK_DAILY_CAP"] == "string(feedbackDailyCap)"
    assert settings["FEEDBACK_RATE_PER_MINUTE"] == "string(feedbackRatePerMinute)"
    main = templates["main.bicep"]["parameters"]
    assert main["enableFeedback"] == {**main["enableFeedback"], "type": "bool", "default": False}
    assert main["feedbackDailyCap"]["default"] == defaults.daily_cap
    assert main["feedbackRatePerMinute"]["default"] == defaults.rate_per_minute
    fn = templates["modules/functionapp.bicep"]["parameters"]
    assert fn["feedbackStorageUrl"]["default"] == ""  # off unless main.bicep says otherwise
    assert fn["feedbackContainerName"]["default"] == defaults.container
    assert fn["feedbackDailyCap"]["default"] == defaults.daily_cap
    assert fn["feedbackRatePerMinute"]["default"] == defaults.rate_per_minute
    call = module_call(templates, "modules/functionapp.bicep")["params"]
    assert expr(call["feedbackStorageUrl"]) == (
        "conditional(enableFeedback, storage.outputs.blobEndpoint, )"
    )
    assert expr(call["feedbackContainerName"]) == "feedback.outputs.containerName"
    values = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert values["enableFeedback"]["value"] == "${ISIT_FEEDBACK=false}"

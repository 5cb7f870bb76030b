"""deploy/: the Helm values and the Dockerfile name things that exist (checked on paper otherwise:
helm is not installable from the registries here, see docs/SCALE.md)."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_helm_values_point_at_the_code_location_and_settings():
    from orchestration.settings import Settings

    v = yaml.safe_load((ROOT / "deploy" / "helm-values.yaml").read_text())
    dep = v["dagster-user-deployments"]["deployments"][0]
    module = dep["dagsterApiGrpcArgs"][dep["dagsterApiGrpcArgs"].index("-m") + 1]
    assert (ROOT / (module.replace(".", "/") + ".py")).is_file()
    env = {e["name"]: e["value"] for e in dep["env"]}
    s = Settings.from_env(env)     # the values are valid settings: an s3 lake, a mounted landing zone
    assert s.lake_uri.startswith("s3://") and s.landing_uri == "/mnt/landing"
    assert v["runLauncher"]["type"] in ("K8sRunLauncher", "CeleryK8sRunLauncher")
    assert v["postgresql"]["enabled"] is False and v["telemetry"]["enabled"] is False
    assert v["concurrency"]["pools"]["defaultLimit"] == 1


def test_dockerfile_serves_the_same_module_and_installs_the_lock():
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    assert '"-m", "orchestration.definitions"' in text
    assert "requirements.lock" in text and (ROOT / "requirements.lock").is_file()
    for folder in ("orchestration", "assets", "models", "transforms", "quality"):
        assert f"COPY {folder} ./{folder}" in text and (ROOT / folder).is_dir()

"""docs/deploy/kubernetes.yaml: no cluster here, so its shape is checked (and yamllint run on it when installed).

Not a schema validation: kubeconform/kubeval need the Kubernetes JSON schemas, which are not on a package
registry. What is checked is what this project relies on: liveness on /healthz, readiness on /readyz, resource
limits, a grace period that covers kprcnn serve's --drain (plus the preStop sleep), a Service that selects the pods
and targets the port the server listens on.
"""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

MANIFEST = Path(__file__).resolve().parent.parent.parent / "docs" / "deploy" / "kubernetes.yaml"


def seconds(text):
    m = re.fullmatch(r"(\d+)(ms|s|m)?", text)
    assert m, text
    return int(m[1]) * {"ms": 0.001, "s": 1, "m": 60, None: 1}[m[2]]


@pytest.fixture(scope="module")
def docs():
    return {d["kind"]: d for d in yaml.safe_load_all(MANIFEST.read_text()) if d}


def test_deployment_probes_limits_and_grace(docs):
    dep = docs["Deployment"]
    assert dep["apiVersion"] == "apps/v1"
    pod = dep["spec"]["template"]["spec"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    (c,) = pod["containers"]
    args = dict(a.split("=", 1) for a in c["args"] if a.startswith("--"))
    assert c["args"][0] == "serve" and "--model" in args
    assert args["--host"] == "0.0.0.0"
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert int(args["--port"]) == ports["http"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c.get("startupProbe", {}).get("httpGet", {}).get("path", "/healthz") == "/healthz"
    for probe in ("livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"]["port"] in (ports["http"], "http")
    limits = c["resources"]["limits"]
    assert "cpu" in limits and "memory" in limits and c["resources"]["requests"]
    pre_stop = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    pre_stop_s = int(pre_stop[1]) if pre_stop[:1] == ["sleep"] else 0
    drain = seconds(args.get("--drain", "30s"))
    assert pod["terminationGracePeriodSeconds"] >= drain + pre_stop_s + 5, \
        "the kubelet's SIGKILL would cut the drain short"


def test_service_selects_the_pods(docs):
    svc, dep = docs["Service"], docs["Deployment"]
    assert svc["spec"]["selector"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    port_names = {p["name"] for p in dep["spec"]["template"]["spec"]["containers"][0]["ports"]}
    assert all(p["targetPort"] in port_names for p in svc["spec"]["ports"])


def test_yamllint():
    if not shutil.which("yamllint"):
        pytest.skip("yamllint is not installed (scripts/setup.sh installs Debian's yamllint)")
    run = subprocess.run(["yamllint", "-s", "-d", "{extends: default, rules: {line-length: {max: 120}}}",
                          str(MANIFEST)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr

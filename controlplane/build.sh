#!/usr/bin/env bash
# Build etcd, kube-apiserver, kubectl, helm and promtool from their Go modules into a cache dir.
#
#   controlplane/build.sh            # build what is missing or out of date
#   SIMON_VISMA_BIN=/some/dir controlplane/build.sh
#
# Each binary gets a stamp (sha256 of the Go version, the build recipe and its module's
# go.mod/go.sum/*.go); a binary whose stamp is unchanged is reused, so only the first run builds.
# Needs only Go (>= 1.26) and the Go module proxy.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN="${SIMON_VISMA_BIN:-$HOME/.cache/simon-visma/bin}"
HELM_VERSION="v3.22.0"
PROMTOOL_VERSION="v0.316.0"  # the Go module of Prometheus 3.16.0

if [[ -n "${GO:-}" ]]; then :
elif command -v go >/dev/null 2>&1; then GO="go"
elif [[ -x /usr/local/go/bin/go ]]; then GO="/usr/local/go/bin/go"
else echo "build.sh: no Go toolchain found (put go on PATH or set GO=...)" >&2; exit 2
fi

# The Kubernetes version comes from apiserver/go.mod; kubectl/go.mod must use the same v0.X.Y.
K8S_VERSION="$(awk '$1 == "require" {$1 = ""; $0 = $0} $1 == "k8s.io/kubernetes" {print $2; exit}' \
  "$HERE/apiserver/go.mod")"
K8S_MINOR="$(echo "$K8S_VERSION" | cut -d. -f2)"
K8S_STAGING="v0.${K8S_VERSION#v1.}"
if ! grep -q "k8s.io/kubectl $K8S_STAGING\$" "$HERE/kubectl/go.mod"; then
  echo "build.sh: kubectl/go.mod does not use k8s.io/kubectl $K8S_STAGING (kube-apiserver $K8S_VERSION)" >&2
  exit 2
fi

mkdir -p "$BIN"
exec 9>"$BIN/.build.lock"
command -v flock >/dev/null 2>&1 && flock 9  # one build at a time per cache dir

export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -buildvcs=false -trimpath"
GO_VERSION="$("$GO" env GOVERSION)"
CV=k8s.io/component-base/version
KUBE_LDFLAGS="-s -w -X $CV.gitVersion=$K8S_VERSION -X $CV.gitMajor=1 -X $CV.gitMinor=$K8S_MINOR"
KUBE_LDFLAGS+=" -X $CV.gitTreeState=clean -X $CV.buildDate=1970-01-01T00:00:00Z"
KUBE_LDFLAGS+=" -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
HV=helm.sh/helm/v3
HELM_LDFLAGS="-s -w -X $HV/internal/version.version=$HELM_VERSION"
for p in pkg/lint/rules pkg/chartutil; do
  HELM_LDFLAGS+=" -X $HV/$p.k8sVersionMajor=1 -X $HV/$p.k8sVersionMinor=$K8S_MINOR"
done

# stamp_of RECIPE [MODULE_DIR]: hash of the toolchain, the recipe and the module's sources.
stamp_of() {
  {
    echo "$GO_VERSION $1"
    if [[ -n "${2:-}" ]]; then
      (cd "$2" && cat go.mod go.sum $(ls ./*.go | sort))
    fi
  } | sha256sum | cut -d' ' -f1
}

# build NAME RECIPE MODULE_DIR COMMAND...: run COMMAND (which writes $out) unless the stamp matches.
build() {
  local name="$1" recipe="$2" dir="$3"; shift 3
  local stamp; stamp="$(stamp_of "$recipe" "$dir")"
  if [[ -x "$BIN/$name" && "$(cat "$BIN/$name.stamp" 2>/dev/null)" == "$stamp" ]]; then
    echo "reused  $name  ($BIN/$name)"
    return
  fi
  echo "building $name ..."
  local start=$SECONDS
  out="$(mktemp -d "$BIN/.tmp-$name.XXXXXX")"
  "$@"
  mv -f "$out/$name" "$BIN/$name"
  rm -rf "$out"
  echo "$stamp" > "$BIN/$name.stamp"
  echo "built   $name  ($BIN/$name) in $((SECONDS - start)) s"
}

mod_build() {  # mod_build MODULE_DIR NAME LDFLAGS
  (cd "$1" && "$GO" build -ldflags "$3" -o "$out/$2" .)
}

build etcd "-s -w" "$HERE/etcd" mod_build "$HERE/etcd" etcd "-s -w"
build kube-apiserver "$KUBE_LDFLAGS" "$HERE/apiserver" \
  mod_build "$HERE/apiserver" kube-apiserver "$KUBE_LDFLAGS"
build kubectl "$KUBE_LDFLAGS" "$HERE/kubectl" mod_build "$HERE/kubectl" kubectl "$KUBE_LDFLAGS"
# helm's go.mod has no replace directives, so `go install pkg@version` works; it runs outside
# any module, so the stamp only covers the version and flags.
helm_install() { GOBIN="$out" "$GO" install -ldflags "$HELM_LDFLAGS" "$HV/cmd/helm@$HELM_VERSION"; }
build helm "$HELM_VERSION $HELM_LDFLAGS" "" helm_install

# promtool checks the chart's alert rules (tests/chart). Prometheus' go.mod has no replace
# directives either; built last, so that a failure here never holds up the control plane.
PV=github.com/prometheus/common/version
PROMTOOL_LDFLAGS="-s -w -X $PV.Version=3.${PROMTOOL_VERSION#v0.3} -X $PV.Branch=release"
promtool_install() {
  GOBIN="$out" "$GO" install -ldflags "$PROMTOOL_LDFLAGS" \
    "github.com/prometheus/prometheus/cmd/promtool@$PROMTOOL_VERSION"
}
build promtool "$PROMTOOL_VERSION $PROMTOOL_LDFLAGS" "" promtool_install

echo "binaries in $BIN (kube-apiserver/kubectl $K8S_VERSION, helm $HELM_VERSION, promtool $PROMTOOL_VERSION)"

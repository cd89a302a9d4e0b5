#!/usr/bin/env bash
# End-to-end on kind: build the image, load it into a throwaway kind cluster, install the chart
# with it and run the cluster tests (pytest -m cluster) against that cluster.
#
#   scripts/kind-e2e.sh               # KEEP_CLUSTER=1 keeps the cluster afterwards
#
# Needs a Docker engine. Where there is none (`docker info` fails) it says so and exits 0.
# kind is the installed `kind`, else `go run sigs.k8s.io/kind@$KIND_VERSION`; helm is the one
# controlplane/build.sh builds (or any `helm` on PATH).
set -euo pipefail
cd "$(dirname "$0")/.."

KIND_VERSION="${KIND_VERSION:-v0.33.0}"
CLUSTER="${KIND_CLUSTER:-simon-visma-e2e}"
IMAGE_REPO="simon-visma"
IMAGE_TAG="dev"
NAMESPACE="simon-visma"
BIN="${SIMON_VISMA_BIN:-$HOME/.cache/simon-visma/bin}"

if ! docker info >/dev/null 2>&1; then
  echo "kind-e2e: no Docker engine here ('docker info' failed): skipping the kind end-to-end run."
  exit 0
fi

kind() {
  if command -v kind >/dev/null 2>&1; then command kind "$@"
  else go run "sigs.k8s.io/kind@${KIND_VERSION}" "$@"
  fi
}
if [[ -x "$BIN/helm" ]]; then HELM="$BIN/helm"
elif command -v helm >/dev/null 2>&1; then HELM="$(command -v helm)"
else echo "kind-e2e: no helm: run controlplane/build.sh first" >&2; exit 2
fi

export KUBECONFIG
KUBECONFIG="$(mktemp -t kind-e2e-kubeconfig.XXXXXX)"
cleanup() {
  if [[ "${KEEP_CLUSTER:-0}" != 1 ]]; then kind delete cluster --name "$CLUSTER" || true; fi
  rm -f "$KUBECONFIG"
}
trap cleanup EXIT

echo "== kind cluster $CLUSTER"
kind create cluster --name "$CLUSTER" --kubeconfig "$KUBECONFIG" --wait 180s

echo "== docker build $IMAGE_REPO:$IMAGE_TAG"
docker build -t "$IMAGE_REPO:$IMAGE_TAG" .
kind load docker-image "$IMAGE_REPO:$IMAGE_TAG" --name "$CLUSTER"

echo "== helm install"
"$HELM" install simon-visma charts/simon-visma \
  --namespace "$NAMESPACE" --create-namespace \
  --set image.repository="$IMAGE_REPO" --set image.tag="$IMAGE_TAG" --set image.pullPolicy=Never \
  --wait --timeout 5m

echo "== cluster tests against kind"
[[ -x .venv/bin/pytest ]] || make setup
SIMON_VISMA_KUBECONFIG="$KUBECONFIG" .venv/bin/pytest -m cluster "$@"

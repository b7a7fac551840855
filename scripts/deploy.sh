#!/usr/bin/env bash
# Deploys Tripline into the current Azure subscription (az account show):
#   phase 1  az deployment sub create   everything except the Event Grid event subscription
#   build    go build                   bin/tripline for linux/amd64
#   publish  func azure functionapp publish
#   phase 2  az deployment sub create   adds the Event Grid event subscription
# Idempotent: run it again to update infrastructure and code. docs/deploy.md
# quotes these exact commands and explains each phase.
#
# Configuration (environment; see infra/main.bicepparam):
#   TRIPLINE_LOCATION (default eastus), TRIPLINE_RESOURCE_GROUP (default rg-tripline),
#   TRIPLINE_AKS_CLUSTER_IDS, TRIPLINE_CHANNEL_SECRETS_IN_VAULT, and the channel
#   secrets TRIPLINE_WEBHOOK_URL, TRIPLINE_WEBHOOK_SECRET, TRIPLINE_TEAMS_WEBHOOK_URL,
#   TRIPLINE_SLACK_WEBHOOK_URL, TRIPLINE_PAGERDUTY_ROUTING_KEY.
#   RULES=DIR, EXCEPTIONS=FILE, OVERRIDES=FILE (make deploy RULES=DIR ...): your
#   rule files, exceptions and overrides go into the package (scripts/package.sh)
#   and the package is deployed as a zip (az functionapp deployment source
#   config-zip), since Core Tools' publish uploads only what .funcignore keeps.
# Requires: Azure CLI (with Bicep), Azure Functions Core Tools 4.x, Go.
set -euo pipefail
cd "$(dirname "$0")/.."

export TRIPLINE_LOCATION="${TRIPLINE_LOCATION:-eastus}"
export TRIPLINE_RESOURCE_GROUP="${TRIPLINE_RESOURCE_GROUP:-rg-tripline}"

for tool in az func go; do
  command -v "$tool" >/dev/null || { echo "deploy: $tool is not installed (see docs/deploy.md)" >&2; exit 1; }
done
az account show --query '{subscription:name, id:id}' --output tsv >/dev/null ||
  { echo "deploy: run az login (and az account set --subscription <id>) first" >&2; exit 1; }

# retry N CMD...: the identity's new role assignments and the freshly published
# functions take a few minutes to become visible to the platform.
retry() {
  local attempts="$1" n=1
  shift
  until "$@"; do
    if [ "$n" -ge "$attempts" ]; then return 1; fi
    echo "deploy: attempt $n failed; retrying in 60s" >&2
    sleep 60
    n=$((n + 1))
  done
}

phase1() {
  TRIPLINE_DEPLOY_EVENTGRID_SUBSCRIPTION=false az deployment sub create --name tripline --location "$TRIPLINE_LOCATION" --template-file infra/main.bicep --parameters infra/main.bicepparam --output none
}

publish() {
  if [ -n "${RULES:-}${EXCEPTIONS:-}${OVERRIDES:-}" ]; then
    az functionapp deployment source config-zip --resource-group "$TRIPLINE_RESOURCE_GROUP" --name "$APP" --src dist/tripline.zip --output none
  else
    func azure functionapp publish "$APP" --custom
  fi
}

phase2() {
  TRIPLINE_DEPLOY_EVENTGRID_SUBSCRIPTION=true az deployment sub create --name tripline --location "$TRIPLINE_LOCATION" --template-file infra/main.bicep --parameters infra/main.bicepparam --output none
}

echo "==> phase 1: infrastructure (resource group $TRIPLINE_RESOURCE_GROUP in $TRIPLINE_LOCATION)"
phase1
APP="$(az deployment sub show --name tripline --query properties.outputs.functionAppName.value --output tsv)"

if [ -n "${RULES:-}${EXCEPTIONS:-}${OVERRIDES:-}" ]; then
  echo "==> package: bin/tripline (linux/amd64) with your rules (RULES=${RULES:-} EXCEPTIONS=${EXCEPTIONS:-} OVERRIDES=${OVERRIDES:-})"
  scripts/package.sh dist/tripline.zip
else
  echo "==> build: bin/tripline (linux/amd64)"
  GOOS=linux GOARCH=amd64 CGO_ENABLED=0 go build -o bin/tripline .
fi

echo "==> publish: $APP"
retry 3 publish

echo "==> phase 2: Event Grid subscription to ResourceEvents"
retry 3 phase2

az deployment sub show --name tripline --query properties.outputs --output jsonc

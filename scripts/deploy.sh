#!/usr/bin/env bash
# Deploys one Tripline environment into the current Azure subscription (az account show):
#   find     the subscription's Event Grid system topic and who owns the subscription feeds
#   phase 1  az deployment sub create   everything except the Event Grid event subscription
#   build    go build                   bin/tripline for linux/amd64
#   publish  func azure functionapp publish
#   phase 2  az deployment sub create   adds the Event Grid event subscription (feeds owner only)
# Idempotent: run it again to update infrastructure and code. docs/deploy.md
# quotes these exact commands and explains each phase.
#
# Configuration (environment; see infra/main.bicepparam):
#   TRIPLINE_ENV (default main): names the subscription deployment tripline-$TRIPLINE_ENV
#     and the default resource group rg-tripline-$TRIPLINE_ENV; several environments
#     can share a subscription.
#   TRIPLINE_LOCATION (default eastus), TRIPLINE_RESOURCE_GROUP,
#   TRIPLINE_SUBSCRIPTION_FEEDS (true/false; default: decided below),
#   TRIPLINE_AKS_CLUSTER_IDS, TRIPLINE_CHANNEL_SECRETS_IN_VAULT, TRIPLINE_COST_PROFILE, and the
#   channel secrets TRIPLINE_WEBHOOK_URL, TRIPLINE_WEBHOOK_SECRET, TRIPLINE_TEAMS_WEBHOOK_URL,
#   TRIPLINE_SLACK_WEBHOOK_URL, TRIPLINE_PAGERDUTY_ROUTING_KEY.
#   RULES=DIR, EXCEPTIONS=FILE, OVERRIDES=FILE (make deploy RULES=DIR ...): your
#   rule files, exceptions and overrides go into the package (scripts/package.sh)
#   and the package is deployed as a zip (az functionapp deployment source
#   config-zip), since Core Tools' publish uploads only what .funcignore keeps.
# Requires: Azure CLI (with Bicep), Azure Functions Core Tools 4.x, Go.
set -euo pipefail
cd "$(dirname "$0")/.."

export TRIPLINE_ENV="${TRIPLINE_ENV:-main}"
if ! [[ "$TRIPLINE_ENV" =~ ^[a-z0-9][a-z0-9-]{0,15}$ ]]; then
  echo "deploy: TRIPLINE_ENV must be 1-16 lowercase letters, digits or hyphens, got '$TRIPLINE_ENV'" >&2
  exit 1
fi
export TRIPLINE_LOCATION="${TRIPLINE_LOCATION:-eastus}"
export TRIPLINE_RESOURCE_GROUP="${TRIPLINE_RESOURCE_GROUP:-rg-tripline-$TRIPLINE_ENV}"
DEPLOYMENT="tripline-$TRIPLINE_ENV"
SETTING="tripline-activity-log"

for tool in az func go; do
  command -v "$tool" >/dev/null || { echo "deploy: $tool is not installed (see docs/deploy.md)" >&2; exit 1; }
done
SUBSCRIPTION="$(az account show --query id --output tsv)" ||
  { echo "deploy: run az login (and az account set --subscription <id>) first" >&2; exit 1; }

# A subscription deployment keeps the region it was first created in; the
# same name in another region fails with InvalidDeploymentLocation.
existing_location="$(az deployment sub show --name "$DEPLOYMENT" --query location --output tsv 2>/dev/null || true)"
if [ -n "$existing_location" ] && [ "$existing_location" != "$TRIPLINE_LOCATION" ]; then
  echo "deploy: environment $TRIPLINE_ENV is deployed in $existing_location; set TRIPLINE_LOCATION=$existing_location, or use another TRIPLINE_ENV for $TRIPLINE_LOCATION" >&2
  exit 1
fi

# The subscription feeds (Activity Log export and Event Grid subscription)
# exist once per subscription. Without TRIPLINE_SUBSCRIPTION_FEEDS, this
# environment owns them if nobody does yet or if the export already points at
# its own resource group; otherwise another environment keeps them.
if [ -z "${TRIPLINE_SUBSCRIPTION_FEEDS:-}" ]; then
  current="$(az monitor diagnostic-settings subscription show --name "$SETTING" --query eventHubAuthorizationRuleId --output tsv 2>/dev/null || true)"
  if [ -z "$current" ] || [[ "${current,,}" == *"/resourcegroups/${TRIPLINE_RESOURCE_GROUP,,}/"* ]]; then
    TRIPLINE_SUBSCRIPTION_FEEDS=true
  else
    TRIPLINE_SUBSCRIPTION_FEEDS=false
    echo "deploy: the Activity Log export belongs to another environment ($current); this one reads only its AKS clusters (TRIPLINE_SUBSCRIPTION_FEEDS=true takes the feeds over)"
  fi
fi
export TRIPLINE_SUBSCRIPTION_FEEDS

# Event Grid allows one system topic per source: reuse the subscription's
# topic when there is one (created by another tool or another environment).
topic="$(az eventgrid system-topic list --query "[?topicType=='Microsoft.Resources.Subscriptions' && source=='/subscriptions/$SUBSCRIPTION'] | [0].[id, identity.type]" --output tsv)"
export TRIPLINE_EVENTGRID_SYSTEM_TOPIC_ID="${topic%%$'\t'*}"
if [ "$TRIPLINE_SUBSCRIPTION_FEEDS" = true ] && [ -n "$TRIPLINE_EVENTGRID_SYSTEM_TOPIC_ID" ] && [[ "$topic" != *SystemAssigned* ]]; then
  echo "deploy: the subscription's Event Grid system topic $TRIPLINE_EVENTGRID_SYSTEM_TOPIC_ID has no system-assigned identity, which Tripline's dead-lettering uses; add one (Azure portal: the topic's Identity page) and run again" >&2
  exit 1
fi

# retry N CMD...: the identity's new role assignments and the freshly published
# functions take a few minutes to become visible to the platform.
retry() {
  local attempts="$1" n=1
  shift
  until "$@"; do
    if [ "$n" -ge "$attempts" ]; then return 1; fi
    echo "deploy: attempt $n failed; retrying in 60s" >&2
    sleep "${TRIPLINE_RETRY_DELAY:-60}"
    n=$((n + 1))
  done
}

phase1() {
  TRIPLINE_DEPLOY_EVENTGRID_SUBSCRIPTION=false az deployment sub create --name "$DEPLOYMENT" --location "$TRIPLINE_LOCATION" --template-file infra/main.bicep --parameters infra/main.bicepparam --output none
}

publish() {
  if [ -n "${RULES:-}${EXCEPTIONS:-}${OVERRIDES:-}" ]; then
    az functionapp deployment source config-zip --resource-group "$TRIPLINE_RESOURCE_GROUP" --name "$APP" --src dist/tripline.zip --output none
  else
    func azure functionapp publish "$APP" --custom
  fi
}

phase2() {
  TRIPLINE_DEPLOY_EVENTGRID_SUBSCRIPTION=true az deployment sub create --name "$DEPLOYMENT" --location "$TRIPLINE_LOCATION" --template-file infra/main.bicep --parameters infra/main.bicepparam --output none
}

echo "==> phase 1: infrastructure (deployment $DEPLOYMENT, resource group $TRIPLINE_RESOURCE_GROUP in $TRIPLINE_LOCATION, subscription feeds: $TRIPLINE_SUBSCRIPTION_FEEDS)"
phase1
APP="$(az deployment sub show --name "$DEPLOYMENT" --query properties.outputs.functionAppName.value --output tsv)"

if [ -n "${RULES:-}${EXCEPTIONS:-}${OVERRIDES:-}" ]; then
  echo "==> package: bin/tripline (linux/amd64) with your rules (RULES=${RULES:-} EXCEPTIONS=${EXCEPTIONS:-} OVERRIDES=${OVERRIDES:-})"
  scripts/package.sh dist/tripline.zip
else
  echo "==> build: bin/tripline (linux/amd64)"
  GOOS=linux GOARCH=amd64 CGO_ENABLED=0 go build -o bin/tripline .
fi

echo "==> publish: $APP"
retry 3 publish

if [ "$TRIPLINE_SUBSCRIPTION_FEEDS" = true ]; then
  echo "==> phase 2: Event Grid subscription to ResourceEvents"
  retry 3 phase2
else
  # A former owner's event subscription would deliver every ARM event twice.
  if [ -n "$TRIPLINE_EVENTGRID_SYSTEM_TOPIC_ID" ] && az resource show --ids "$TRIPLINE_EVENTGRID_SYSTEM_TOPIC_ID/eventSubscriptions/$DEPLOYMENT" --output none 2>/dev/null; then
    echo "==> removing this environment's former Event Grid subscription"
    az resource delete --ids "$TRIPLINE_EVENTGRID_SYSTEM_TOPIC_ID/eventSubscriptions/$DEPLOYMENT"
  fi
fi

az deployment sub show --name "$DEPLOYMENT" --query properties.outputs --output jsonc

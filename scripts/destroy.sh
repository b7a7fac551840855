#!/usr/bin/env bash
# Removes one Tripline environment (TRIPLINE_ENV, default main) from the
# current subscription, and only what its deployment created:
#   1. the subscription Activity Log export, only if it points at this
#      environment's resource group (another environment may own it);
#   2. this environment's Event Grid event subscription on the subscription
#      system topic (the topic itself stays while anything subscribes to it);
#   3. this environment's kube-audit-admin diagnostic settings on TRIPLINE_AKS_CLUSTER_IDS;
#   4. the resource group (function app, storage, Event Hubs, Cosmos DB, Key
#      Vault, identity);
#   5. the soft-deleted Key Vault (purged, so a redeploy can reuse its name;
#      skipped with a warning if purge protection is on);
#   6. the shared resource group holding the system topic, only if Tripline
#      created it and no event subscription is left on the topic;
#   7. the subscription deployment record tripline-$TRIPLINE_ENV.
# Other environments keep working. Safe to run again. Asks for confirmation
# unless TRIPLINE_DESTROY_YES=1.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v az >/dev/null || { echo "destroy: az is not installed (see docs/deploy.md)" >&2; exit 1; }

env="${TRIPLINE_ENV:-main}"
deployment="tripline-$env"
rg="${TRIPLINE_RESOURCE_GROUP:-rg-tripline-$env}"
shared_rg="${TRIPLINE_SHARED_RESOURCE_GROUP:-rg-tripline-shared}"
setting="${TRIPLINE_ACTIVITY_LOG_SETTING:-tripline-activity-log}"

sub="$(az account show --query id --output tsv)" ||
  { echo "destroy: run az login (and az account set --subscription <id>) first" >&2; exit 1; }
if [ "${TRIPLINE_DESTROY_YES:-}" != "1" ]; then
  read -r -p "Delete Tripline environment $env (resource group $rg) from subscription $sub? [y/N] " answer
  case "$answer" in y | Y | yes) ;; *) echo "aborted"; exit 1 ;; esac
fi

vault="$(az deployment sub show --name "$deployment" --query properties.outputs.keyVaultName.value --output tsv 2>/dev/null || true)"

echo "==> subscription diagnostic setting $setting"
current="$(az monitor diagnostic-settings subscription show --name "$setting" --query eventHubAuthorizationRuleId --output tsv 2>/dev/null || true)"
if [ -n "$current" ] && [[ "${current,,}" == *"/resourcegroups/${rg,,}/"* ]]; then
  az monitor diagnostic-settings subscription delete --name "$setting" --yes
elif [ -n "$current" ]; then
  echo "    kept: it belongs to another environment ($current)"
fi

topic="$(az eventgrid system-topic list --query "[?topicType=='Microsoft.Resources.Subscriptions' && source=='/subscriptions/$sub'] | [0].id" --output tsv)"
if [ -n "$topic" ]; then
  echo "==> Event Grid subscription $deployment on $topic"
  if az resource show --ids "$topic/eventSubscriptions/$deployment" --output none 2>/dev/null; then
    az resource delete --ids "$topic/eventSubscriptions/$deployment"
  fi
fi

IFS=',' read -r -a clusters <<<"${TRIPLINE_AKS_CLUSTER_IDS:-}"
for cluster in "${clusters[@]}"; do
  [ -n "$cluster" ] || continue
  echo "==> kube-audit-admin diagnostic setting on $cluster"
  if az monitor diagnostic-settings show --name "tripline-$env-kube-audit-admin" --resource "$cluster" >/dev/null 2>&1; then
    az monitor diagnostic-settings delete --name "tripline-$env-kube-audit-admin" --resource "$cluster"
  fi
done

echo "==> resource group $rg"
if [ "$(az group exists --name "$rg")" = "true" ]; then
  az group delete --name "$rg" --yes
fi

if [ -n "$vault" ]; then
  echo "==> purge soft-deleted key vault $vault"
  if az keyvault show-deleted --name "$vault" >/dev/null 2>&1; then
    az keyvault purge --name "$vault" || echo "destroy: could not purge $vault (purge protection?); it expires after its retention period" >&2
  fi
fi

# The topic's resource group is Tripline's (tag set by infra/main.bicep) and
# nothing subscribes to the topic any more: the last environment removes it.
if [ -n "$topic" ] && [[ "${topic,,}" == *"/resourcegroups/${shared_rg,,}/"* ]] &&
  [ "$(az group show --name "$shared_rg" --query "tags.\"tripline-shared\"" --output tsv 2>/dev/null || true)" = "subscription-system-topic" ]; then
  left="$(az eventgrid system-topic event-subscription list --resource-group "$shared_rg" --system-topic-name "${topic##*/}" --query "length(@)" --output tsv)"
  if [ "$left" = "0" ]; then
    echo "==> shared resource group $shared_rg (system topic without subscriptions)"
    az group delete --name "$shared_rg" --yes
  fi
fi

if az deployment sub show --name "$deployment" >/dev/null 2>&1; then
  az deployment sub delete --name "$deployment"
fi
echo "done"

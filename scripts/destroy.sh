#!/usr/bin/env bash
# Removes Tripline from the current subscription:
#   1. the subscription Activity Log diagnostic setting (it lives outside the
#      resource group and would keep pointing at a deleted hub);
#   2. the kube-audit-admin diagnostic settings on TRIPLINE_AKS_CLUSTER_IDS;
#   3. the resource group (function app, storage, Event Hubs, Cosmos DB, Key
#      Vault, Event Grid system topic and its subscription, identity);
#   4. the soft-deleted Key Vault (purged, so a redeploy can reuse its name;
#      skipped with a warning if purge protection is on).
# Safe to run again. Asks for confirmation unless TRIPLINE_DESTROY_YES=1.
set -euo pipefail
cd "$(dirname "$0")/.."

rg="${TRIPLINE_RESOURCE_GROUP:-rg-tripline}"
setting="${TRIPLINE_ACTIVITY_LOG_SETTING:-tripline-activity-log}"

sub="$(az account show --query id --output tsv)"
if [ "${TRIPLINE_DESTROY_YES:-}" != "1" ]; then
  read -r -p "Delete resource group $rg and Tripline's diagnostic settings in subscription $sub? [y/N] " answer
  case "$answer" in y | Y | yes) ;; *) echo "aborted"; exit 1 ;; esac
fi

vault=""
if az deployment sub show --name tripline >/dev/null 2>&1; then
  vault="$(az deployment sub show --name tripline --query properties.outputs.keyVaultName.value --output tsv || true)"
fi

echo "==> subscription diagnostic setting $setting"
if az monitor diagnostic-settings subscription show --name "$setting" >/dev/null 2>&1; then
  az monitor diagnostic-settings subscription delete --name "$setting" --yes
fi

IFS=',' read -r -a clusters <<<"${TRIPLINE_AKS_CLUSTER_IDS:-}"
for cluster in "${clusters[@]}"; do
  [ -n "$cluster" ] || continue
  echo "==> kube-audit-admin diagnostic setting on $cluster"
  if az monitor diagnostic-settings show --name tripline-kube-audit-admin --resource "$cluster" >/dev/null 2>&1; then
    az monitor diagnostic-settings delete --name tripline-kube-audit-admin --resource "$cluster"
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

if az deployment sub show --name tripline >/dev/null 2>&1; then
  az deployment sub delete --name tripline
fi
echo "done"

// Streams one AKS cluster's kube-audit-admin log to the Tripline event hub.
// Deployed by main.bicep into the cluster's resource group. The Event Hubs
// namespace must be in the cluster's region (Azure Monitor requirement for
// regional resources); a cluster can have at most 5 diagnostic settings.
param clusterName string
param settingName string
param eventHubAuthorizationRuleId string
param eventHubName string

// Only used as the scope of the diagnostic setting (no properties are read).
// Not in the reference API table: see infra/infra_test.go existingOnly.
resource cluster 'Microsoft.ContainerService/managedClusters@2024-09-01' existing = {
  name: clusterName
}

resource kubeAuditAdmin 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: settingName
  scope: cluster
  properties: {
    eventHubAuthorizationRuleId: eventHubAuthorizationRuleId
    eventHubName: eventHubName
    logs: [
      {
        category: 'kube-audit-admin'
        enabled: true
      }
    ]
  }
}

// Event Hubs Standard namespace, the hub both diagnostic settings write to, the
// consumer group the function reads with, and the SAS rule Azure Monitor needs.
// Local (SAS) auth stays enabled because diagnostic-setting streaming accepts
// only an authorization rule
// (https://learn.microsoft.com/azure/azure-monitor/platform/diagnostic-settings, MicrosoftDocs/azure-docs#119932); the app itself reads with
// its identity (Azure Event Hubs Data Receiver) and never sees a key.
param namespaceName string
param eventHubName string
param consumerGroupName string
param authorizationRuleName string
param partitionCount int
param retentionInDays int
param capacity int
param location string
param tags object

resource namespace 'Microsoft.EventHub/namespaces@2024-01-01' = {
  name: namespaceName
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
    capacity: capacity
  }
  properties: {
    disableLocalAuth: false
    minimumTlsVersion: '1.2'
    isAutoInflateEnabled: false
  }
}

resource hub 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' = {
  parent: namespace
  name: eventHubName
  properties: {
    partitionCount: partitionCount
    messageRetentionInDays: retentionInDays
  }
}

resource consumerGroup 'Microsoft.EventHub/namespaces/eventhubs/consumergroups@2024-01-01' = {
  parent: hub
  name: consumerGroupName
}

// Namespace-level rule: the diagnostic settings API rejects hub-level rules
// and rules without Manage.
resource diagnosticsRule 'Microsoft.EventHub/namespaces/authorizationRules@2024-01-01' = {
  parent: namespace
  name: authorizationRuleName
  properties: {
    rights: [
      'Listen'
      'Manage'
      'Send'
    ]
  }
}

output namespaceName string = namespace.name
// <namespace>.servicebus.windows.net (or the sovereign-cloud equivalent),
// derived from the endpoint instead of hard-coding the DNS suffix.
output fullyQualifiedNamespace string = replace(first(split(last(split(namespace.properties.serviceBusEndpoint, '//')), ':')), '/', '')
output eventHubName string = hub.name
output consumerGroupName string = consumerGroup.name
output authorizationRuleId string = diagnosticsRule.id

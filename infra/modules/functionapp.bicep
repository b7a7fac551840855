// Flex Consumption (FC1) plan and the Tripline function app: Go custom
// handler (runtime custom/1.0), user-assigned identity for everything.
param planName string
param appName string
param location string
param tags object
param identityId string
param identityClientId string
param instanceMemoryMB int
param maximumInstanceCount int
@description('Event Hubs batching: { minEventBatchSize, maxEventBatchSize, maxWaitTime, prefetchCount } (main.bicep batchingProfiles).')
param eventHubBatching object
param storageBlobEndpoint string
param storageQueueEndpoint string
param storageTableEndpoint string
param deploymentContainerName string
param appInsightsConnectionString string
param eventHubFullyQualifiedNamespace string
param eventHubName string
param eventHubConsumerGroup string
param cosmosEndpoint string
param cosmosDatabase string
param cosmosContainer string
@description('Key Vault URI with its trailing slash: the vault\'s properties.vaultUri (keyvault.bicep output uri).')
param keyVaultUri string
@description('Which channel secrets exist in the vault: { webhookUrl, webhookSecret, teamsWebhookUrl, slackWebhookUrl, pagerDutyRoutingKey } as bools.')
param channelConfigured object
param notificationRetrySchedule string
param alertTtl string
param deliveryHorizon string
param pagerDutyEventsUrl string

resource plan 'Microsoft.Web/serverfarms@2025-03-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2025-03-01' = {
  name: appName
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'custom'
        version: '1.0'
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
    }
  }
}

// Settings the Functions host and the Tripline binary read. Do not add
// FUNCTIONS_WORKER_RUNTIME, FUNCTIONS_EXTENSION_VERSION, WEBSITE_RUN_FROM_PACKAGE
// or any connection string: Flex rejects or ignores them
// (https://learn.microsoft.com/azure/azure-functions/functions-app-settings#flex-consumption-plan-deprecations).
// TRIPLINE_COSMOS_KEY must never be set here: Cosmos DB uses the identity.
var baseSettings = {
  // Host storage through the identity (shared keys are disabled).
  AzureWebJobsStorage__blobServiceUri: storageBlobEndpoint
  AzureWebJobsStorage__queueServiceUri: storageQueueEndpoint
  AzureWebJobsStorage__tableServiceUri: storageTableEndpoint
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId

  // Telemetry with Entra ID (DisableLocalAuth on the component).
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'

  // azidentity picks the user-assigned identity (Cosmos DB); Tripline reads it too.
  AZURE_CLIENT_ID: identityClientId

  // ActivityLogEvents/function.json: %EventHubName%, %EventHubConsumerGroup%,
  // connection "EventHubConnection" (identity-based).
  EventHubName: eventHubName
  EventHubConsumerGroup: eventHubConsumerGroup
  EventHubConnection__fullyQualifiedNamespace: eventHubFullyQualifiedNamespace
  EventHubConnection__credential: 'managedidentity'
  EventHubConnection__clientId: identityClientId

  // The cost profile's batching, over host.json's values (app settings
  // override host.json: https://learn.microsoft.com/azure/azure-functions/functions-host-json#override-hostjson-values).
  AzureFunctionsJobHost__extensions__eventHubs__minEventBatchSize: string(eventHubBatching.minEventBatchSize)
  AzureFunctionsJobHost__extensions__eventHubs__maxEventBatchSize: string(eventHubBatching.maxEventBatchSize)
  AzureFunctionsJobHost__extensions__eventHubs__maxWaitTime: eventHubBatching.maxWaitTime
  AzureFunctionsJobHost__extensions__eventHubs__prefetchCount: string(eventHubBatching.prefetchCount)

  // The Go runtime's soft memory limit (https://pkg.go.dev/runtime#hdr-Environment_Variables):
  // half the instance, the other half left to the Functions host process
  // beside the handler. The garbage collector then works harder rather than
  // let a large batch's garbage grow the heap past it (bench/README.md,
  // "Memory": the largest legal batch).
  GOMEMLIMIT: '${instanceMemoryMB / 2}MiB'

  // NotificationRetry/function.json: %NotificationRetrySchedule%.
  NotificationRetrySchedule: notificationRetrySchedule

  // Tripline's settings (settings.go, docs/settings.md).
  TRIPLINE_COSMOS_ENDPOINT: cosmosEndpoint
  TRIPLINE_COSMOS_DATABASE: cosmosDatabase
  TRIPLINE_COSMOS_CONTAINER: cosmosContainer
  TRIPLINE_COSMOS_RETRY_BUDGET: '30s'
  TRIPLINE_ALERT_TTL: alertTtl
  TRIPLINE_DELIVERY_HORIZON: deliveryHorizon
  TRIPLINE_DELIVERY_RETRY_BASE: '1m'
  TRIPLINE_PAGERDUTY_EVENTS_URL: pagerDutyEventsUrl
}

// Channel secrets: Key Vault references (versionless, so rotations are picked
// up), set only for secrets that exist; an unresolvable reference would reach
// the app as a literal string.
var webhookUrlSetting = channelConfigured.webhookUrl ? { TRIPLINE_WEBHOOK_URL: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/tripline-webhook-url/)' } : {}
var webhookSecretSetting = channelConfigured.webhookSecret ? { TRIPLINE_WEBHOOK_SECRET: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/tripline-webhook-secret/)' } : {}
var teamsWebhookUrlSetting = channelConfigured.teamsWebhookUrl ? { TRIPLINE_TEAMS_WEBHOOK_URL: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/tripline-teams-webhook-url/)' } : {}
var slackWebhookUrlSetting = channelConfigured.slackWebhookUrl ? { TRIPLINE_SLACK_WEBHOOK_URL: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/tripline-slack-webhook-url/)' } : {}
var pagerDutyRoutingKeySetting = channelConfigured.pagerDutyRoutingKey ? { TRIPLINE_PAGERDUTY_ROUTING_KEY: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/tripline-pagerduty-routing-key/)' } : {}

resource appSettings 'Microsoft.Web/sites/config@2025-03-01' = {
  parent: site
  name: 'appsettings'
  properties: union(baseSettings, webhookUrlSetting, webhookSecretSetting, teamsWebhookUrlSetting, slackWebhookUrlSetting, pagerDutyRoutingKeySetting)
}

output id string = site.id
output name string = site.name

// Tripline infrastructure: one subscription-scope deployment per environment.
//
//   az deployment sub create --name tripline-<environment> --location <region> \
//     --template-file infra/main.bicep --parameters infra/main.bicepparam
//
// Several environments may share a subscription (e.g. one per region for AKS
// clusters). What exists once per subscription is handled so that they do
// not collide: the subscription deployment and the resource group are named
// after the environment; the subscription's Event Grid system topic (one per
// source) is reused when it exists, and otherwise created in a resource group
// of its own; the Activity Log export and the Event Grid event subscription
// (the subscription feeds) belong to the one environment whose
// ownsSubscriptionFeeds is true. scripts/deploy.sh finds the topic and the
// current owner; docs/deploy.md explains the rules.
//
// Phase 1 (deployEventGridSubscription = false) creates everything except the
// Event Grid event subscription; the code is then published with the func CLI;
// phase 2 (deployEventGridSubscription = true) adds the event subscription,
// because Event Grid validates at creation that the ResourceEvents function
// exists and has an eventGridTrigger binding (Azure/bicep#11656).
// scripts/deploy.sh runs the three steps; docs/deploy.md explains them.
targetScope = 'subscription'

// ---------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------

@description('Azure region for every regional resource (Event Grid system topics are always global).')
param location string

@description('Environment name (lowercase letters, digits, hyphens): names the subscription deployment (tripline-<name>), the default resource group and the per-environment Event Grid subscription and AKS diagnostic settings.')
@minLength(1)
@maxLength(16)
param environmentName string

@description('This environment owns the subscription feeds: the subscription Activity Log export and the Event Grid event subscription. Exactly one environment per subscription owns them; the others read only their AKS clusters.')
param ownsSubscriptionFeeds bool = true

@description('Resource id of the subscription\'s existing Microsoft.Resources.Subscriptions system topic (Event Grid allows one system topic per source). Empty: created in sharedResourceGroupName when this environment owns the feeds.')
param existingSystemTopicId string = ''

@description('Resource group of the subscription system topic when this deployment creates it; no environment\'s removal deletes it while another subscribes to the topic.')
@minLength(1)
@maxLength(90)
param sharedResourceGroupName string = 'rg-tripline-shared'

@description('Resource group that holds every Tripline resource of this environment; created if missing.')
@minLength(1)
@maxLength(90)
param resourceGroupName string = 'rg-tripline-${environmentName}'

@description('Short lowercase prefix of every resource name.')
@minLength(3)
@maxLength(8)
param namePrefix string = 'tripline'

@description('Tags applied to every resource.')
param tags object = {}

@description('Flex Consumption instance memory in MB (512, 2048 or 4096). 512 MB: Tripline\'s measured peak RSS is 30 MB (bench/RESULTS.md), and Flex bills memory x active time (docs/cost.md).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 512

@description('Event Hubs batching profile (docs/cost.md): realtime invokes as soon as an event is there; economy waits for 100 events or 60 s per partition, for far fewer invocations at up to a minute more latency. The Event Grid path is not batched either way.')
@allowed([
  'realtime'
  'economy'
])
param costProfile string = 'realtime'

@description('Flex Consumption maximum instance count (40-1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Event hub that receives the Activity Log and the AKS kube-audit-admin logs.')
param eventHubName string = 'azure-logs'

@description('Partitions of the event hub (fixed at creation on Standard).')
@minValue(1)
@maxValue(32)
param eventHubPartitionCount int = 2

@description('Event hub retention in days (Standard: 1-7).')
@minValue(1)
@maxValue(7)
param eventHubRetentionInDays int = 1

@description('Event Hubs throughput units (Standard: 1-20).')
@minValue(1)
@maxValue(20)
param eventHubCapacity int = 1

@description('Activity Log categories streamed to the event hub.')
param activityLogCategories array = [
  'Administrative'
  'Security'
]

@description('Name of the subscription diagnostic setting that exports the Activity Log (created only by the environment that owns the subscription feeds; scripts/destroy.sh removes it only when it points at that environment).')
param activityLogDiagnosticSettingName string = 'tripline-activity-log'

@description('Resource IDs of AKS clusters whose kube-audit-admin log is streamed to the hub. Each cluster must be in the same region as the Event Hubs namespace (Azure Monitor rule for regional resources). Empty strings are ignored.')
param aksClusterResourceIds array = []

@description('Create the Event Grid event subscription to the ResourceEvents function. Only true after the code is published (phase 2).')
param deployEventGridSubscription bool = false

@description('Extra Event Grid data.operationName values (mixed case as Event Grid sends them) added to the built-in rules\' operations. Event Grid allows 25 values in total.')
param extraEventGridOperations array = []

@description('Event Grid event types delivered to ResourceEvents.')
param eventGridEventTypes array = [
  'Microsoft.Resources.ResourceWriteSuccess'
  'Microsoft.Resources.ResourceDeleteSuccess'
  'Microsoft.Resources.ResourceActionSuccess'
]

@description('NCRONTAB schedule of the NotificationRetry timer function (six fields, UTC).')
@minLength(1)
param notificationRetrySchedule string = '0 */5 * * * *'

@description('TRIPLINE_ALERT_TTL: how long alert documents are kept after their last change (Go duration, at least 1h).')
@minLength(2)
param alertTtl string = '720h'

@description('TRIPLINE_DELIVERY_HORIZON: how long a pending notification is retried (Go duration).')
@minLength(2)
param deliveryHorizon string = '24h'

@description('TRIPLINE_PAGERDUTY_EVENTS_URL: PagerDuty Events API v2 endpoint (EU accounts: https://events.eu.pagerduty.com/v2/enqueue).')
@minLength(1)
param pagerDutyEventsUrl string = 'https://events.pagerduty.com/v2/enqueue'

@description('Names of secret settings (e.g. TRIPLINE_SLACK_WEBHOOK_URL) whose Key Vault secret was set out of band with az keyvault secret set; their app settings reference the vault even when the matching secure parameter is empty.')
param channelSecretsInVault array = []

@description('Enable purge protection on the Key Vault (cannot be turned off again; blocks reusing the vault name for 90 days after deletion).')
param keyVaultPurgeProtection bool = false

@secure()
@description('TRIPLINE_WEBHOOK_URL: generic webhook URL. Empty: no secret created.')
param webhookUrl string = ''

@secure()
@description('TRIPLINE_WEBHOOK_SECRET: Standard Webhooks signing secret (whsec_...). Required with webhookUrl.')
param webhookSecret string = ''

@secure()
@description('TRIPLINE_TEAMS_WEBHOOK_URL: Microsoft Teams Workflows webhook URL.')
param teamsWebhookUrl string = ''

@secure()
@description('TRIPLINE_SLACK_WEBHOOK_URL: Slack incoming webhook URL.')
param slackWebhookUrl string = ''

@secure()
@description('TRIPLINE_PAGERDUTY_ROUTING_KEY: PagerDuty Events API v2 routing key.')
param pagerDutyRoutingKey string = ''

// ---------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------

var token = toLower(uniqueString(subscription().id, resourceGroupName, location))
var prefix = toLower(namePrefix)
var allTags = union(tags, { application: 'tripline' })
var aksClusters = filter(aksClusterResourceIds, id => !empty(trim(id)))

// At most 32 messages a batch: Event Hubs messages reach 1 MB, and the
// largest batch the host can send is what the handler must hold in memory
// (bench/README.md, "Memory": 32 messages of 1 MB fit the default 512 MB
// instance beside the Functions host; 100 would not).
// host.json extensions.eventHubs values per profile, applied as
// AzureFunctionsJobHost__ app settings (functionapp.bicep). maxWaitTime is
// used by the host only when minEventBatchSize > 1. tools/cost/ prices both;
// its tests keep the two lists and host.json (= realtime, the default) equal.
var batchingProfiles = {
  realtime: {
    minEventBatchSize: 1
    maxEventBatchSize: 32
    maxWaitTime: '00:00:30'
    prefetchCount: 300
  }
  economy: {
    minEventBatchSize: 32
    maxEventBatchSize: 32
    maxWaitTime: '00:01:00'
    prefetchCount: 300
  }
}

// The subscription system topic: reused when scripts/deploy.sh found one,
// else created (only by the feeds owner) in the shared resource group under a
// name that depends on the subscription alone.
var createSystemTopic = ownsSubscriptionFeeds && empty(existingSystemTopicId)
var systemTopicResourceGroup = empty(existingSystemTopicId) ? sharedResourceGroupName : split(existingSystemTopicId, '/')[4]
var systemTopicName = empty(existingSystemTopicId) ? 'evgt-tripline-${toLower(uniqueString(subscription().id))}' : last(split(existingSystemTopicId, '/'))

// Operations the built-in rule pack (detect/rules) matches in the Activity Log,
// spelled as Event Grid sends them (mixed case; Event Grid string filters are
// case-insensitive). infra/infra_test.go checks this list against the rules.
var builtinEventGridOperations = [
  'Microsoft.Kubernetes/connectedClusters/events.k8s.io/events/delete'
  'Microsoft.Kubernetes/connectedClusters/events/delete'
]

var channelConfigured = {
  webhookUrl: !empty(webhookUrl) || contains(channelSecretsInVault, 'TRIPLINE_WEBHOOK_URL')
  webhookSecret: !empty(webhookSecret) || contains(channelSecretsInVault, 'TRIPLINE_WEBHOOK_SECRET')
  teamsWebhookUrl: !empty(teamsWebhookUrl) || contains(channelSecretsInVault, 'TRIPLINE_TEAMS_WEBHOOK_URL')
  slackWebhookUrl: !empty(slackWebhookUrl) || contains(channelSecretsInVault, 'TRIPLINE_SLACK_WEBHOOK_URL')
  pagerDutyRoutingKey: !empty(pagerDutyRoutingKey) || contains(channelSecretsInVault, 'TRIPLINE_PAGERDUTY_ROUTING_KEY')
}

// ---------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------

resource rg 'Microsoft.Resources/resourceGroups@2025-04-01' = {
  name: resourceGroupName
  location: location
  tags: allTags
}

module identity 'modules/identity.bicep' = {
  name: 'tripline-identity'
  scope: rg
  params: {
    name: 'id-${prefix}-${token}'
    location: location
    tags: allTags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'tripline-storage'
  scope: rg
  params: {
    name: take('st${prefix}${token}', 24)
    location: location
    tags: allTags
    deploymentContainerName: 'app-package-${token}'
    deadLetterContainerName: 'eventgrid-deadletter'
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'tripline-monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${prefix}-${token}'
    appInsightsName: 'appi-${prefix}-${token}'
    location: location
    tags: allTags
  }
}

module eventHubs 'modules/eventhubs.bicep' = {
  name: 'tripline-eventhubs'
  scope: rg
  params: {
    namespaceName: 'evhns-${prefix}-${token}'
    eventHubName: eventHubName
    consumerGroupName: 'tripline'
    authorizationRuleName: 'tripline-diagnostics'
    partitionCount: eventHubPartitionCount
    retentionInDays: eventHubRetentionInDays
    capacity: eventHubCapacity
    location: location
    tags: allTags
  }
}

module cosmos 'modules/cosmos.bicep' = {
  name: 'tripline-cosmos'
  scope: rg
  params: {
    accountName: 'cosmos-${prefix}-${token}'
    databaseName: 'tripline'
    containerName: 'alerts'
    principalId: identity.outputs.principalId
    location: location
    tags: allTags
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'tripline-keyvault'
  scope: rg
  params: {
    name: take('kv-${take(prefix, 4)}-${token}', 24)
    location: location
    tags: allTags
    purgeProtection: keyVaultPurgeProtection
    webhookUrl: webhookUrl
    webhookSecret: webhookSecret
    teamsWebhookUrl: teamsWebhookUrl
    slackWebhookUrl: slackWebhookUrl
    pagerDutyRoutingKey: pagerDutyRoutingKey
  }
}

module roles 'modules/roles.bicep' = {
  name: 'tripline-roles'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    eventHubNamespaceName: eventHubs.outputs.namespaceName
    eventHubName: eventHubs.outputs.eventHubName
    appInsightsName: monitoring.outputs.appInsightsName
    keyVaultName: keyVault.outputs.name
    eventGridPrincipalId: systemTopicPrincipalId
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'tripline-functionapp'
  scope: rg
  params: {
    planName: 'plan-${prefix}-${token}'
    appName: 'func-${prefix}-${token}'
    location: location
    tags: allTags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    eventHubBatching: batchingProfiles[costProfile]
    storageBlobEndpoint: storage.outputs.blobEndpoint
    storageQueueEndpoint: storage.outputs.queueEndpoint
    storageTableEndpoint: storage.outputs.tableEndpoint
    deploymentContainerName: storage.outputs.deploymentContainerName
    appInsightsConnectionString: monitoring.outputs.appInsightsConnectionString
    eventHubFullyQualifiedNamespace: eventHubs.outputs.fullyQualifiedNamespace
    eventHubName: eventHubs.outputs.eventHubName
    eventHubConsumerGroup: eventHubs.outputs.consumerGroupName
    cosmosEndpoint: cosmos.outputs.endpoint
    cosmosDatabase: cosmos.outputs.databaseName
    cosmosContainer: cosmos.outputs.containerName
    keyVaultUri: keyVault.outputs.uri
    channelConfigured: channelConfigured
    notificationRetrySchedule: notificationRetrySchedule
    alertTtl: alertTtl
    deliveryHorizon: deliveryHorizon
    pagerDutyEventsUrl: pagerDutyEventsUrl
  }
  // App settings are written after the identity can read what they point at
  // (storage, hub, vault, Cosmos): Key Vault references resolve with it
  // (https://learn.microsoft.com/azure/app-service/app-service-key-vault-references).
  dependsOn: [
    roles
  ]
}

resource sharedRg 'Microsoft.Resources/resourceGroups@2025-04-01' = if (createSystemTopic) {
  name: sharedResourceGroupName
  location: location
  tags: union(tags, { application: 'tripline', 'tripline-shared': 'subscription-system-topic' })
}

module systemTopic 'modules/eventgrid-topic.bicep' = if (createSystemTopic) {
  name: 'tripline-${environmentName}-systemtopic'
  scope: sharedRg
  params: {
    name: systemTopicName
    tags: union(tags, { application: 'tripline' })
  }
}

// A topic found by scripts/deploy.sh; it checked that the topic has a
// system-assigned identity (dead-lettering uses it).
resource existingSystemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = if (ownsSubscriptionFeeds && !empty(existingSystemTopicId)) {
  name: systemTopicName
  scope: resourceGroup(systemTopicResourceGroup)
}

var systemTopicPrincipalId = !ownsSubscriptionFeeds ? '' : (createSystemTopic ? systemTopic!.outputs.principalId : existingSystemTopic!.identity.principalId)

module eventGrid 'modules/eventgrid.bicep' = if (ownsSubscriptionFeeds && deployEventGridSubscription) {
  name: 'tripline-${environmentName}-eventgrid'
  scope: resourceGroup(systemTopicResourceGroup)
  params: {
    systemTopicName: createSystemTopic ? systemTopic!.outputs.name : systemTopicName
    eventSubscriptionName: 'tripline-${environmentName}'
    functionAppId: functionApp.outputs.id
    eventTypes: eventGridEventTypes
    operationNames: union(builtinEventGridOperations, extraEventGridOperations)
    storageAccountId: storage.outputs.id
    deadLetterContainerName: storage.outputs.deadLetterContainerName
  }
  // The topic's identity needs its blob role on the dead-letter account first.
  dependsOn: [
    roles
  ]
}

// Subscription Activity Log -> event hub
// (https://learn.microsoft.com/azure/azure-monitor/platform/diagnostic-settings). Needs a
// namespace-level SAS rule with Listen, Manage and Send.
// One export per subscription: only the environment owning the feeds writes it,
// so a second environment never re-points it at its own hub.
resource activityLogExport 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (ownsSubscriptionFeeds) {
  name: activityLogDiagnosticSettingName
  properties: {
    eventHubAuthorizationRuleId: eventHubs.outputs.authorizationRuleId
    eventHubName: eventHubs.outputs.eventHubName
    logs: [for category in activityLogCategories: {
      category: category
      enabled: true
    }]
  }
}

// kube-audit-admin of each listed AKS cluster -> the same event hub; deployed
// into each cluster's own resource group (and subscription).
module aksAudit 'modules/aks-audit.bicep' = [for (clusterId, i) in aksClusters: {
  name: 'tripline-${environmentName}-aks-audit-${i}'
  scope: resourceGroup(split(clusterId, '/')[2], split(clusterId, '/')[4])
  params: {
    clusterName: last(split(clusterId, '/'))
    settingName: 'tripline-${environmentName}-kube-audit-admin'
    eventHubAuthorizationRuleId: eventHubs.outputs.authorizationRuleId
    eventHubName: eventHubs.outputs.eventHubName
  }
}]

// ---------------------------------------------------------------------------
// Outputs
// ---------------------------------------------------------------------------

output resourceGroupName string = rg.name
output functionAppName string = functionApp.outputs.name
output eventHubNamespace string = eventHubs.outputs.namespaceName
output eventHubName string = eventHubs.outputs.eventHubName
output cosmosEndpoint string = cosmos.outputs.endpoint
output keyVaultName string = keyVault.outputs.name
output eventGridSubscriptionDeployed bool = ownsSubscriptionFeeds && deployEventGridSubscription
output environmentName string = environmentName
output ownsSubscriptionFeeds bool = ownsSubscriptionFeeds
output systemTopicId string = ownsSubscriptionFeeds ? resourceId(systemTopicResourceGroup, 'Microsoft.EventGrid/systemTopics', systemTopicName) : ''
var phase1Next = 'TRIPLINE_ENV=${environmentName} TRIPLINE_LOCATION=${location} scripts/deploy.sh (builds, publishes with func azure functionapp publish ${functionApp.outputs.name}, then phase 2)'
var phase2Next = 'az functionapp function list --resource-group ${rg.name} --name ${functionApp.outputs.name} --output table'
output nextCommand string = deployEventGridSubscription ? phase2Next : phase1Next

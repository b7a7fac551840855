// Example parameters for infra/main.bicep. scripts/deploy.sh uses this file
// as is; values come from environment variables so that the same file serves
// both deployment phases and no secret is ever written to disk.
//
//   TRIPLINE_ENV                           environment name (default main); one deployment
//                                          tripline-<env> per environment
//   TRIPLINE_LOCATION                      region (default eastus)
//   TRIPLINE_RESOURCE_GROUP                resource group (default rg-tripline-<env>)
//   TRIPLINE_SUBSCRIPTION_FEEDS            true: this environment owns the Activity Log
//                                          export and the Event Grid subscription
//                                          (scripts/deploy.sh decides unless set)
//   TRIPLINE_EVENTGRID_SYSTEM_TOPIC_ID     the subscription's existing system topic
//                                          (scripts/deploy.sh looks it up); empty: create it
//   TRIPLINE_AKS_CLUSTER_IDS               comma-separated AKS cluster resource IDs (optional)
//   TRIPLINE_DEPLOY_EVENTGRID_SUBSCRIPTION true only in phase 2 (after publishing the code)
//   TRIPLINE_WEBHOOK_URL, TRIPLINE_WEBHOOK_SECRET, TRIPLINE_TEAMS_WEBHOOK_URL,
//   TRIPLINE_SLACK_WEBHOOK_URL, TRIPLINE_PAGERDUTY_ROUTING_KEY
//                                          channel secrets, stored in Key Vault when non-empty
//   TRIPLINE_CHANNEL_SECRETS_IN_VAULT      comma-separated setting names whose secret was set
//                                          out of band (az keyvault secret set), e.g.
//                                          TRIPLINE_SLACK_WEBHOOK_URL
//
// Every other parameter keeps main.bicep's default unless set below.
using 'main.bicep'

var env = readEnvironmentVariable('TRIPLINE_ENV', 'main')
param environmentName = env
param location = readEnvironmentVariable('TRIPLINE_LOCATION', 'eastus')
param resourceGroupName = readEnvironmentVariable('TRIPLINE_RESOURCE_GROUP', 'rg-tripline-${env}')
param ownsSubscriptionFeeds = bool(readEnvironmentVariable('TRIPLINE_SUBSCRIPTION_FEEDS', 'true'))
param existingSystemTopicId = readEnvironmentVariable('TRIPLINE_EVENTGRID_SYSTEM_TOPIC_ID', '')

// Flex Consumption sizing: Tripline's peak RSS is about 30 MB (bench/RESULTS.md),
// so 512 MB instances (a quarter of the default 2048's GB-s per second).
param instanceMemoryMB = 512
param maximumInstanceCount = 100

// Event Hubs batching: realtime (default: alerts within seconds) or economy; docs/cost.md compares them.
param costProfile = readEnvironmentVariable('TRIPLINE_COST_PROFILE', 'realtime')

// Activity Log categories; Administrative and Security carry what the rules need.
param activityLogCategories = [
  'Administrative'
  'Security'
]

// AKS clusters whose kube-audit-admin log Tripline reads (same region as the
// Event Hubs namespace), e.g.
// /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.ContainerService/managedClusters/<name>
param aksClusterResourceIds = split(readEnvironmentVariable('TRIPLINE_AKS_CLUSTER_IDS', ''), ',')

param deployEventGridSubscription = bool(readEnvironmentVariable('TRIPLINE_DEPLOY_EVENTGRID_SUBSCRIPTION', 'false'))

// Extra ARM operations to deliver through Event Grid in seconds, for your own
// rules, e.g. control-plane precursors of Kubernetes tampering:
//   'Microsoft.ContainerService/managedClusters/listClusterAdminCredential/action'
//   'Microsoft.ContainerService/managedClusters/runCommand/action'
//   'Microsoft.Insights/diagnosticSettings/delete'
param extraEventGridOperations = []

param notificationRetrySchedule = '0 */5 * * * *'
param alertTtl = '720h'
param deliveryHorizon = '24h'

param channelSecretsInVault = split(readEnvironmentVariable('TRIPLINE_CHANNEL_SECRETS_IN_VAULT', ''), ',')
param webhookUrl = readEnvironmentVariable('TRIPLINE_WEBHOOK_URL', '')
param webhookSecret = readEnvironmentVariable('TRIPLINE_WEBHOOK_SECRET', '')
param teamsWebhookUrl = readEnvironmentVariable('TRIPLINE_TEAMS_WEBHOOK_URL', '')
param slackWebhookUrl = readEnvironmentVariable('TRIPLINE_SLACK_WEBHOOK_URL', '')
param pagerDutyRoutingKey = readEnvironmentVariable('TRIPLINE_PAGERDUTY_ROUTING_KEY', '')

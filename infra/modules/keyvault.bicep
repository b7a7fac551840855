// RBAC-mode Key Vault holding the notification channels' secrets. A secret is
// created only when its secure parameter is non-empty; secrets can also be set
// out of band (docs/deploy.md) and listed in main.bicep's channelSecretsInVault.
// The app reads them through Key Vault references with its identity (Key
// Vault Secrets User); no secret value reaches the app settings.
param name string
param location string
param tags object
param purgeProtection bool

@secure()
param webhookUrl string
@secure()
param webhookSecret string
@secure()
param teamsWebhookUrl string
@secure()
param slackWebhookUrl string
@secure()
param pagerDutyRoutingKey string

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    // Purge protection cannot be set to false explicitly, only left out.
    enablePurgeProtection: purgeProtection ? true : null
    publicNetworkAccess: 'Enabled'
  }
}

// Secret names are fixed: modules/functionapp.bicep references them by name.
resource webhookUrlSecret 'Microsoft.KeyVault/vaults/secrets@2024-11-01' = if (!empty(webhookUrl)) {
  parent: vault
  name: 'tripline-webhook-url'
  properties: {
    value: webhookUrl
  }
}

resource webhookSecretSecret 'Microsoft.KeyVault/vaults/secrets@2024-11-01' = if (!empty(webhookSecret)) {
  parent: vault
  name: 'tripline-webhook-secret'
  properties: {
    value: webhookSecret
  }
}

resource teamsWebhookUrlSecret 'Microsoft.KeyVault/vaults/secrets@2024-11-01' = if (!empty(teamsWebhookUrl)) {
  parent: vault
  name: 'tripline-teams-webhook-url'
  properties: {
    value: teamsWebhookUrl
  }
}

resource slackWebhookUrlSecret 'Microsoft.KeyVault/vaults/secrets@2024-11-01' = if (!empty(slackWebhookUrl)) {
  parent: vault
  name: 'tripline-slack-webhook-url'
  properties: {
    value: slackWebhookUrl
  }
}

resource pagerDutyRoutingKeySecret 'Microsoft.KeyVault/vaults/secrets@2024-11-01' = if (!empty(pagerDutyRoutingKey)) {
  parent: vault
  name: 'tripline-pagerduty-routing-key'
  properties: {
    value: pagerDutyRoutingKey
  }
}

output name string = vault.name
// https://<vault>.vault.azure.net/ (trailing slash included).
output uri string = vault.properties.vaultUri

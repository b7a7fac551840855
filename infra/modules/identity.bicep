// The one user-assigned managed identity Tripline uses for everything: host
// storage, Flex deployment storage, Event Hubs, Application Insights, Cosmos
// DB, Key Vault references and Event Grid dead-lettering.
param name string
param location string
param tags object

resource uami 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {
  name: name
  location: location
  tags: tags
}

output id string = uami.id
output principalId string = uami.properties.principalId
output clientId string = uami.properties.clientId

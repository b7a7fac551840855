// The subscription's Event Grid system topic (type
// Microsoft.Resources.Subscriptions). Event Grid allows one system topic per
// source, so main.bicep creates it only when scripts/deploy.sh found none,
// and in a resource group of its own, apart from every environment: removing
// an environment must not remove a topic that another one subscribes to.
param name string
param tags object

resource systemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: name
  location: 'global'
  tags: tags
  // The topic's own identity dead-letters into each environment's storage
  // (roles.bicep grants it there): no environment's identity is attached to a
  // shared resource.
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: subscription().id
    topicType: 'Microsoft.Resources.Subscriptions'
  }
}

output name string = systemTopic.name
output principalId string = systemTopic.identity.principalId

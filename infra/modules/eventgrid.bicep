// Event Grid system topic for the subscription's ARM events and (phase 2) the
// event subscription that delivers the rules' operations to ResourceEvents.
param systemTopicName string
param tags object
@description('Resource id of the app identity; the system topic uses it to write dead-lettered events.')
param identityId string
param functionAppId string
@description('Create the event subscription. Only after the code is published: Event Grid checks that the function exists and has an eventGridTrigger binding.')
param deployEventSubscription bool
param eventTypes array
@description('data.operationName values to deliver (Event Grid: at most 25 filter values per subscription; string filters are case-insensitive).')
@maxLength(25)
param operationNames array
param storageAccountId string
param deadLetterContainerName string

// One system topic per source: if the subscription already has a
// Microsoft.Resources.Subscriptions system topic, creation fails (docs/deploy.md).
resource systemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: systemTopicName
  location: 'global'
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    source: subscription().id
    topicType: 'Microsoft.Resources.Subscriptions'
  }
}

resource resourceEvents 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = if (deployEventSubscription) {
  parent: systemTopic
  name: 'tripline-resource-events'
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppId}/functions/ResourceEvents'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: eventTypes
      enableAdvancedFilteringOnArrays: true
      advancedFilters: [
        {
          operatorType: 'StringIn'
          key: 'data.operationName'
          values: operationNames
        }
      ]
    }
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'UserAssigned'
        userAssignedIdentity: identityId
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: storageAccountId
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}

output systemTopicName string = systemTopic.name

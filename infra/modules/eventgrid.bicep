// The Event Grid event subscription that delivers the rules' operations to
// ResourceEvents (phase 2), on the subscription's system topic, which lives in
// its own resource group (eventgrid-topic.bicep) or was there before Tripline.
// Deployed into the topic's resource group; the name carries the environment
// so that environments never overwrite each other's subscription.
param systemTopicName string
param eventSubscriptionName string
param functionAppId string
param eventTypes array
@description('data.operationName values to deliver (Event Grid: at most 25 filter values per subscription; string filters are case-insensitive).')
@maxLength(25)
param operationNames array
param storageAccountId string
param deadLetterContainerName string

resource systemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = {
  name: systemTopicName
}

// Created only after the code is published: Event Grid checks at creation
// that the function exists and has an eventGridTrigger binding.
resource resourceEvents 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
  parent: systemTopic
  name: eventSubscriptionName
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
        type: 'SystemAssigned'
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

output eventSubscriptionName string = resourceEvents.name

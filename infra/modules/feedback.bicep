// Feedback storage (issue 27): photos that visitors of the page flagged ("No, it is ...")
// and agreed to send, kept for the owner to improve the model (`isit feedback pull`).
// - A private container on the app's storage account (no anonymous access; the account
//   itself allows Entra ID only).
// - Storage Blob Data Contributor for the Function's managed identity, scoped to that
//   container only: what the Function needs to write feedback, and nothing else.
// - A lifecycle rule deleting each item retentionDays after it was written (Azure runs
//   lifecycle rules about once a day, so an item may outlive that by a day).
// The container and the rule exist whether or not feedback is turned on: an empty container
// costs nothing, and turning feedback on or off is then just the FEEDBACK_STORAGE app setting.

@description('Storage account of the Function (holds the feedback container).')
param storageAccountName string

@description('Name of the private blob container for feedback (FEEDBACK_CONTAINER).')
@minLength(3)
@maxLength(63)
param containerName string = 'feedback'

@description('Principal (object) id of the Function\'s managed identity.')
param principalId string

@description('Days after which a feedback photo and its record are deleted.')
@minValue(1)
@maxValue(365)
param retentionDays int = 30

var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource feedbackContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: containerName
  properties: {
    publicAccess: 'None'
  }
}

resource feedbackWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(feedbackContainer.id, principalId, storageBlobDataContributor)
  scope: feedbackContainer
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
  }
}

// The account's only management policy (one per account, named 'default').
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'delete-old-feedback'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                '${containerName}/items/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterCreationGreaterThan: retentionDays
                }
              }
            }
          }
        }
      ]
    }
  }
}

output containerName string = feedbackContainer.name
output roleDefinitionId string = storageBlobDataContributor

// Role assignments for the Function's user-assigned managed identity:
// - Storage Blob Data Owner on the storage account: the Functions host keeps its
//   state in blobs (AzureWebJobsStorage) and Flex Consumption reads the
//   deployment package from a blob container, both with this identity.
// - Monitoring Metrics Publisher on Application Insights: telemetry is sent with
//   Entra ID auth because local (key) auth is disabled on the component.
// The app has only HTTP triggers, so no queue or table roles are needed.
// Storage Blob Data Owner is the least role the documentation gives for the host: Microsoft's
// table of AzureWebJobsStorage permissions (azure-docs, includes/functions-azurewebjobsstorage-
// permissions.md, row "No extension (host only)") lists exactly this role, as the host reads
// and writes blobs (coordination, its key store) and creates its containers; the Flex
// deployment container is on the same account. No account-management role (Contributor,
// Storage Account Contributor) and no queue or table role is given.

@description('Storage account used by the Function.')
param storageAccountName string

@description('Application Insights component used by the Function.')
param applicationInsightsName string

@description('Principal (object) id of the managed identity of the Function.')
param principalId string

var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource blobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, principalId, storageBlobDataOwner)
  scope: storage
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
  }
}

resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, principalId, monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
  }
}

output storageRoleDefinitionId string = storageBlobDataOwner
output monitoringRoleDefinitionId string = monitoringMetricsPublisher

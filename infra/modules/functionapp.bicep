// The isit API: a Python 3.11 Azure Function on the Flex Consumption plan (FC1).
// - The model ships inside the deployment package (model/model.onnx beside
//   function_app.py); MODEL_PATH points at it.
// - Host storage and the deployment package are reached with the user-assigned
//   managed identity; no storage key or connection string is stored anywhere.
// - CORS allows exactly the page's origin(s); never '*'.
// - Flex Consumption has no FTP endpoint and rejects siteConfig.ftpsState, so
//   FTP is switched off through the basic-auth publishing policies below.

@description('Azure region (must offer Flex Consumption: az functionapp list-flexconsumption-locations).')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Function App name (also its default host name prefix).')
param name string

@description('Flex Consumption plan name.')
param planName string

@description('Storage account for the Functions host (AzureWebJobsStorage).')
param storageAccountName string

@description('URL of the blob container that receives the deployment package.')
param deploymentContainerUrl string

@description('Resource id of the user-assigned managed identity.')
param identityId string

@description('Client id of the user-assigned managed identity.')
param identityClientId string

@description('Application Insights connection string (not a secret: ingestion needs Entra ID auth).')
param applicationInsightsConnectionString string

@description('Origins allowed by CORS, e.g. the Static Web App URL. Must not contain *.')
@minLength(1)
param allowedOrigins array

@description('Python version of the Functions worker.')
@allowed([
  '3.11'
])
param pythonVersion string = '3.11'

@description('Instances kept warm for the HTTP functions. 0 = scale to zero (cheapest, cold starts); 1+ = no cold start, billed while idle.')
@minValue(0)
@maxValue(20)
param alwaysReadyInstanceCount int = 0

@description('Upper bound on scale-out; caps the bill under a traffic spike.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Memory per instance in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Path of the ONNX model, relative to function_app.py.')
param modelPath string = 'model/model.onnx'

@description('Largest accepted upload in bytes.')
@minValue(1)
param maxUploadBytes int = 10000000

@description('Largest accepted image size in pixels (width x height).')
@minValue(1)
param maxImagePixels int = 80000000

@description('Blob endpoint of the account holding feedback (https://<account>.blob.core.windows.net/); empty = feedback off.')
param feedbackStorageUrl string = ''

@description('Private container that receives feedback.')
param feedbackContainerName string = 'feedback'

@description('Days a flagged photo is kept (the lifecycle rule deletes it; the page says so).')
@minValue(1)
param feedbackRetentionDays int = 30

@description('Flagged photos kept per instance and UTC day.')
@minValue(1)
param feedbackDailyCap int = 500

@description('Flagged photos accepted per instance and minute.')
@minValue(1)
param feedbackRatePerMinute int = 20

// Concurrent HTTP requests per instance, chosen so the worst case fits the instance memory:
// every request costs at most requestWorstCaseMB above the warm worker (the decode budget's
// goal, enforced by isit/budget.py and measured by bench/bench_hostile.py: 187 MB worst, a
// lossless WebP at the budget), and workerBaselineMB covers the Functions host, the Python
// worker and the loaded model (the warm Python worker alone measured 136 MB). With 2048 MB:
// (2048 - 600) / 300 = 4 requests at once, 4 x 300 + 600 = 1800 MB. (Without the setting
// the platform picks its own default, which knows nothing of this app's memory use.)
var workerBaselineMB = 600
var requestWorstCaseMB = 300
var httpPerInstanceConcurrency = max(1, (instanceMemoryMB - workerBaselineMB) / requestWorstCaseMB)

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225:Zone redundancy on Flex Consumption needs always-ready instances in several zones, which is billed while idle; a demo classifier can accept a zonal outage.
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

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_17:Client certificates would make the public page unable to call the API.
  // checkov:skip=CKV_AZURE_78:Flex Consumption has no FTP endpoint and ARM rejects siteConfig.ftpsState for it; FTP publishing is disabled by the basicPublishingCredentialsPolicies 'ftp' resource.
  // checkov:skip=CKV_AZURE_212:Scale to zero is the default so an idle app costs nothing; raise alwaysReadyInstanceCount to keep instances warm.
  // checkov:skip=CKV_AZURE_213:A platform health check pings instances every minute, which would keep a scale-to-zero app awake and billed; GET /api/health is there for external uptime probes.
  // checkov:skip=CKV_AZURE_222:The API must be reachable from visitors' browsers, so public network access stays enabled.
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
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
    clientAffinityEnabled: false
    publicNetworkAccess: 'Enabled'
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      http20Enabled: true
      cors: {
        allowedOrigins: allowedOrigins
        supportCredentials: false
      }
      appSettings: [
        // Host storage through the managed identity (no AzureWebJobsStorage connection string).
        {
          name: 'AzureWebJobsStorage__accountName'
          value: storageAccountName
        }
        {
          name: 'AzureWebJobsStorage__credential'
          value: 'managedidentity'
        }
        {
          name: 'AzureWebJobsStorage__clientId'
          value: identityClientId
        }
        // Telemetry, authenticated with the same identity.
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: applicationInsightsConnectionString
        }
        {
          name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
          value: 'ClientId=${identityClientId};Authorization=AAD'
        }
        // isit settings read by function_app.py.
        {
          name: 'MODEL_PATH'
          value: modelPath
        }
        {
          name: 'ALLOWED_ORIGINS'
          value: join(allowedOrigins, ',')
        }
        {
          name: 'MAX_UPLOAD_BYTES'
          value: string(maxUploadBytes)
        }
        {
          name: 'MAX_IMAGE_PIXELS'
          value: string(maxImagePixels)
        }
        // Feedback (isit/photo_feedback.py): written with the same managed identity.
        {
          name: 'FEEDBACK_STORAGE'
          value: feedbackStorageUrl
        }
        {
          name: 'FEEDBACK_CONTAINER'
          value: feedbackContainerName
        }
        {
          name: 'FEEDBACK_CLIENT_ID'
          value: identityClientId
        }
        {
          name: 'FEEDBACK_RETENTION_DAYS'
          value: string(feedbackRetentionDays)
        }
        {
          name: 'FEEDBACK_DAILY_CAP'
          value: string(feedbackDailyCap)
        }
        {
          name: 'FEEDBACK_RATE_PER_MINUTE'
          value: string(feedbackRatePerMinute)
        }
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
        triggers: {
          http: {
            perInstanceConcurrency: httpPerInstanceConcurrency
          }
        }
        alwaysReady: (alwaysReadyInstanceCount > 0) ? [
          {
            name: 'http'
            instanceCount: alwaysReadyInstanceCount
          }
        ] : []
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
  }
}

// Basic-auth (user name + password) publishing off: azd and Core Tools deploy with Entra ID.
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = functionApp.name
output url string = 'https://${functionApp.properties.defaultHostName}'

// isit on Azure: `azd up` provisions this, then deploys the Function (service
// 'api', the repo root) and the page (service 'web', site/).
//
// Resource group rg-<env> with:
//   Function App on Flex Consumption (Python 3.11) + its plan and managed identity
//   Storage account (host state + deployment package; identity access only)
//   Log Analytics workspace + Application Insights
//   Static Web App (Free) serving site/
//   Feedback container (private), its lifecycle rule and role (on only with enableFeedback)
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; names the resource group and seeds the resource names.')
param environmentName string

@minLength(1)
@description('Region of the Function App and its resources (must offer Flex Consumption).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Region of the Static Web App, which is offered in only a few regions.')
@allowed([
  'westus2'
  'centralus'
  'eastus2'
  'westeurope'
  'eastasia'
])
param staticWebAppLocation string = 'westeurope'

@description('Always-ready (pre-warmed) instances for the HTTP functions. 0 = scale to zero: cheapest, with a cold start of a few seconds after idle. Each ready instance is billed around the clock.')
@minValue(0)
@maxValue(20)
param alwaysReadyInstanceCount int = 0

@description('Maximum number of Function instances (caps cost under load).')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Memory per Function instance in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Largest accepted upload in bytes (default 10 MB).')
@minValue(1)
param maxUploadBytes int = 10000000

@description('Largest accepted image in pixels (default 80 megapixels).')
@minValue(1)
param maxImagePixels int = 80000000

@description('Keep the photos visitors flag on the page ("Was this right?"), for the owner to improve the model: sets FEEDBACK_STORAGE. Off by default; `azd env set ISIT_FEEDBACK true` turns it on.')
param enableFeedback bool = false

@description('Days after which flagged photos are deleted (lifecycle rule; the page tells visitors).')
@minValue(1)
@maxValue(365)
param feedbackRetentionDays int = 30

@description('Flagged photos kept per Function instance and UTC day (FEEDBACK_DAILY_CAP).')
@minValue(1)
param feedbackDailyCap int = 500

@description('Flagged photos accepted per Function instance and minute (FEEDBACK_RATE_PER_MINUTE).')
@minValue(1)
param feedbackRatePerMinute int = 20

@description('Extra browser origins allowed to call the API besides the Static Web App, e.g. a custom domain (https://photos.example.com). Never *.')
param extraAllowedOrigins array = []

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
  app: 'isit'
}
var deploymentContainerName = 'app-package-${take(resourceToken, 7)}'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    location: location
    tags: tags
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    location: location
    tags: tags
    name: 'st${resourceToken}'
    deploymentContainerName: deploymentContainerName
  }
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    location: location
    tags: tags
    name: 'id-func-${resourceToken}'
  }
}

module rbac 'modules/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    principalId: identity.outputs.principalId
  }
}

module feedback 'modules/feedback.bicep' = {
  name: 'feedback'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    containerName: 'feedback'
    principalId: identity.outputs.principalId
    retentionDays: feedbackRetentionDays
  }
}

module web 'modules/staticwebapp.bicep' = {
  name: 'web'
  scope: rg
  params: {
    location: staticWebAppLocation
    tags: tags
    name: 'swa-${resourceToken}'
  }
}

module api 'modules/functionapp.bicep' = {
  name: 'api'
  scope: rg
  params: {
    location: location
    tags: tags
    name: 'func-${resourceToken}'
    planName: 'plan-${resourceToken}'
    storageAccountName: storage.outputs.name
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    // The page's origin only (plus any custom domains the user lists).
    allowedOrigins: concat([web.outputs.url], extraAllowedOrigins)
    pythonVersion: '3.11'
    alwaysReadyInstanceCount: alwaysReadyInstanceCount
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    modelPath: 'model/model.onnx'
    maxUploadBytes: maxUploadBytes
    maxImagePixels: maxImagePixels
    // '' keeps feedback off: the page does not ask and /api/feedback answers 404.
    feedbackStorageUrl: enableFeedback ? storage.outputs.blobEndpoint : ''
    feedbackContainerName: feedback.outputs.containerName
    feedbackRetentionDays: feedbackRetentionDays
    feedbackDailyCap: feedbackDailyCap
    feedbackRatePerMinute: feedbackRatePerMinute
  }
  // Roles first, so the Functions host can reach its storage on first start.
  dependsOn: [
    rbac
  ]
}

// azd stores these in .azure/<env>/.env; the predeploy hook reads API_URL.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output AZURE_STATIC_WEB_APP_NAME string = web.outputs.name
output API_URL string = api.outputs.url
output WEB_URL string = web.outputs.url

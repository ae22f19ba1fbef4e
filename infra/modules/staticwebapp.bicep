// Azure Static Web Apps (Free tier) hosting site/. azd finds it by the
// 'azd-service-name: web' tag and uploads the files with the SWA CLI.

@description('Region of the Static Web App (only a few regions offer it; content is served worldwide from the edge).')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Static Web App name.')
param name string

resource staticWebApp 'Microsoft.Web/staticSites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'web' })
  sku: {
    name: 'Free'
    tier: 'Free'
  }
  properties: {
    allowConfigFileUpdates: true
    stagingEnvironmentPolicy: 'Disabled'
    buildProperties: {
      skipGithubActionWorkflowGeneration: true
    }
  }
}

output name string = staticWebApp.name
output hostname string = staticWebApp.properties.defaultHostname
output url string = 'https://${staticWebApp.properties.defaultHostname}'

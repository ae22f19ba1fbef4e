// The Function's user-assigned managed identity. It exists before the Function
// so its role assignments are in place when the Functions host first starts.

@description('Azure region.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Managed identity name.')
param name string

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId

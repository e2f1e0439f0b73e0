#
# Catalog.ps1 — Get-ThreatCatalog.
#
# Part of the Palisade module: psmodule/assemble.cmake joins Module.ps1, Private/*.ps1, the
# settings list generated from the C registry and Public/*.ps1 into the staged Palisade.psm1.
#

# ---- Get-ThreatCatalog ----------------------------------------------------------------------

function ConvertTo-ThreatCatalogEntry([System.Collections.IDictionary]$Item, $Version) {
    [pscustomobject]@{
        PSTypeName       = 'Palisade.ThreatCatalogEntry'
        ThreatName       = [string](Get-Field $Item 'name')
        Category         = [string](Get-Field $Item 'category')
        Severity         = [string](Get-Field $Item 'severity')
        DefaultAction    = [string](Get-Field $Item 'default_action')
        SignatureVersion = ConvertTo-NullableLong $Version
    }
}

function Get-ThreatCatalog {
    <#
    .SYNOPSIS
    Lists the threats the signature package in force can report.

    .DESCRIPTION
    Get-ThreatCatalog reads the catalog of the agent's signature package in force: one
    Palisade.ThreatCatalogEntry per threat, sorted by name, with its category, severity and
    the action the agent takes by default (the per-severity preferences and Set-ThreatAction
    override it). These are the names Set-ThreatAction and Add-AllowedThreat -ThreatName
    take.

    Any user may run it: the catalog is not secret. A caller outside the agent's admin group
    is answered through the agent's read-only status socket.

    .PARAMETER ThreatName
    Only threats whose name matches this pattern; * and ? are wildcards, case-insensitive.

    .PARAMETER Severity
    Only this severity: Low, Moderate, High or Severe.

    .PARAMETER Socket
    The control socket of the agent to manage (as palisaded --socket and palisade --socket).
    Default: $env:PALISADE_SOCKET, else /run/palisade/palisaded.sock.

    .EXAMPLE
    PS> Get-ThreatCatalog

    Every threat of the package in force, with severity and default action.

    .EXAMPLE
    PS> Get-ThreatCatalog -ThreatName '*EICAR*' | Format-List

    The EICAR test file's entry, with all properties.

    .EXAMPLE
    PS> Get-ThreatCatalog -Severity Low | Set-ThreatAction -Action NoAction -WhatIf

    Shows what making every Low-severity threat NoAction would do.

    .OUTPUTS
    Palisade.ThreatCatalogEntry

    .LINK
    Set-ThreatAction

    .LINK
    about_Palisade
    #>
    [CmdletBinding()]
    [OutputType('Palisade.ThreatCatalogEntry')]
    param(
        [Parameter(Position = 0)]
        [SupportsWildcards()]
        [Alias('Name')]
        [ValidateNotNullOrEmpty()]
        [string]$ThreatName,

        [ValidateSet('Low', 'Moderate', 'High', 'Severe')]
        [string]$Severity,

        [ValidateNotNullOrEmpty()]
        [string]$Socket
    )
    $query = @{}
    if ($ThreatName) { $query['name'] = $ThreatName }
    if ($Severity) { $query['severity'] = $Severity }
    $res = Invoke-PalisadeOp -Op 'catalog.list' -Arguments $query -NotFoundAdvice 'Update-Signature puts a signature package in force.'
    if (Test-PalisadeError $res) {
        $PSCmdlet.ThrowTerminatingError($res)
    }
    $version = Get-Field $res 'signature_version'
    foreach ($item in @(Get-Field $res 'items')) {
        if ($null -ne $item) {
            $PSCmdlet.WriteObject((ConvertTo-ThreatCatalogEntry $item $version))
        }
    }
}

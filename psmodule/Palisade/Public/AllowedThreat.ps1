#
# AllowedThreat.ps1 — Get-AllowedThreat, Add-AllowedThreat, Remove-AllowedThreat.
#
# Part of the Palisade module: psmodule/assemble.cmake joins Module.ps1, Private/*.ps1, the
# settings list generated from the C registry and Public/*.ps1 into the staged Palisade.psm1.
#

# ---- allowed threats ------------------------------------------------------------------------

function ConvertTo-AllowedThreat([System.Collections.IDictionary]$Item) {
    [pscustomobject]@{
        PSTypeName = 'Palisade.AllowedThreat'
        Kind       = [string](Get-Field $Item 'kind')
        Value      = [string](Get-Field $Item 'value')
        AddedAt    = ConvertFrom-PalisadeTime (Get-Field $Item 'added_at')
        AddedBy    = ConvertTo-NullableLong (Get-Field $Item 'added_by')
    }
}

# The entry a call of Add- or Remove-AllowedThreat names: @(kind, value).
function Get-AllowedThreatEntry([System.Management.Automation.PSCmdlet]$Cmdlet, [string]$ThreatName,
    [string]$Sha256, [string]$Kind, [string]$Value) {
    switch ($Cmdlet.ParameterSetName) {
        'ThreatName' { return @('ThreatName', $ThreatName) }
        'Sha256' { return @('Sha256', $Sha256.ToLowerInvariant()) }
        default { return @($Kind, $Value) }
    }
}

function Get-AllowedThreat {
    <#
    .SYNOPSIS
    Lists the threats the agent allows: by threat name or by a file's SHA-256.

    .DESCRIPTION
    Get-AllowedThreat reads the agent's allowed list. A finding whose threat name or SHA-256
    is on it is reported with Action Allow and not counted as a threat (a scan's
    ThreatsFound does not include it); nothing is done to the file.

    Requires root or membership in the agent's admin group.

    .PARAMETER Socket
    The control socket of the agent to manage (as palisaded --socket and palisade --socket).
    Default: $env:PALISADE_SOCKET, else /run/palisade/palisaded.sock.

    .EXAMPLE
    PS> Get-AllowedThreat

    Every allowed threat name and SHA-256, with when and by whom each was added.

    .EXAMPLE
    PS> Get-AllowedThreat | Where-Object Kind -eq ThreatName | Remove-AllowedThreat -WhatIf

    Shows what removing every allowed threat name would do.

    .OUTPUTS
    Palisade.AllowedThreat

    .LINK
    Add-AllowedThreat

    .LINK
    Remove-AllowedThreat
    #>
    [CmdletBinding()]
    [OutputType('Palisade.AllowedThreat')]
    param(
        [ValidateNotNullOrEmpty()]
        [string]$Socket
    )
    $res = Invoke-PalisadeOp -Op 'allow.list'
    if (Test-PalisadeError $res) {
        $PSCmdlet.ThrowTerminatingError($res)
    }
    foreach ($item in @(Get-Field $res 'items')) {
        if ($null -ne $item) {
            $PSCmdlet.WriteObject((ConvertTo-AllowedThreat $item))
        }
    }
}

function Add-AllowedThreat {
    <#
    .SYNOPSIS
    Allows a threat by name, or one file's content by its SHA-256.

    .DESCRIPTION
    Add-AllowedThreat puts an entry on the agent's allowed list. From then on a finding with
    that threat name (case-insensitive) or SHA-256 is reported with Action Allow, is not
    counted as a threat, and its file is left alone.

    Allowing a SHA-256 allows that content only; allowing a threat name allows every file
    the name is reported for. Detections piped from Get-ThreatHistory carry both: they are
    allowed by SHA-256 (the parameter set Sha256 is the default). To allow the name, pipe
    the names (Get-ThreatHistory | Select-Object ThreatName | Add-AllowedThreat) or use
    -ThreatName. A value piped twice is added once; an entry that is already allowed is a
    ResourceExists error that does not stop the rest.

    Requires root or membership in the agent's admin group. Supports -WhatIf and -Confirm.

    .PARAMETER ThreatName
    A threat name of the catalog (Get-ThreatCatalog lists them). Taken from the pipeline by
    property name.

    .PARAMETER Sha256
    A file content's SHA-256, 64 hexadecimal digits. Taken from the pipeline by property
    name (the Sha256 of a Palisade.ThreatDetection or Palisade.QuarantineItem).

    .PARAMETER PassThru
    Output the allowed list after the change (Palisade.AllowedThreat).

    .PARAMETER Socket
    The control socket of the agent to manage (as palisaded --socket and palisade --socket).
    Default: $env:PALISADE_SOCKET, else /run/palisade/palisaded.sock.

    .PARAMETER WhatIf
    Shows what would be allowed without asking the agent to change anything.

    .PARAMETER Confirm
    Asks before each entry is added.

    .EXAMPLE
    PS> Get-ThreatHistory -Path /srv/tools/* | Add-AllowedThreat

    Allows the content of the files detected under /srv/tools (by SHA-256).

    .EXAMPLE
    PS> Add-AllowedThreat -ThreatName 'Virus:DOS/EICAR_Test_File' -PassThru

    Allows the EICAR test file wherever it is found, and lists the allowed entries.

    .EXAMPLE
    PS> Add-AllowedThreat -Sha256 275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f -WhatIf

    Shows what allowing that content would do.

    .INPUTS
    Palisade.ThreatDetection, Palisade.QuarantineItem (Sha256), objects with a ThreatName.

    .OUTPUTS
    None, or Palisade.AllowedThreat with -PassThru.

    .LINK
    Get-AllowedThreat

    .LINK
    Remove-AllowedThreat
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium', DefaultParameterSetName = 'Sha256')]
    [OutputType('Palisade.AllowedThreat')]
    param(
        [Parameter(Mandatory, ParameterSetName = 'ThreatName', ValueFromPipelineByPropertyName)]
        [ValidateNotNullOrEmpty()]
        [string]$ThreatName,

        [Parameter(Mandatory, ParameterSetName = 'Sha256', ValueFromPipelineByPropertyName)]
        [ValidatePattern('^[0-9A-Fa-f]{64}$')]
        [string]$Sha256,

        [switch]$PassThru,

        [ValidateNotNullOrEmpty()]
        [string]$Socket
    )
    begin {
        $seen = [System.Collections.Generic.HashSet[string]]::new([System.StringComparer]::OrdinalIgnoreCase)
        $last = $null
    }
    process {
        $e = Get-AllowedThreatEntry $PSCmdlet $ThreatName $Sha256
        if (-not $seen.Add("$($e[0]):$($e[1])")) {
            return
        }
        if (-not $PSCmdlet.ShouldProcess("$($e[0]) '$($e[1])'", 'Allow')) {
            return
        }
        $res = Invoke-PalisadeOp -Op 'allow.add' -Arguments @{ kind = $e[0]; value = $e[1] } -Target $e[1]
        if (Test-PalisadeError $res) {
            if (Test-FatalPalisadeError $res) {
                $PSCmdlet.ThrowTerminatingError($res)
            }
            $PSCmdlet.WriteError($res)
            return
        }
        $last = $res
    }
    end {
        if ($PassThru -and $null -ne $last) {
            foreach ($i in @(Get-Field $last 'items')) {
                if ($null -ne $i) { $PSCmdlet.WriteObject((ConvertTo-AllowedThreat $i)) }
            }
        }
    }
}

function Remove-AllowedThreat {
    <#
    .SYNOPSIS
    Takes a threat name or a SHA-256 off the agent's allowed list.

    .DESCRIPTION
    Remove-AllowedThreat removes an entry from the allowed list: findings with that name or
    SHA-256 are threats again, handled by the per-threat and per-severity actions. An entry
    that is not on the list is an ObjectNotFound error that does not stop the rest.

    Requires root or membership in the agent's admin group. Supports -WhatIf and -Confirm.

    .PARAMETER ThreatName
    The allowed threat name to remove.

    .PARAMETER Sha256
    The allowed SHA-256 to remove.

    .PARAMETER Kind
    ThreatName or Sha256: with -Value, an entry as Get-AllowedThreat outputs it (taken from
    the pipeline by property name).

    .PARAMETER Value
    The entry's threat name or SHA-256, with -Kind.

    .PARAMETER Socket
    The control socket of the agent to manage (as palisaded --socket and palisade --socket).
    Default: $env:PALISADE_SOCKET, else /run/palisade/palisaded.sock.

    .PARAMETER WhatIf
    Shows what would be removed without asking the agent to change anything.

    .PARAMETER Confirm
    Asks before each entry is removed.

    .EXAMPLE
    PS> Remove-AllowedThreat -ThreatName 'Virus:DOS/EICAR_Test_File'

    The EICAR test file is a threat again.

    .EXAMPLE
    PS> Get-AllowedThreat | Remove-AllowedThreat -Confirm

    Empties the allowed list, asking for each entry.

    .INPUTS
    Palisade.AllowedThreat (Kind and Value).

    .OUTPUTS
    None.

    .LINK
    Get-AllowedThreat
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium', DefaultParameterSetName = 'Entry')]
    [OutputType([void])]
    param(
        [Parameter(Mandatory, ParameterSetName = 'ThreatName')]
        [ValidateNotNullOrEmpty()]
        [string]$ThreatName,

        [Parameter(Mandatory, ParameterSetName = 'Sha256')]
        [ValidatePattern('^[0-9A-Fa-f]{64}$')]
        [string]$Sha256,

        [Parameter(Mandatory, ParameterSetName = 'Entry', ValueFromPipelineByPropertyName)]
        [ValidateSet('ThreatName', 'Sha256')]
        [string]$Kind,

        [Parameter(Mandatory, ParameterSetName = 'Entry', ValueFromPipelineByPropertyName)]
        [ValidateNotNullOrEmpty()]
        [string]$Value,

        [ValidateNotNullOrEmpty()]
        [string]$Socket
    )
    process {
        $e = Get-AllowedThreatEntry $PSCmdlet $ThreatName $Sha256 $Kind $Value
        if (-not $PSCmdlet.ShouldProcess("$($e[0]) '$($e[1])'", 'Remove from the allowed list')) {
            return
        }
        $res = Invoke-PalisadeOp -Op 'allow.remove' -Arguments @{ kind = $e[0]; value = $e[1] } -Target $e[1] -NotFoundAdvice 'Get-AllowedThreat lists the allowed entries.'
        if (Test-PalisadeError $res) {
            if (Test-FatalPalisadeError $res) {
                $PSCmdlet.ThrowTerminatingError($res)
            }
            $PSCmdlet.WriteError($res)
        }
    }
}

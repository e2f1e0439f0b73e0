#
# ThreatAction.ps1 — Get-ThreatAction, Set-ThreatAction, Remove-ThreatAction.
#
# Part of the Palisade module: psmodule/assemble.cmake joins Module.ps1, Private/*.ps1, the
# settings list generated from the C registry and Public/*.ps1 into the staged Palisade.psm1.
#

# ---- per-threat actions ---------------------------------------------------------------------

function ConvertTo-ThreatAction([System.Collections.IDictionary]$Item) {
    [pscustomobject]@{
        PSTypeName = 'Palisade.ThreatAction'
        ThreatName = [string](Get-Field $Item 'threat')
        Action     = [string](Get-Field $Item 'action')
        SetAt      = ConvertFrom-PalisadeTime (Get-Field $Item 'set_at')
        SetBy      = ConvertTo-NullableLong (Get-Field $Item 'set_by')
    }
}

function Write-ThreatActionList([System.Management.Automation.PSCmdlet]$Cmdlet, $Result, [string]$Pattern) {
    foreach ($i in @(Get-Field $Result 'items')) {
        if ($null -eq $i) { continue }
        $o = ConvertTo-ThreatAction $i
        if (-not $Pattern -or $o.ThreatName -like $Pattern) {
            $Cmdlet.WriteObject($o)
        }
    }
}

function Get-ThreatAction {
    <#
    .SYNOPSIS
    Lists the per-threat action overrides.

    .DESCRIPTION
    Get-ThreatAction reads the actions set for single threats (Set-ThreatAction). Such an
    action wins over the per-severity preferences (SevereThreatDefaultAction and the like)
    and over the catalog's default action (Get-ThreatCatalog).

    Requires root or membership in the agent's admin group.

    .PARAMETER ThreatName
    Only threats whose name matches this pattern; * and ? are wildcards (case-insensitive).

    .PARAMETER Socket
    The control socket of the agent to manage (as palisaded --socket and palisade --socket).
    Default: $env:PALISADE_SOCKET, else /run/palisade/palisaded.sock.

    .EXAMPLE
    PS> Get-ThreatAction

    Every per-threat action, with when and by whom it was set.

    .EXAMPLE
    PS> Get-ThreatAction -ThreatName 'Trojan:*' | Remove-ThreatAction -WhatIf

    Shows what dropping the overrides of every Trojan would do.

    .OUTPUTS
    Palisade.ThreatAction

    .LINK
    Set-ThreatAction
    #>
    [CmdletBinding()]
    [OutputType('Palisade.ThreatAction')]
    param(
        [Parameter(Position = 0)]
        [SupportsWildcards()]
        [ValidateNotNullOrEmpty()]
        [string]$ThreatName,

        [ValidateNotNullOrEmpty()]
        [string]$Socket
    )
    $res = Invoke-PalisadeOp -Op 'threat_action.list'
    if (Test-PalisadeError $res) {
        $PSCmdlet.ThrowTerminatingError($res)
    }
    Write-ThreatActionList $PSCmdlet $res $ThreatName
}

function Set-ThreatAction {
    <#
    .SYNOPSIS
    Sets what the agent does when it detects one threat.

    .DESCRIPTION
    Set-ThreatAction sets the action for a threat of the catalog of the signature package in
    force: Quarantine, Remove or NoAction (report only). It wins over the per-severity
    preferences. A name the package does not know is an InvalidArgument error (Get-ThreatCatalog
    lists the names; they tab-complete).

    Requires root or membership in the agent's admin group. Supports -WhatIf and -Confirm:
    with -WhatIf nothing is sent to the agent.

    .PARAMETER ThreatName
    The threat's catalog name. Taken from the pipeline by property name (Get-ThreatCatalog,
    Get-ThreatHistory).

    .PARAMETER Action
    Quarantine, Remove or NoAction.

    .PARAMETER PassThru
    Output the per-threat actions after the change (Palisade.ThreatAction).

    .PARAMETER Socket
    The control socket of the agent to manage (as palisaded --socket and palisade --socket).
    Default: $env:PALISADE_SOCKET, else /run/palisade/palisaded.sock.

    .PARAMETER WhatIf
    Shows the change without making it.

    .PARAMETER Confirm
    Asks before each threat's action is set.

    .EXAMPLE
    PS> Set-ThreatAction -ThreatName 'Virus:DOS/EICAR_Test_File' -Action NoAction

    EICAR test files are reported and left where they are.

    .EXAMPLE
    PS> Get-ThreatCatalog -Severity High | Set-ThreatAction -Action Remove -WhatIf

    Shows what removing the files of every High-severity threat would change.

    .INPUTS
    Objects with a ThreatName: Palisade.ThreatCatalogEntry, Palisade.ThreatDetection.

    .OUTPUTS
    None, or Palisade.ThreatAction with -PassThru.

    .LINK
    Get-ThreatAction

    .LINK
    Get-ThreatCatalog
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    [OutputType('Palisade.ThreatAction')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        [ArgumentCompleter({
                param($commandName, $parameterName, $wordToComplete, $commandAst, $fakeBoundParameters)
                $m = @(Get-Module Palisade)[0]
                if ($m) { & $m { param($w, $s) New-CompletionResults (Get-ThreatNameCandidates $s) $w } $wordToComplete ([string]$fakeBoundParameters['Socket']) }
            })]
        [ValidateNotNullOrEmpty()]
        [string]$ThreatName,

        [Parameter(Mandatory, Position = 1)]
        [ValidateSet('Quarantine', 'Remove', 'NoAction')]
        [string]$Action,

        [switch]$PassThru,

        [ValidateNotNullOrEmpty()]
        [string]$Socket
    )
    begin {
        $seen = [System.Collections.Generic.HashSet[string]]::new([System.StringComparer]::Ordinal)
        $last = $null
    }
    process {
        if (-not $seen.Add($ThreatName)) {
            return
        }
        if (-not $PSCmdlet.ShouldProcess("threat '$ThreatName'", "Set action $Action")) {
            return
        }
        $res = Invoke-PalisadeOp -Op 'threat_action.set' -Arguments @{ threat = $ThreatName; action = $Action } -Target $ThreatName
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
            Write-ThreatActionList $PSCmdlet $last $null
        }
    }
}

function Remove-ThreatAction {
    <#
    .SYNOPSIS
    Drops the per-threat action of a threat.

    .DESCRIPTION
    Remove-ThreatAction removes a threat's override: its findings are handled by the
    per-severity preferences again. A threat without an override is an ObjectNotFound error
    that does not stop the rest.

    Requires root or membership in the agent's admin group. Supports -WhatIf and -Confirm.

    .PARAMETER ThreatName
    The threat's name. Taken from the pipeline by property name (Get-ThreatAction).

    .PARAMETER Socket
    The control socket of the agent to manage (as palisaded --socket and palisade --socket).
    Default: $env:PALISADE_SOCKET, else /run/palisade/palisaded.sock.

    .PARAMETER WhatIf
    Shows what would be removed without asking the agent to change anything.

    .PARAMETER Confirm
    Asks before each override is removed.

    .EXAMPLE
    PS> Remove-ThreatAction -ThreatName 'Virus:DOS/EICAR_Test_File'

    EICAR findings follow SevereThreatDefaultAction again.

    .EXAMPLE
    PS> Get-ThreatAction | Remove-ThreatAction -Confirm

    Drops every override, asking for each.

    .INPUTS
    Palisade.ThreatAction (ThreatName).

    .OUTPUTS
    None.

    .LINK
    Set-ThreatAction
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    [OutputType([void])]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        [ValidateNotNullOrEmpty()]
        [string]$ThreatName,

        [ValidateNotNullOrEmpty()]
        [string]$Socket
    )
    process {
        if (-not $PSCmdlet.ShouldProcess("threat '$ThreatName'", 'Remove the per-threat action')) {
            return
        }
        $res = Invoke-PalisadeOp -Op 'threat_action.remove' -Arguments @{ threat = $ThreatName } -Target $ThreatName -NotFoundAdvice 'Get-ThreatAction lists the per-threat actions.'
        if (Test-PalisadeError $res) {
            if (Test-FatalPalisadeError $res) {
                $PSCmdlet.ThrowTerminatingError($res)
            }
            $PSCmdlet.WriteError($res)
        }
    }
}

# Threat names for tab completion: the catalog of the agent (any user may read it).
function Get-ThreatNameCandidates([string]$Socket) {
    $res = Invoke-PalisadeOp -Op 'catalog.list' -Socket $Socket
    if (Test-PalisadeError $res) {
        return @()
    }
    return @($res['items'] | ForEach-Object { [string]$_['name'] })
}

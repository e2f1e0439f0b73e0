#
# Quarantine.ps1 — Get-QuarantineItem, Restore-QuarantineItem, Remove-QuarantineItem.
#
# Part of the Palisade module: psmodule/assemble.cmake joins Module.ps1, Private/*.ps1, the
# settings list generated from the C registry and Public/*.ps1 into the staged Palisade.psm1.
#

# ---- quarantine -----------------------------------------------------------------------------

function Get-QuarantineItem {
    <#
    .SYNOPSIS
    Lists the files in the agent's quarantine.

    .DESCRIPTION
    Get-QuarantineItem returns the quarantined files (Palisade.QuarantineItem: Id, when it
    was quarantined, the threat, the original path, SHA-256 and size). A quarantined file is
    kept by the agent in an inert, transformed form until it is restored, removed, or its
    retention (QuarantineRetentionDays) runs out.

    With -Id, or ids from the pipeline (Id or QuarantineId properties, so the output of
    Get-ThreatHistory works), only those items; an unknown id is an ObjectNotFound error.

    .PARAMETER Id
    The items to get.

    .PARAMETER Socket
    The control socket of the agent to manage (as palisaded --socket and palisade --socket).
    Default: $env:PALISADE_SOCKET, else /run/palisade/palisaded.sock.

    .EXAMPLE
    PS> Get-QuarantineItem

    Every quarantined file.

    .EXAMPLE
    PS> Get-ThreatHistory -ThreatName '*EICAR*' | Get-QuarantineItem

    The quarantine items of the EICAR detections.

    .INPUTS
    System.Int64, or objects with an Id or QuarantineId property.

    .OUTPUTS
    Palisade.QuarantineItem

    .LINK
    Restore-QuarantineItem

    .LINK
    Remove-QuarantineItem
    #>
    [CmdletBinding()]
    [OutputType('Palisade.QuarantineItem')]
    param(
        [Parameter(Position = 0, ValueFromPipeline, ValueFromPipelineByPropertyName)]
        [Alias('QuarantineId')]
        [ArgumentCompleter({
                param($commandName, $parameterName, $wordToComplete, $commandAst, $fakeBoundParameters)
                $m = @(Get-Module Palisade)[0]
                if ($m) { & $m { param($w, $s) Get-QuarantineIdCompletion $w $s } $wordToComplete ([string]$fakeBoundParameters['Socket']) }
            })]
        [AllowNull()]
        [long[]]$Id,

        [ValidateNotNullOrEmpty()]
        [string]$Socket
    )
    process {
        if (-not $PSBoundParameters.ContainsKey('Id')) {
            $res = Invoke-PalisadeOp -Op 'quarantine.list'
            if (Test-PalisadeError $res) {
                $PSCmdlet.ThrowTerminatingError($res)
            }
            foreach ($item in @(Get-Field $res 'items')) {
                if ($null -ne $item) {
                    $PSCmdlet.WriteObject((ConvertTo-QuarantineItem $item))
                }
            }
            return
        }
        foreach ($one in @($Id)) {
            if ($null -eq $one) {
                # a detection that was never quarantined: nothing to show
                Write-Verbose "detection $(Get-PipelineDetectionId $_) has no quarantine item"
                continue
            }
            $item = Invoke-PalisadeOp -Op 'quarantine.get' -Arguments @{ id = [long]$one } -Target $one -NotFoundAdvice 'Get-QuarantineItem lists the items in the quarantine.'
            if (Test-PalisadeError $item) {
                if (Test-FatalPalisadeError $item) { $PSCmdlet.ThrowTerminatingError($item) }
                $PSCmdlet.WriteError($item)
                continue
            }
            $PSCmdlet.WriteObject((ConvertTo-QuarantineItem $item))
        }
    }
}

# A detection without a quarantine item came down the pipeline.
function Write-NoQuarantineError([System.Management.Automation.PSCmdlet]$Cmdlet, $DetectionId) {
    $what = if ($null -ne $DetectionId) { "Detection $DetectionId has" } else { 'The input has' }
    $Cmdlet.WriteError((New-PalisadeErrorRecord -Code 'NotFound' -Target $DetectionId -Message (
                "$what no quarantine item (the file was not quarantined, or was restored or removed since).") -Advice 'Get-QuarantineItem lists the items in the quarantine.'))
}

# Whether an error ends the cmdlet rather than the one pipeline item: per-item failures do
# not stop the rest of the pipeline; an agent that is gone or a caller who may not manage
# it does.
function Test-FatalPalisadeError([System.Management.Automation.ErrorRecord]$Record) {
    $code = [string]$Record.Exception.Data['PalisadeCode']
    return $code -notin @('NotFound', 'Exists', 'InvalidValue', 'BadRequest', 'Refused')
}

function Restore-QuarantineItem {
    <#
    .SYNOPSIS
    Puts quarantined files back where they were (or elsewhere).

    .DESCRIPTION
    Restore-QuarantineItem asks the agent to restore quarantine items: the file comes back
    byte for byte with its owner, group, mode and times, after the agent has checked its
    SHA-256, and the item leaves the quarantine. The agent refuses to overwrite an existing
    file unless -Force is given, and never follows a symbolic link on the way.

    A restored file is still a threat: the next scan finds it again unless -AllowThreat
    adds its SHA-256 to the agent's allowed list.

    Ids come from -Id or from the pipeline (Get-QuarantineItem's Id, Get-ThreatHistory's
    QuarantineId). An unknown id is an ObjectNotFound error and the next item is restored.

    Supports -WhatIf and -Confirm. Requires root or membership in the agent's admin group.

    .PARAMETER Id
    The quarantine items to restore.

    .PARAMETER Destination
    Restore to this path instead of the original one (absolute, or relative to the current
    location); an existing directory receives the file under its original name. A path
    that ends with '/' must be an existing directory.

    .PARAMETER Force
    Replace a file that exists at the destination.

    .PARAMETER AllowThreat
    Also allow the file's SHA-256, so that scans no longer report it.

    .PARAMETER PassThru
    Output an object per restored item with the path it went to.

    .PARAMETER WhatIf
    Shows what the cmdlet would change, without changing anything.

    .PARAMETER Confirm
    Asks for confirmation before each change. ConfirmImpact is Medium: without -Confirm, PowerShell asks only when
    $ConfirmPreference is Medium or Low (its default is High).

    .PARAMETER Socket
    The control socket of the agent to manage (as palisaded --socket and palisade --socket).
    Default: $env:PALISADE_SOCKET, else /run/palisade/palisaded.sock.

    .EXAMPLE
    PS> Restore-QuarantineItem -Id 12

    Restores item 12 to its original path.

    .EXAMPLE
    PS> Get-ThreatHistory -ThreatName '*EICAR*' | Restore-QuarantineItem -AllowThreat -Confirm:$false

    Restores every quarantined EICAR test file and allows it from now on.

    .EXAMPLE
    PS> Restore-QuarantineItem -Id 12 -Destination /root/evidence/sample.bin -WhatIf

    Shows where the item would go without restoring it.

    .INPUTS
    System.Int64, Palisade.QuarantineItem, Palisade.ThreatDetection.

    .OUTPUTS
    None, or Palisade.RestoredItem with -PassThru.

    .LINK
    Get-QuarantineItem

    .LINK
    Remove-QuarantineItem
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    [OutputType('Palisade.RestoredItem')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipeline, ValueFromPipelineByPropertyName)]
        [Alias('QuarantineId')]
        [ArgumentCompleter({
                param($commandName, $parameterName, $wordToComplete, $commandAst, $fakeBoundParameters)
                $m = @(Get-Module Palisade)[0]
                if ($m) { & $m { param($w, $s) Get-QuarantineIdCompletion $w $s } $wordToComplete ([string]$fakeBoundParameters['Socket']) }
            })]
        [AllowNull()]
        [long[]]$Id,

        [ValidateNotNullOrEmpty()]
        [string]$Destination,

        [switch]$Force,

        [switch]$AllowThreat,

        [switch]$PassThru,

        [ValidateNotNullOrEmpty()]
        [string]$Socket
    )
    begin {
        $dest = $null
        if ($Destination) {
            $dest = Resolve-AgentPath $PSCmdlet $Destination
            # "DIR/" names a directory, as in cp: it must exist, and the file goes into it
            # under its own name (the agent does that for an existing directory named without
            # the slash; with it, the agent refuses a path that ends in no file name)
            if ($dest.Length -gt 1 -and $dest.EndsWith('/')) {
                $dest = $dest.TrimEnd('/')
                if ($dest -eq '') { $dest = '/' }
                if (-not (Test-Path -LiteralPath $dest -PathType Container)) {
                    $PSCmdlet.ThrowTerminatingError((New-PalisadeErrorRecord -Code 'InvalidValue' -Target $Destination -Message (
                                "Destination $Destination ends with '/' but $dest is not an existing directory; nothing was restored.") -Advice 'Create the directory first, or give a file path without the trailing slash.'))
                }
            }
        }
    }
    process {
        foreach ($one in @($Id)) {
            if ($null -eq $one) {
                Write-NoQuarantineError $PSCmdlet (Get-PipelineDetectionId $_)
                continue
            }
            $where = if ($dest) { $dest } else { 'its original path' }
            if (-not $PSCmdlet.ShouldProcess("quarantine item $one", "Restore to $where")) {
                continue
            }
            $req = @{ id = [long]$one }
            if ($dest) { $req['destination'] = $dest }
            if ($Force) { $req['force'] = $true }
            if ($AllowThreat) { $req['allow'] = $true }
            $res = Invoke-PalisadeOp -Op 'quarantine.restore' -Arguments $req -Target $one -NotFoundAdvice 'Get-QuarantineItem lists the items in the quarantine.'
            if (Test-PalisadeError $res) {
                if (Test-FatalPalisadeError $res) { $PSCmdlet.ThrowTerminatingError($res) }
                $PSCmdlet.WriteError($res)
                continue
            }
            if ($PassThru) {
                $restored = [pscustomobject]@{
                    PSTypeName   = 'Palisade.RestoredItem'
                    Id           = [long]$one
                    RestoredPath = [string](Get-Field $res 'path')
                    Sha256       = [string](Get-Field $res 'sha256')
                    Allowed      = [bool](Get-Field $res 'allowed')
                }
                Add-PalisadeNameProperty $restored $res 'RestoredPath', 'path'
                $PSCmdlet.WriteObject($restored)
            }
        }
    }
}

function Remove-QuarantineItem {
    <#
    .SYNOPSIS
    Deletes quarantined files for good.

    .DESCRIPTION
    Remove-QuarantineItem deletes quarantine items and their stored content; they cannot be
    restored afterwards. Ids come from -Id or from the pipeline (Get-QuarantineItem's Id,
    Get-ThreatHistory's QuarantineId). An unknown id is an ObjectNotFound error and the
    next item is removed.

    ConfirmImpact is High: PowerShell asks before each item unless -Confirm:$false or
    -Force is given. Supports -WhatIf. Requires root or membership in the agent's admin
    group.

    .PARAMETER Id
    The quarantine items to delete.

    .PARAMETER Force
    Do not ask for confirmation.

    .PARAMETER WhatIf
    Shows what the cmdlet would change, without changing anything.

    .PARAMETER Confirm
    Asks for confirmation before each change. ConfirmImpact is High: PowerShell asks by default; -Confirm:$false does not ask.

    .PARAMETER Socket
    The control socket of the agent to manage (as palisaded --socket and palisade --socket).
    Default: $env:PALISADE_SOCKET, else /run/palisade/palisaded.sock.

    .EXAMPLE
    PS> Remove-QuarantineItem -Id 12

    Deletes item 12 after asking.

    .EXAMPLE
    PS> Get-QuarantineItem | Where-Object QuarantinedAt -lt (Get-Date).AddDays(-30) | Remove-QuarantineItem -Force

    Deletes every item older than 30 days without asking.

    .INPUTS
    System.Int64, Palisade.QuarantineItem, Palisade.ThreatDetection.

    .OUTPUTS
    None

    .LINK
    Get-QuarantineItem

    .LINK
    Restore-QuarantineItem
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High')]
    [OutputType([void])]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipeline, ValueFromPipelineByPropertyName)]
        [Alias('QuarantineId')]
        [ArgumentCompleter({
                param($commandName, $parameterName, $wordToComplete, $commandAst, $fakeBoundParameters)
                $m = @(Get-Module Palisade)[0]
                if ($m) { & $m { param($w, $s) Get-QuarantineIdCompletion $w $s } $wordToComplete ([string]$fakeBoundParameters['Socket']) }
            })]
        [AllowNull()]
        [long[]]$Id,

        [switch]$Force,

        [ValidateNotNullOrEmpty()]
        [string]$Socket
    )
    begin {
        if ($Force -and -not $PSBoundParameters.ContainsKey('Confirm')) {
            $ConfirmPreference = 'None'
        }
    }
    process {
        foreach ($one in @($Id)) {
            if ($null -eq $one) {
                Write-NoQuarantineError $PSCmdlet (Get-PipelineDetectionId $_)
                continue
            }
            if (-not $PSCmdlet.ShouldProcess("quarantine item $one", 'Delete for good')) {
                continue
            }
            $res = Invoke-PalisadeOp -Op 'quarantine.remove' -Arguments @{ id = [long]$one } -Target $one -NotFoundAdvice 'Get-QuarantineItem lists the items in the quarantine.'
            if (Test-PalisadeError $res) {
                if (Test-FatalPalisadeError $res) { $PSCmdlet.ThrowTerminatingError($res) }
                $PSCmdlet.WriteError($res)
            }
        }
    }
}

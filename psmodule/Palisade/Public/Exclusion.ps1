#
# Exclusion.ps1 — Add-AgentExclusion, Remove-AgentExclusion.
#
# Part of the Palisade module: psmodule/assemble.cmake joins Module.ps1, Private/*.ps1, the
# settings list generated from the C registry and Public/*.ps1 into the staged Palisade.psm1.
#

# ---- exclusions -----------------------------------------------------------------------------

function Invoke-ExclusionChange([System.Management.Automation.PSCmdlet]$Cmdlet, [string]$Op, [string]$Verb,
    [string[]]$Paths, [string[]]$Extensions) {
    $changes = [System.Collections.Generic.List[object]]::new()
    foreach ($p in $Paths) {
        $changes.Add(@('Path', (Resolve-AgentPath $Cmdlet $p)))
    }
    foreach ($e in $Extensions) {
        $changes.Add(@('Extension', $e))
    }
    $last = $null
    foreach ($c in $changes) {
        if (-not $Cmdlet.ShouldProcess("$($c[0]) exclusion '$($c[1])'", $Verb)) {
            continue
        }
        $res = Invoke-PalisadeOp -Op $Op -Arguments @{ kind = $c[0]; value = $c[1] } -Target $c[1] -NotFoundAdvice 'Get-AgentPreference -Name Exclusion* shows the exclusions.'
        if (Test-PalisadeError $res) {
            # one entry's problem does not stop the others; a dead agent or a refusal does
            if (Test-FatalPalisadeError $res) {
                return $res
            }
            $Cmdlet.WriteError($res)
            continue
        }
        $last = $res
    }
    return $last
}

function Add-AgentExclusion {
    <#
    .SYNOPSIS
    Excludes paths or file name extensions from scanning.

    .DESCRIPTION
    Add-AgentExclusion adds entries to the agent's ExclusionPath or ExclusionExtension
    preference. An excluded directory excludes everything below it; * and ? in a path are
    wildcards for the agent, matching within one path component, never across a /
    ('/home/*/cache' excludes /home/alice/cache, not /home/alice/tmp/cache); [ is literal. Relative paths are resolved against the current location.
    Exclusions set by policy stay in force beside these (each listed entry says its Source,
    Policy or Preference, and the policy File), unless policy sets ExclusionsMergePolicy to
    AdminOnly: then only the policy's exclusions apply and adding or removing a local one is
    a PolicyLocked error naming that file. An entry that is already there (locally or from
    policy) is a ResourceExists error; removing an entry that comes from policy is a
    PolicyLocked error.

    Requires root or membership in the agent's admin group.

    .PARAMETER Path
    Absolute paths (or relative to the current location) to exclude.

    .PARAMETER Extension
    File name extensions to exclude, with or without the dot ("log", ".iso").

    .PARAMETER PassThru
    Output every exclusion in force afterwards (Palisade.Exclusion).

    .PARAMETER WhatIf
    Shows what the cmdlet would change, without changing anything.

    .PARAMETER Confirm
    Asks for confirmation before each change. ConfirmImpact is Medium: without -Confirm, PowerShell asks only when
    $ConfirmPreference is Medium or Low (its default is High).

    .PARAMETER Socket
    The control socket of the agent to manage (as palisaded --socket and palisade --socket).
    Default: $env:PALISADE_SOCKET, else /run/palisade/palisaded.sock.

    .EXAMPLE
    PS> Add-AgentExclusion -Path /srv/build

    Stops scanning a build directory.

    .EXAMPLE
    PS> Add-AgentExclusion -Extension log, tmp -PassThru

    Excludes two extensions and lists every exclusion.

    .OUTPUTS
    None, or Palisade.Exclusion with -PassThru.

    .LINK
    Remove-AgentExclusion
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium', DefaultParameterSetName = 'Path')]
    [OutputType('Palisade.Exclusion')]
    param(
        [Parameter(Mandatory, ParameterSetName = 'Path', Position = 0, ValueFromPipeline, ValueFromPipelineByPropertyName)]
        [Alias('FullName')]
        [ValidateNotNullOrEmpty()]
        [string[]]$Path,

        [Parameter(Mandatory, ParameterSetName = 'Extension')]
        [ValidateNotNullOrEmpty()]
        [string[]]$Extension,

        [switch]$PassThru,

        [ValidateNotNullOrEmpty()]
        [string]$Socket
    )
    process {
        $last = Invoke-ExclusionChange $PSCmdlet 'exclusion.add' 'Add' $Path $Extension
        if (Test-PalisadeError $last) {
            $PSCmdlet.ThrowTerminatingError($last)
        }
        if ($PassThru -and $null -ne $last) {
            foreach ($i in @(Get-Field $last 'items')) {
                if ($null -ne $i) { $PSCmdlet.WriteObject((ConvertTo-Exclusion $i)) }
            }
        }
    }
}

function Remove-AgentExclusion {
    <#
    .SYNOPSIS
    Removes path or extension exclusions.

    .DESCRIPTION
    Remove-AgentExclusion removes entries from the agent's ExclusionPath or
    ExclusionExtension preference. An entry that is not there is an ObjectNotFound error.
    Exclusions set by policy cannot be removed here (PermissionDenied naming the policy
    file), nor can local ones while policy sets ExclusionsMergePolicy to AdminOnly.

    Requires root or membership in the agent's admin group.

    .PARAMETER Path
    The path exclusions to remove (as they were added).

    .PARAMETER Extension
    The extension exclusions to remove.

    .PARAMETER PassThru
    Output every exclusion in force afterwards (Palisade.Exclusion).

    .PARAMETER WhatIf
    Shows what the cmdlet would change, without changing anything.

    .PARAMETER Confirm
    Asks for confirmation before each change. ConfirmImpact is Medium: without -Confirm, PowerShell asks only when
    $ConfirmPreference is Medium or Low (its default is High).

    .PARAMETER Socket
    The control socket of the agent to manage (as palisaded --socket and palisade --socket).
    Default: $env:PALISADE_SOCKET, else /run/palisade/palisaded.sock.

    .EXAMPLE
    PS> Remove-AgentExclusion -Path /srv/build

    Scans the build directory again.

    .EXAMPLE
    PS> Remove-AgentExclusion -Extension log -WhatIf

    Shows what would be removed.

    .OUTPUTS
    None, or Palisade.Exclusion with -PassThru.

    .LINK
    Add-AgentExclusion
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium', DefaultParameterSetName = 'Path')]
    [OutputType('Palisade.Exclusion')]
    param(
        [Parameter(Mandatory, ParameterSetName = 'Path', Position = 0, ValueFromPipeline, ValueFromPipelineByPropertyName)]
        [Alias('FullName')]
        [ValidateNotNullOrEmpty()]
        [string[]]$Path,

        [Parameter(Mandatory, ParameterSetName = 'Extension')]
        [ValidateNotNullOrEmpty()]
        [string[]]$Extension,

        [switch]$PassThru,

        [ValidateNotNullOrEmpty()]
        [string]$Socket
    )
    process {
        $last = Invoke-ExclusionChange $PSCmdlet 'exclusion.remove' 'Remove' $Path $Extension
        if (Test-PalisadeError $last) {
            $PSCmdlet.ThrowTerminatingError($last)
        }
        if ($PassThru -and $null -ne $last) {
            foreach ($i in @(Get-Field $last 'items')) {
                if ($null -ne $i) { $PSCmdlet.WriteObject((ConvertTo-Exclusion $i)) }
            }
        }
    }
}

#
# ScanJob.ps1 — scans that belong to the agent (Start-Scan -NoWait): Get-Scan, Wait-Scan,
# Stop-Scan over PROTOCOL.md's scan.list, scan.get, scan.wait and scan.stop.
#
# Part of the Palisade module: psmodule/assemble.cmake joins Module.ps1, Private/*.ps1, the
# settings list generated from the C registry and Public/*.ps1 into the staged Palisade.psm1.
#

function ConvertTo-ScanJob([System.Collections.IDictionary]$Item) {
    $p = Get-Field $Item 'progress'
    $job = [pscustomobject]@{
        PSTypeName     = 'Palisade.ScanJob'
        Id             = [long](Get-Field $Item 'scan_id')
        ScanType       = [string](Get-Field $Item 'type')
        Paths          = [string[]]@(Get-Field $Item 'paths' | Where-Object { $null -ne $_ })
        Status         = [string](Get-Field $Item 'status')
        StopRequested  = [bool](Get-Field $Item 'stop_requested')
        # null for a scan the agent started itself (Trigger Scheduled or CatchUp)
        StartedBy      = ConvertTo-NullableLong (Get-Field $Item 'uid')
        Trigger        = [string](Get-Field $Item 'trigger')
        StartTime      = ConvertFrom-PalisadeTime (Get-Field $Item 'start_time')
        EndTime        = ConvertFrom-PalisadeTime (Get-Field $Item 'end_time')
        FilesScanned   = [long](Get-Field $p 'files_done')
        BytesScanned   = [long](Get-Field $p 'bytes_done')
        ThreatsSoFar   = [long](Get-Field $p 'threats_so_far')
        CurrentPath    = if ($p) { ConvertTo-PalisadeDisplay (Get-PathBytes $p 'current_path') } else { '' }
        Error          = [string](Get-Field $Item 'error')
    }
    # ScanId too, so that a job binds where a scan id is asked for by that name
    $job | Add-Member -MemberType AliasProperty -Name ScanId -Value Id
    return $job
}

function Get-Scan {
    <#
    .SYNOPSIS
    Lists the scans that belong to the agent (Start-Scan -NoWait), or one of them.

    .DESCRIPTION
    Get-Scan shows the detached scans that are running, and the last 32 that ended since the
    agent started, newest first: one Palisade.ScanJob each, with its status (Running,
    Completed, Cancelled, Failed), who started it, and its progress (files and bytes
    examined, threats so far, the file being scanned). Every scan, detached or not, is also
    in Get-ScanHistory.

    Requires root or membership in the agent's admin group.

    .PARAMETER Id
    Only this scan (the Id that Start-Scan -NoWait returned). A scan the agent does not know
    as detached is an ObjectNotFound error.

    .PARAMETER Socket
    The control socket of the agent to manage (as palisaded --socket and palisade --socket).
    Default: $env:PALISADE_SOCKET, else /run/palisade/palisaded.sock.

    .EXAMPLE
    PS> Get-Scan

    The detached scans, running and recent.

    .EXAMPLE
    PS> Get-Scan -Id 12 | Format-List

    Scan 12 with its progress.

    .EXAMPLE
    PS> Get-Scan | Where-Object Status -eq Running | Wait-Scan

    Follows every running detached scan to its result.

    .OUTPUTS
    Palisade.ScanJob

    .LINK
    Start-Scan

    .LINK
    Wait-Scan

    .LINK
    Stop-Scan
    #>
    [CmdletBinding()]
    [OutputType('Palisade.ScanJob')]
    param(
        [Parameter(Position = 0, ValueFromPipelineByPropertyName)]
        [Alias('ScanId')]
        [ValidateRange(1, [long]::MaxValue)]
        [long[]]$Id,

        [ValidateNotNullOrEmpty()]
        [string]$Socket
    )
    process {
        if (-not $Id) {
            $res = Invoke-PalisadeOp -Op 'scan.list'
            if (Test-PalisadeError $res) {
                $PSCmdlet.ThrowTerminatingError($res)
            }
            foreach ($item in @(Get-Field $res 'items')) {
                if ($null -ne $item) { $PSCmdlet.WriteObject((ConvertTo-ScanJob $item)) }
            }
            return
        }
        foreach ($one in $Id) {
            $res = Invoke-PalisadeOp -Op 'scan.get' -Arguments @{ scan_id = $one } -Target $one -NotFoundAdvice 'Get-Scan lists the detached scans; Get-ScanHistory every scan.'
            if (Test-PalisadeError $res) {
                if (Test-FatalPalisadeError $res) { $PSCmdlet.ThrowTerminatingError($res) }
                $PSCmdlet.WriteError($res)
                continue
            }
            $PSCmdlet.WriteObject((ConvertTo-ScanJob $res))
        }
    }
}

function Wait-Scan {
    <#
    .SYNOPSIS
    Waits for a scan that belongs to the agent and returns its result.

    .DESCRIPTION
    Wait-Scan follows a detached scan (Start-Scan -NoWait) from any session: a progress bar
    while it runs, then its Palisade.ScanResult, exactly as Start-Scan returns it, with the
    same warnings. A scan that already ended gives its result at once. Ctrl+C stops waiting,
    never the scan (Stop-Scan stops it).

    Requires root or membership in the agent's admin group.

    .PARAMETER Id
    The scan's id. Taken from the pipeline by property name (Id or ScanId: Get-Scan,
    Start-Scan -NoWait).

    .PARAMETER Socket
    The control socket of the agent to manage (as palisaded --socket and palisade --socket).
    Default: $env:PALISADE_SOCKET, else /run/palisade/palisaded.sock.

    .EXAMPLE
    PS> Start-Scan -Path /srv/upload -NoWait | Wait-Scan

    Starts a scan the agent owns, then follows it (the scan goes on if this session ends).

    .EXAMPLE
    PS> Wait-Scan -Id 12

    Waits for scan 12, started from another session.

    .INPUTS
    Palisade.ScanJob (Id).

    .OUTPUTS
    Palisade.ScanResult

    .LINK
    Get-Scan
    #>
    [CmdletBinding()]
    [OutputType('Palisade.ScanResult')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        [Alias('ScanId')]
        [ValidateRange(1, [long]::MaxValue)]
        [long]$Id,

        [ValidateNotNullOrEmpty()]
        [string]$Socket
    )
    process {
        $result = Invoke-ScanRequest $PSCmdlet '' @() -Op 'scan.wait' -OpArgs @{ scan_id = $Id } -Activity "Palisade scan $Id"
        if (Test-PalisadeError $result) {
            if (Test-FatalPalisadeError $result) { $PSCmdlet.ThrowTerminatingError($result) }
            $PSCmdlet.WriteError($result)
            return
        }
        if ($result.Status -eq 'Failed') {
            $PSCmdlet.WriteError((New-PalisadeErrorRecord -Code 'Internal' -Target $result -Message (
                        "Scan $($result.ScanId) failed: $($result.Error)")))
        } elseif ($result.Status -eq 'Cancelled') {
            $PSCmdlet.WriteWarning("Scan $($result.ScanId) was cancelled before it finished.")
        }
        $PSCmdlet.WriteObject($result)
        Write-ScanRootReport $PSCmdlet $result
        Write-ScanEndWarning $PSCmdlet $result
    }
}

function Stop-Scan {
    <#
    .SYNOPSIS
    Stops a scan that belongs to the agent.

    .DESCRIPTION
    Stop-Scan asks the agent to stop a detached scan (Start-Scan -NoWait). It ends Cancelled
    at its next file and is recorded so; whoever waits for it (Wait-Scan) gets that result. A
    scan that already ended is left as it is. Returns the Palisade.ScanJob as it stands.

    Requires root or membership in the agent's admin group. Supports -WhatIf and -Confirm.

    .PARAMETER Id
    The scan's id. Taken from the pipeline by property name (Get-Scan, Start-Scan -NoWait).

    .PARAMETER Socket
    The control socket of the agent to manage (as palisaded --socket and palisade --socket).
    Default: $env:PALISADE_SOCKET, else /run/palisade/palisaded.sock.

    .PARAMETER WhatIf
    Shows which scan would be stopped without asking the agent to stop it.

    .PARAMETER Confirm
    Asks before each scan is stopped.

    .EXAMPLE
    PS> Stop-Scan -Id 12

    Stops scan 12.

    .EXAMPLE
    PS> Get-Scan | Where-Object Status -eq Running | Stop-Scan -WhatIf

    Shows which running detached scans would be stopped.

    .INPUTS
    Palisade.ScanJob (Id).

    .OUTPUTS
    Palisade.ScanJob

    .LINK
    Get-Scan
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    [OutputType('Palisade.ScanJob')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        [Alias('ScanId')]
        [ValidateRange(1, [long]::MaxValue)]
        [long]$Id,

        [ValidateNotNullOrEmpty()]
        [string]$Socket
    )
    process {
        if (-not $PSCmdlet.ShouldProcess("scan $Id", 'Stop the scan')) {
            return
        }
        $res = Invoke-PalisadeOp -Op 'scan.stop' -Arguments @{ scan_id = $Id } -Target $Id -NotFoundAdvice 'Get-Scan lists the detached scans.'
        if (Test-PalisadeError $res) {
            if (Test-FatalPalisadeError $res) { $PSCmdlet.ThrowTerminatingError($res) }
            $PSCmdlet.WriteError($res)
            return
        }
        $PSCmdlet.WriteObject((ConvertTo-ScanJob $res))
    }
}

#
# Status.ps1 — Get-AgentStatus.
#
# Part of the Palisade module: psmodule/assemble.cmake joins Module.ps1, Private/*.ps1, the
# settings list generated from the C registry and Public/*.ps1 into the staged Palisade.psm1.
#

# ---- status ---------------------------------------------------------------------------------

function Get-AgentStatus {
    <#
    .SYNOPSIS
    Shows the state of the Palisade agent.

    .DESCRIPTION
    Get-AgentStatus returns one Palisade.AgentStatus: the agent's version and pid, whether
    it runs, the sandbox mode and its source, the content process (pid, state, restarts),
    the signature package in force (version and date), the last scan, the policy error if
    the last policy could not be applied, and the reasons the agent considers itself
    degraded (an empty Degraded list means healthy).

    When the agent is not running, Running is $false and a ResourceUnavailable error says
    how to start it. Any user may run Get-AgentStatus (it falls back to the agent's
    read-only status socket).

    .PARAMETER Socket
    The control socket of the agent to manage (as palisaded --socket and palisade --socket).
    Default: $env:PALISADE_SOCKET, else /run/palisade/palisaded.sock.

    .EXAMPLE
    PS> Get-AgentStatus

    The status as a list.

    .EXAMPLE
    PS> $s = Get-AgentStatus -ErrorAction SilentlyContinue
    PS> if (-not $s.Running -or $s.Degraded) { exit 1 }

    A monitoring check: fails when the agent is down or degraded.

    .OUTPUTS
    Palisade.AgentStatus

    .LINK
    Get-SandboxMode

    .LINK
    about_Palisade
    #>
    [CmdletBinding()]
    [OutputType('Palisade.AgentStatus')]
    param(
        [ValidateNotNullOrEmpty()]
        [string]$Socket
    )
    $status = Invoke-PalisadeOp -Op 'status'
    if (Test-PalisadeError $status) {
        if ([string]$status.Exception.Data['PalisadeCode'] -ne 'Unavailable') {
            $PSCmdlet.ThrowTerminatingError($status)
        }
        # not running is an answer too: Running is $false, and the error says how to start it
        $PSCmdlet.WriteError($status)
        $status = $null
    }
    $running = $null -ne $status
    $PSCmdlet.WriteObject([pscustomobject]@{
            PSTypeName              = 'Palisade.AgentStatus'
            AgentVersion            = [string](Get-Field $status 'agent_version')
            Running                 = $running
            AgentPid                = ConvertTo-NullableLong (Get-Field $status 'pid')
            StartedAt               = ConvertFrom-PalisadeTime (Get-Field $status 'started_at')
            SandboxMode             = [string](Get-Field $status 'sandbox_mode')
            SandboxModeSource       = [string](Get-Field $status 'sandbox_mode_source')
            ContentProcessPid       = ConvertTo-NullableLong (Get-Field $status 'content_process_pid')
            ContentProcessState     = [string](Get-Field $status 'content_process_state')
            ContentProcessRestarts  = if ($running) { [int](Get-Field $status 'content_process_restarts') } else { $null }
            ContentProcessStartedAt = ConvertFrom-PalisadeTime (Get-Field $status 'content_process_started_at')
            ScanEngine              = [string](Get-Field $status 'scan_engine')
            SignatureVersion        = ConvertTo-NullableLong (Get-Field $status 'signature_version')
            SignatureDate           = ConvertFrom-PalisadeTime (Get-Field $status 'signature_created')
            LastScan                = ConvertTo-ScanSummary (Get-Field $status 'last_scan')
            ActiveScans             = if ($running) { [int](Get-Field $status 'active_scans') } else { $null }
            PolicyError             = [string](Get-Field $status 'policy_error')
            Degraded                = [string[]]@(Get-Field $status 'degraded' | Where-Object { $null -ne $_ })
            UnremediatedThreats     = ConvertTo-NullableLong (Get-Field $status 'unremediated_threats')
        })
}

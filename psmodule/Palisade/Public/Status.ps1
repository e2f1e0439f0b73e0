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
    the signature package in force (version, date and age in days), the last scan and the
    last Quick and Full scans, the next scheduled ones (NextQuickScan, NextFullScan: local
    [datetime]s, $null when the schedule's day is Never; set them with Set-AgentPreference
    ScanScheduleQuickScanDay/-Time and ScanScheduleFullScanDay/-Time), real-time
    protection's state, the policy error if the last policy could not be applied, and the
    reasons the agent considers itself degraded.

    HealthIssues answers "is this machine protected?" as Get-MpComputerStatus does: one
    Palisade.HealthIssue (Id, Reason) per problem — no signature package, signatures older
    than the SignatureOutdatedDays setting, unremediated threats, the content process
    degraded or unavailable, a policy error, a trusted-keys problem, no Full scan completed
    in 30 days, a scheduled scan that could not start or ended Failed; AgentNotRunning when the agent does not answer. An empty HealthIssues list
    means nothing is known to be wrong.

    RealTimeProtection is Enabled, Disabled or Unavailable; RealTimeProtectionReason says
    why when it is not Enabled (disabled by a preference or a policy file, or unavailable:
    no fanotify permission events in the kernel, not root, ...), and
    RealTimeProtectionStats (a Palisade.RealTimeProtectionStats, $null when it is not
    running) has the marked FileSystems, Events and EventsPerSecond, QueueDepth, CacheHits
    and CacheHitRate, Scans, Blocked, and the Timeouts and Overloads answered by the
    RealTimeTimeoutAction setting, since it started (Since). Switch it with
    Set-AgentPreference -Name RealTimeProtectionEnabled -Value $false; per-process figures
    come from Get-RealTimeProtectionStatistic.

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

    .EXAMPLE
    PS> (Get-AgentStatus).HealthIssues

    Every reason the machine may not be protected, each with its id (e.g. NoRecentFullScan,
    SignaturesOutdated, UnremediatedThreats).

    .EXAMPLE
    PS> Set-AgentPreference ScanScheduleFullScanDay Sunday
    PS> Set-AgentPreference ScanScheduleFullScanTime 03:30
    PS> (Get-AgentStatus).NextFullScan

    Schedules a weekly Full scan (Sunday 03:30 local time, plus a random delay of up to
    ScheduleRandomizationMinutes) and shows when it will start.

    .OUTPUTS
    Palisade.AgentStatus

    .LINK
    Get-SandboxMode

    .LINK
    Get-RealTimeProtectionStatistic

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
    $issues = @(Get-Field $status 'health_issues' | Where-Object { $null -ne $_ } | ForEach-Object {
            [pscustomobject]@{
                PSTypeName = 'Palisade.HealthIssue'
                Id         = [string](Get-Field $_ 'id')
                Reason     = [string](Get-Field $_ 'reason')
            }
        })
    if (-not $running) {
        # an agent that does not answer protects nothing: never an empty list
        $issues = @([pscustomobject]@{
                PSTypeName = 'Palisade.HealthIssue'
                Id         = 'AgentNotRunning'
                Reason     = 'the agent is not running'
            })
    }
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
            SignatureAgeDays        = ConvertTo-NullableLong (Get-Field $status 'signature_age_days')
            LastQuickScan           = ConvertTo-ScanSummary (Get-Field $status 'last_quick_scan') 'Quick'
            LastFullScan            = ConvertTo-ScanSummary (Get-Field $status 'last_full_scan') 'Full'
            NextQuickScan           = ConvertFrom-PalisadeTime (Get-Field $status 'next_quick_scan')
            NextFullScan            = ConvertFrom-PalisadeTime (Get-Field $status 'next_full_scan')
            RealTimeProtection      = [string](Get-Field $status 'real_time_protection')
            RealTimeProtectionReason = [string](Get-Field $status 'real_time_protection_reason')
            RealTimeProtectionStats = ConvertTo-RealTimeProtectionStats (Get-Field $status 'real_time_protection_stats')
            HealthIssues            = $issues
        })
}

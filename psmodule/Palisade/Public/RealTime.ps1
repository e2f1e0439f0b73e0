#
# RealTime.ps1 — Get-RealTimeProtectionStatistic, and the typed real-time protection
# statistics of Get-AgentStatus (ConvertTo-RealTimeProtectionStats).
#
# Part of the Palisade module: psmodule/assemble.cmake joins Module.ps1, Private/*.ps1, the
# settings list generated from the C registry and Public/*.ps1 into the staged Palisade.psm1.
#

# ---- status: real_time_protection_stats -----------------------------------------------------

# The status op's real_time_protection_stats as one Palisade.RealTimeProtectionStats, or
# $null when real-time protection is not running (the agent sends null).
function ConvertTo-RealTimeProtectionStats([System.Collections.IDictionary]$Item) {
    if ($null -eq $Item) { return $null }
    $rate = Get-Field $Item 'cache_hit_rate'
    $fs = [string[]]@(Get-Field $Item 'file_systems' | Where-Object { $null -ne $_ })
    return [pscustomobject]@{
        PSTypeName      = 'Palisade.RealTimeProtectionStats'
        Since           = ConvertFrom-PalisadeTime (Get-Field $Item 'since')
        FileSystems     = $fs
        # mount points are paths: shown escaped in the default views
        DisplayFileSystems = [string[]]@($fs | ForEach-Object { ConvertTo-PalisadeDisplay $_ })
        Events          = [long](Get-Field $Item 'events')
        EventsPerSecond = [double](Get-Field $Item 'events_per_second')
        QueueDepth      = [long](Get-Field $Item 'queue_depth')
        CacheHits       = [long](Get-Field $Item 'cache_hits')
        CacheHitRate    = if ($null -eq $rate) { $null } else { [double]$rate }
        IgnoreMarks     = [long](Get-Field $Item 'ignore_marks')
        IgnoreMarksDropped = [long](Get-Field $Item 'ignore_marks_dropped')
        EmptyAllowed    = [long](Get-Field $Item 'empty_allowed')
        Scans           = [long](Get-Field $Item 'scans')
        Blocked         = [long](Get-Field $Item 'blocked')
        Timeouts        = [long](Get-Field $Item 'timeouts')
        Overloads       = [long](Get-Field $Item 'overloads')
    }
}

# ---- rtp.stats --------------------------------------------------------------------------------

function ConvertTo-RealTimeProcessStatistic([System.Collections.IDictionary]$Item, $Since) {
    $ms = [long](Get-Field $Item 'scan_time_ms')
    $o = [pscustomobject]@{
        PSTypeName = 'Palisade.RealTimeProcessStatistic'
        Executable = [string](Get-Field $Item 'executable')
        Uid        = ConvertTo-NullableLong (Get-Field $Item 'uid')
        Scans      = [long](Get-Field $Item 'scans')
        ScanTime   = [timespan]::FromMilliseconds($ms)
        ScanTimeMs = $ms
        Blocked    = [long](Get-Field $Item 'blocked')
        Since      = $Since
    }
    # the executable's path is a name a user chose: shown escaped (DisplayExecutable)
    Add-PalisadeNameProperty $o $Item 'Executable', 'executable'
    return $o
}

function Get-RealTimeProtectionStatistic {
    <#
    .SYNOPSIS
    Lists the processes that caused the most real-time scans and scan time.

    .DESCRIPTION
    Get-RealTimeProtectionStatistic returns, for each process executable whose opens of files
    real-time protection had to scan, one Palisade.RealTimeProcessStatistic: the executable
    (DisplayExecutable is its terminal-safe form, ExecutableBytes the exact bytes), the real
    uid, how many scans its opens caused, how much scan time (ScanTime, ScanTimeMs) and how
    many of its opens were blocked, since real-time protection started (Since). Most scan
    time first, like mdatp's real-time-protection-statistics: it shows what a process
    exclusion (the RealTimeProcessExclusions preference) would save before you add one.

    Opens answered from the verdict cache cost no scan and are not counted. The state of
    real-time protection itself, and its counters, are in Get-AgentStatus
    (RealTimeProtection, RealTimeProtectionReason, RealTimeProtectionStats).

    Requires root or membership in the agent's admin group.

    .PARAMETER Limit
    At most this many processes (1 to 1000; default: the agent's, 20).

    .PARAMETER Socket
    The control socket of the agent to manage (as palisaded --socket and palisade --socket).
    Default: $env:PALISADE_SOCKET, else /run/palisade/palisaded.sock.

    .EXAMPLE
    PS> Get-RealTimeProtectionStatistic -Limit 5

    Executable            Uid Scans ScanTime     Blocked
    ----------            --- ----- --------     -------
    /usr/bin/rsync          0  5012 00:00:04.310       0
    /usr/bin/python3.11  1000   220 00:00:00.180       1

    The five processes that cost the most scan time.

    .EXAMPLE
    PS> $top = Get-RealTimeProtectionStatistic -Limit 1
    PS> Set-AgentPreference -Name RealTimeProcessExclusions -Value $top.Executable

    Excludes the process that cost the most scan time, after looking at what it costs (the
    value replaces the local entries; an entry "/usr/bin/rsync:<sha256>" excludes that
    binary only, not a renamed or replaced one).

    .OUTPUTS
    Palisade.RealTimeProcessStatistic

    .LINK
    Get-AgentStatus

    .LINK
    Set-AgentPreference
    #>
    [CmdletBinding()]
    [OutputType('Palisade.RealTimeProcessStatistic')]
    param(
        [ValidateRange(1, 1000)]
        [int]$Limit,

        [ValidateNotNullOrEmpty()]
        [string]$Socket
    )
    $query = @{}
    if ($PSBoundParameters.ContainsKey('Limit')) { $query['limit'] = $Limit }
    $res = Invoke-PalisadeOp -Op 'rtp.stats' -Arguments $query
    if (Test-PalisadeError $res) {
        $PSCmdlet.ThrowTerminatingError($res)
    }
    $since = ConvertFrom-PalisadeTime (Get-Field $res 'since')
    foreach ($item in @(Get-Field $res 'processes')) {
        if ($null -ne $item) {
            $PSCmdlet.WriteObject((ConvertTo-RealTimeProcessStatistic $item $since))
        }
    }
}

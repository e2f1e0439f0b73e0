#
# Scan.ps1 — Start-Scan and what it needs alone: path resolution, the request with its
# progress and cancel, the result.
#
# Part of the Palisade module: psmodule/assemble.cmake joins Module.ps1, Private/*.ps1, the
# settings list generated from the C registry and Public/*.ps1 into the staged Palisade.psm1.
#

# ---- Start-Scan -----------------------------------------------------------------------------

function Start-Scan {
    <#
    .SYNOPSIS
    Runs an on-demand scan on the Palisade agent and returns its result.

    .DESCRIPTION
    Start-Scan asks palisaded to scan the machine (Quick: the places malware starts from and
    hides in; Full: every local file system) or the paths you give (Custom). The agent reads
    the files as root and hands their content to the sandboxed content process, which runs
    the scan engine; threats are remediated as the *ThreatDefaultAction preferences say.

    While the scan runs, a progress bar shows the files and bytes scanned, the percentage
    when the agent knows the total, the current path and the threats found so far. Ctrl+C
    (or Stop-Job for -AsJob) cancels the scan on the agent, which records it as Cancelled.

    -Path takes pipeline input by value (strings) and by property name (Path), and expands
    wildcards as other cmdlets do (`Start-Scan -Path '/srv/*.zip'`), on the file system, as
    the user running PowerShell; a pattern that matches nothing is an error (ObjectNotFound)
    and the other paths are still scanned. -LiteralPath takes names as they are (use it for
    names containing [ ] * ?); Get-ChildItem output binds to it by property name (PSPath,
    FullName), so `Get-ChildItem ... | Start-Scan` scans exactly what you select. Relative
    paths are resolved against the current location. A path below a directory that is also
    given is dropped, since the directory's scan covers it. At most 4096 paths go into one
    scan.

    A path that does not exist or that the agent cannot open is reported as a non-terminating
    error (ObjectNotFound or PermissionDenied, ErrorId ScanRootNotFound / ScanRootAccessDenied
    / ScanRootUnscannable, the path as TargetObject) while the other paths are still scanned;
    the result's RootErrors lists them. A symbolic link given as a path is resolved once by
    the agent and its target is scanned (a warning names the target; links inside the tree
    are never followed).

    At the end, a warning says when a threat could not be quarantined or removed (its
    ActionResult is Failed: an immutable file, a read-only file system; the agent reports
    itself Degraded until it is dealt with, see Get-AgentStatus) and when objects could not
    be examined (Unscannable, FullyExamined is $false). Allowed threats are listed with
    Action Allow but are not counted in ThreatsFound (AllowedThreats counts them).

    Requires root or membership in the agent's admin group (AdminGroup, default
    palisade-admin).

    .PARAMETER ScanType
    Quick, Full or Custom. -Path alone implies Custom; without either, a Quick scan runs.

    .PARAMETER Path
    Files or directories to scan (a Custom scan); wildcards are expanded.

    .PARAMETER LiteralPath
    Files or directories to scan, taken literally (no wildcard characters are interpreted).

    .PARAMETER AsJob
    Run the scan in a background thread job and return the job at once; Receive-Job gives
    the Palisade.ScanResult, Stop-Job cancels the scan.

    .PARAMETER NoWait
    Leave the scan to the agent: return at once a Palisade.ScanJob with its id. The scan goes
    on when this session ends; Get-Scan shows it, Wait-Scan follows it to its result and
    Stop-Scan stops it, from any session. At most 4 such scans run at once (then Busy).
    Such a background scan runs at low CPU and I/O priority and uses on average at most
    ScanAvgCPULoadFactor percent of one core (Get-AgentPreference ScanAvgCPULoadFactor;
    default 50), as the agent's scheduled scans do.

    .PARAMETER Socket
    The control socket of the agent to manage (as palisaded --socket and palisade --socket).
    Default: $env:PALISADE_SOCKET, else /run/palisade/palisaded.sock.

    .EXAMPLE
    PS> Start-Scan

    Runs a Quick scan and shows its result.

    .EXAMPLE
    PS> Start-Scan -Path /home/alice/Downloads, /tmp

    Scans two directories (a Custom scan).

    .EXAMPLE
    PS> Start-Scan -Path '/srv/upload/*.zip'

    Scans every zip file in /srv/upload (the pattern is expanded as Get-Item would).

    .EXAMPLE
    PS> Start-Scan -LiteralPath '/srv/upload/report[1].pdf'

    Scans a file whose name contains wildcard characters.

    .EXAMPLE
    PS> Get-ChildItem /srv/upload -Filter *.zip | Start-Scan | Select-Object -ExpandProperty Threats

    Scans every zip file of a directory and lists the threats found.

    .EXAMPLE
    PS> $job = Start-Scan -ScanType Full -AsJob
    PS> $job | Wait-Job | Receive-Job

    Runs a Full scan in the background and collects its result later.

    .EXAMPLE
    PS> Start-Scan -ScanType Full -NoWait
    PS> Get-Scan | Wait-Scan

    Leaves a Full scan to the agent (it goes on if this session ends), then follows it.

    .INPUTS
    System.String, or any object with a FullName or Path property (System.IO.FileInfo,
    System.IO.DirectoryInfo).

    .OUTPUTS
    Palisade.ScanResult, a ThreadJob with -AsJob, a Palisade.ScanJob with -NoWait.

    .LINK
    Get-ThreatHistory

    .LINK
    about_Palisade
    #>
    [CmdletBinding(DefaultParameterSetName = 'Path')]
    [OutputType('Palisade.ScanResult')]
    [OutputType('Palisade.ScanJob')]
    param(
        [Parameter(Position = 0)]
        [ValidateSet('Quick', 'Full', 'Custom')]
        [string]$ScanType,

        [Parameter(ParameterSetName = 'Path', ValueFromPipeline, ValueFromPipelineByPropertyName)]
        [ValidateNotNullOrEmpty()]
        [SupportsWildcards()]
        [string[]]$Path,

        [Parameter(Mandatory, ParameterSetName = 'LiteralPath', ValueFromPipelineByPropertyName)]
        [Alias('PSPath', 'LP', 'FullName')]
        [ValidateNotNullOrEmpty()]
        [string[]]$LiteralPath,

        [switch]$AsJob,

        [switch]$NoWait,

        [ValidateNotNullOrEmpty()]
        [string]$Socket
    )
    begin {
        $paths = [System.Collections.Generic.List[string]]::new()
        $pathsGiven = $false
    }
    process {
        # a threat from Get-ThreatHistory names a file that exists (or existed): never a pattern
        $literal = $PSCmdlet.ParameterSetName -eq 'LiteralPath' -or
            ($MyInvocation.ExpectingInput -and $null -ne $_ -and
            $_.PSObject.TypeNames -contains 'Palisade.ThreatDetection')
        $given = if ($PSCmdlet.ParameterSetName -eq 'LiteralPath') { $LiteralPath } else { $Path }
        foreach ($p in $given) {
            $pathsGiven = $true
            foreach ($resolved in (Resolve-ScanPath $PSCmdlet $p $literal)) {
                $paths.Add($resolved)
            }
        }
    }
    end {
        if ($pathsGiven -and $paths.Count -eq 0) {
            # every pattern matched nothing (each one reported): nothing to scan, and never
            # a Quick scan of the machine instead
            return
        }
        if ($MyInvocation.ExpectingInput -and $paths.Count -eq 0 -and -not $ScanType) {
            # an empty pipeline (no files matched upstream) scans nothing, not the machine
            Write-Verbose 'No paths came from the pipeline: nothing to scan.'
            return
        }
        $type = $ScanType
        if (-not $type) {
            $type = if ($paths.Count -gt 0) { 'Custom' } else { 'Quick' }
        }
        if ($type -eq 'Custom' -and $paths.Count -eq 0) {
            $PSCmdlet.ThrowTerminatingError((New-PalisadeErrorRecord -Code 'Usage' -Target 'Path' -Message (
                        'A Custom scan needs -Path (or paths from the pipeline).') -Advice 'Give -Path, or use -ScanType Quick or Full.'))
        }
        if ($type -ne 'Custom' -and $paths.Count -gt 0) {
            $PSCmdlet.ThrowTerminatingError((New-PalisadeErrorRecord -Code 'Usage' -Target 'Path' -Message (
                        "-Path is only for a Custom scan; a $type scan chooses its own places.") -Advice 'Omit -ScanType (or use -ScanType Custom) to scan the paths, or omit -Path.'))
        }
        $scanPaths = Get-ScanRoots $paths
        if ($scanPaths.Count -gt 4096) {
            $PSCmdlet.ThrowTerminatingError((New-PalisadeErrorRecord -Code 'Usage' -Target 'Path' -Message (
                        "$($scanPaths.Count) paths were given; one scan takes at most 4096.") -Advice 'Pass the directories that hold the files instead of the files one by one.'))
        }

        if ($NoWait) {
            if ($AsJob) {
                $PSCmdlet.ThrowTerminatingError((New-PalisadeErrorRecord -Code 'Usage' -Target 'NoWait' -Message (
                            '-NoWait and -AsJob exclude each other.') -Advice '-NoWait leaves the scan to the agent; -AsJob follows it in a job of this session.'))
            }
            $startArgs = @{ type = $type; detach = $true }
            if ($type -eq 'Custom') { $startArgs['paths'] = [string[]]$scanPaths }
            $started = Invoke-PalisadeOp -Op 'scan.start' -Arguments $startArgs
            if (Test-PalisadeError $started) {
                $PSCmdlet.ThrowTerminatingError($started)
            }
            $job = Invoke-PalisadeOp -Op 'scan.get' -Arguments @{ scan_id = [long](Get-Field $started 'scan_id') }
            if (Test-PalisadeError $job) {
                $PSCmdlet.ThrowTerminatingError($job)
            }
            $PSCmdlet.WriteObject((ConvertTo-ScanJob $job))
            return
        }

        if ($AsJob) {
            $manifest = Join-Path $PSScriptRoot 'Palisade.psd1'
            $agent = Get-PalisadeSocketPath
            $job = Start-ThreadJob -Name 'PalisadeScan' -ArgumentList $manifest, $type, ([string[]]$scanPaths), $agent -ScriptBlock {
                param($Manifest, $Type, $Paths, $Agent)
                Import-Module $Manifest
                $to = @{}
                if ($Agent) { $to['Socket'] = $Agent }
                if ($Type -eq 'Custom') {
                    Start-Scan -ScanType $Type -LiteralPath $Paths @to
                } else {
                    Start-Scan -ScanType $Type @to
                }
            }
            $PSCmdlet.WriteObject($job)
            return
        }

        $result = Invoke-ScanRequest $PSCmdlet $type $scanPaths
        if (Test-PalisadeError $result) {
            $PSCmdlet.ThrowTerminatingError($result)
        }
        if ($result.Status -eq 'Failed') {
            $PSCmdlet.WriteError((New-PalisadeErrorRecord -Code 'Internal' -Target $result -Message (
                        "Scan $($result.ScanId) failed: $($result.Error)")))
        } elseif ($result.Status -eq 'Cancelled') {
            $PSCmdlet.WriteWarning("Scan $($result.ScanId) was cancelled by the agent before it finished.")
        }
        # the result first: with -ErrorAction Stop a root error ends the command, and what
        # was scanned must still reach the caller
        $PSCmdlet.WriteObject($result)
        Write-ScanRootReport $PSCmdlet $result
        Write-ScanEndWarning $PSCmdlet $result
    }
}

# One -Path or -LiteralPath value as the absolute paths to send. A pattern is expanded on the
# file system as Get-Item would; one that matches nothing is a non-terminating
# ObjectNotFound error and gives no path.
function Resolve-ScanPath([System.Management.Automation.PSCmdlet]$Cmdlet, [string]$Path, [bool]$Literal) {
    if ($Literal -or -not [System.Management.Automation.WildcardPattern]::ContainsWildcardCharacters($Path)) {
        $resolved = Resolve-AgentPath $Cmdlet $Path
        # a threat's path names its container chain (a.zip->b/c.exe): scan the file
        if ($resolved.Contains('->') -and -not [System.IO.File]::Exists($resolved) -and
            -not [System.IO.Directory]::Exists($resolved)) {
            $resolved = $resolved.Substring(0, $resolved.IndexOf('->'))
        }
        return , @($resolved)
    }
    $found = @()
    $provider = $null
    $why = 'the pattern matches no file or directory'
    # the directory above the first pattern must exist: the expansion would throw, and an
    # exception caught here would still land in the caller's -ErrorVariable
    $abs = Resolve-AgentPath $Cmdlet $Path
    $fixed = [System.Collections.Generic.List[string]]::new()
    foreach ($part in $abs.Split('/')) {
        if ([System.Management.Automation.WildcardPattern]::ContainsWildcardCharacters($part)) { break }
        $fixed.Add($part)
    }
    $base = ($fixed -join '/')
    if (-not $base) { $base = '/' }
    if (-not [System.IO.Directory]::Exists($base)) {
        $why = "'$base' does not exist"
    } else {
        try {
            $found = @($Cmdlet.SessionState.Path.GetResolvedProviderPathFromPSPath($Path, [ref]$provider))
        } catch {
            # an unknown drive, a directory that went away: no match either, with the reason
            $inner = $_.Exception
            while ($inner.InnerException) { $inner = $inner.InnerException }
            $why = $inner.Message.TrimEnd('.')
            $found = @()
        }
    }
    if ($found.Count -gt 0 -and $provider.Name -ne 'FileSystem') {
        $ex = [System.ArgumentException]::new("Cannot scan '$Path': it names items of the $($provider.Name) provider, not files.")
        $Cmdlet.WriteError([System.Management.Automation.ErrorRecord]::new($ex, 'PathNotFileSystem',
                [System.Management.Automation.ErrorCategory]::InvalidArgument, $Path))
        return , @()
    }
    if ($found.Count -eq 0) {
        $ex = [System.Management.Automation.ItemNotFoundException]::new("Cannot find path '$Path': $why.")
        $record = [System.Management.Automation.ErrorRecord]::new($ex, 'PathNotFound',
            [System.Management.Automation.ErrorCategory]::ObjectNotFound, $Path)
        $record.ErrorDetails = [System.Management.Automation.ErrorDetails]::new($ex.Message)
        $record.ErrorDetails.RecommendedAction = 'Check the pattern with Get-Item; use -LiteralPath for a name that contains [ ] * or ?.'
        $Cmdlet.WriteError($record)
        return , @()
    }
    return , $found
}

# The roots the agent could not scan, as non-terminating errors (the rest was scanned), and
# the symlink roots it resolved, as warnings.
function Write-ScanRootReport([System.Management.Automation.PSCmdlet]$Cmdlet, $Result) {
    foreach ($r in @($Result.ResolvedRoots)) {
        $Cmdlet.WriteWarning("'$($r.Path)' is a symbolic link: the agent scanned its target '$($r.Resolved)'.")
    }
    foreach ($e in @($Result.RootErrors)) {
        $text = "Cannot scan '$($e.Path)': $($e.Reason)."
        switch ($e.Error) {
            'not-found' {
                $ex = [System.Management.Automation.ItemNotFoundException]::new($text)
                $id = 'ScanRootNotFound'
                $category = [System.Management.Automation.ErrorCategory]::ObjectNotFound
            }
            'access-denied' {
                $ex = [System.UnauthorizedAccessException]::new($text)
                $id = 'ScanRootAccessDenied'
                $category = [System.Management.Automation.ErrorCategory]::PermissionDenied
            }
            default {
                $ex = [System.IO.IOException]::new($text)
                $id = 'ScanRootUnscannable'
                $category = [System.Management.Automation.ErrorCategory]::ReadError
            }
        }
        $ex.Data['PalisadeCode'] = [string]$e.Error
        $record = [System.Management.Automation.ErrorRecord]::new($ex, $id, $category, $e.Path)
        $record.ErrorDetails = [System.Management.Automation.ErrorDetails]::new("$text The other paths of scan $($Result.ScanId) were scanned.")
        $Cmdlet.WriteError($record)
    }
}

# What must not pass unnoticed at the end of a scan: threats left in place, objects not examined.
function Write-ScanEndWarning([System.Management.Automation.PSCmdlet]$Cmdlet, $Result) {
    if ($Result.UnremediatedThreats -gt 0) {
        $failed = @($Result.Threats | Where-Object { $_.ActionResult -eq 'Failed' } | ForEach-Object { $_.Path })
        $n = $Result.UnremediatedThreats
        $text = ("{0} threat{1} could not be quarantined or removed and {2} still in place{3}. " +
            'Get-AgentStatus shows the agent Degraded until they are dealt with (fix the cause, then scan again).') -f
        $n, $(if ($n -eq 1) { '' } else { 's' }), $(if ($n -eq 1) { 'is' } else { 'are' }),
        $(if ($failed.Count -gt 0) { ': ' + ($failed -join ', ') } else { '' })
        $Cmdlet.WriteWarning($text)
    }
    if ($Result.Status -eq 'Completed' -and -not $Result.FullyExamined -and @($Result.RootErrors).Count -eq 0) {
        $skipped = $Result.Skipped
        $count = { param($k) if ($skipped.Contains($k)) { $skipped[$k] } else { 0 } }
        $text = 'Not everything was examined: {0} unscannable, {1} unreadable, {2} too deep, {3} errors (see Unscannable and Skipped).' -f
        @($Result.Unscannable).Count, (& $count 'unreadable'), (& $count 'too-deep'), (& $count 'error')
        $Cmdlet.WriteWarning($text)
    }
}

# The paths to send: duplicates and paths below a given directory removed, order kept.
function Get-ScanRoots([System.Collections.Generic.List[string]]$Paths) {
    $seen = [System.Collections.Generic.HashSet[string]]::new([System.StringComparer]::Ordinal)
    $dirs = [System.Collections.Generic.HashSet[string]]::new([System.StringComparer]::Ordinal)
    $unique = [System.Collections.Generic.List[string]]::new()
    foreach ($p in $Paths) {
        $norm = if ($p.Length -gt 1) { $p.TrimEnd('/') } else { $p }
        if ($seen.Add($norm)) {
            $unique.Add($norm)
            # a symbolic link given as a path is resolved by the agent and its target walked,
            # so it covers what lies below it like a directory does
            if ([System.IO.Directory]::Exists($norm)) {
                [void]$dirs.Add($norm)
            }
        }
    }
    $out = [System.Collections.Generic.List[string]]::new()
    foreach ($p in $unique) {
        $covered = $false
        $parent = [System.IO.Path]::GetDirectoryName($p)
        while (-not [string]::IsNullOrEmpty($parent)) {
            if ($dirs.Contains($parent)) {
                $covered = $true
                break
            }
            $next = [System.IO.Path]::GetDirectoryName($parent)
            if ($next -eq $parent) { break }
            $parent = $next
        }
        if (-not $covered) {
            $out.Add($p)
        }
    }
    return , $out
}

# Run scan.start, show its progress, and return the Palisade.ScanResult (or an ErrorRecord).
# Polls the library from this (the pipeline) thread, so that Write-Progress works and Ctrl+C
# stops the loop between two polls; the finally block then cancels the scan on the agent.
# With -Op scan.wait (Wait-Scan) the scan is the agent's: Ctrl+C only stops following it.
function Invoke-ScanRequest([System.Management.Automation.PSCmdlet]$Cmdlet, [string]$Type, $Paths,
    [string]$Op = 'scan.start', [System.Collections.IDictionary]$OpArgs = $null, [string]$Activity = '') {
    $native = Get-PalisadeNative
    if (Test-PalisadeError $native) {
        return $native
    }
    $h = Open-PalisadeConnection $native
    if (Test-PalisadeError $h) {
        return $h
    }
    $requestId = [long]0
    $finished = $false
    $activity = if ($Activity) { $Activity } else { "Palisade $Type scan" }
    try {
        $scanArgs = $OpArgs
        if ($null -eq $scanArgs) {
            $scanArgs = @{ type = $Type }
            if ($Type -eq 'Custom') {
                $scanArgs['paths'] = [string[]]$Paths
            }
        }
        $requestId = $native::palisade_start($h, $Op, (ConvertTo-PalisadeJson $scanArgs))
        if ($requestId -lt 0) {
            $finished = $true
            return (Get-PalisadeHandleError $native $h)
        }
        $progress = [System.Management.Automation.ProgressRecord]::new(1, $activity, 'Starting')
        $Cmdlet.WriteProgress($progress)
        $final = $null
        while ($null -eq $final) {
            $rid = [long]0
            $ptr = [IntPtr]::Zero
            $kind = $native::palisade_next_event($h, $script:PollMilliseconds, [ref]$rid, [ref]$ptr)
            if ($kind -eq $script:PAL_TIMEOUT) {
                # the console draws progress at most every 200 ms, on a write: repeat the
                # last record so a quiet moment still shows the newest figures
                $Cmdlet.WriteProgress($progress)
                continue
            }
            if ($kind -lt 0) {
                $finished = $true
                return (Get-PalisadeHandleError $native $h)
            }
            $text = Receive-NativeString $native $ptr
            if ($rid -ne $requestId) {
                continue
            }
            if ($kind -eq $script:PAL_EVENT) {
                $msg = ConvertFrom-PalisadeJson $text
                if ((Get-Field $msg 'event') -eq 'progress') {
                    $progress = New-ScanProgressRecord $activity (Get-Field $msg 'data')
                    $Cmdlet.WriteProgress($progress)
                }
            } elseif ($kind -eq $script:PAL_RESULT) {
                $finished = $true
                $final = ConvertFrom-PalisadeJson $text
            } elseif ($kind -eq $script:PAL_ERROR) {
                $finished = $true
                $err = ConvertFrom-PalisadeJson $text
                return (New-PalisadeErrorRecord -Code ([string](Get-Field $err 'code')) -Message ([string](Get-Field $err 'message')))
            }
        }
        return ConvertTo-ScanResult $final
    } finally {
        if (-not $finished -and $requestId -gt 0 -and $Op -ne 'scan.start') {
            # a detached scan goes on: closing the connection ends only this wait
            Write-HostNotice $Cmdlet 'Stopped waiting: the scan goes on in the agent (Stop-Scan stops it).'
        } elseif (-not $finished -and $requestId -gt 0) {
            # Ctrl+C or Stop-Job: finally blocks run to their end even while the pipeline
            # stops, so the scan is cancelled and recorded before the prompt returns.
            if (Send-PalisadeCancel $native $h $requestId) {
                Write-HostNotice $Cmdlet 'Cancel requested: waiting for the agent to stop the scan...'
                $cancelled = Receive-PalisadeFinalResult $native $h $requestId
                if ($null -ne $cancelled) {
                    Write-HostNotice $Cmdlet ("Scan {0} stopped: the agent recorded it as {1} after {2} files." -f
                        (Get-Field $cancelled 'scan_id'), (Get-Field $cancelled 'status'), (Get-Field $cancelled 'files_scanned'))
                }
            }
        }
        if ($requestId -gt 0 -and -not $Cmdlet.Stopping) {
            $done = [System.Management.Automation.ProgressRecord]::new(1, $activity, 'Done')
            $done.RecordType = 'Completed'
            $Cmdlet.WriteProgress($done)
        }
        [void]$native::palisade_close($h)
    }
}

function New-ScanProgressRecord([string]$Activity, [System.Collections.IDictionary]$Data) {
    $files = [long](Get-Field $Data 'files_done')
    $bytes = [long](Get-Field $Data 'bytes_done')
    $total = Get-Field $Data 'files_total'
    $threats = [long](Get-Field $Data 'threats_so_far')
    $current = ConvertTo-PalisadeDisplay (Get-PathBytes $Data 'current_path')
    $status = '{0:N0} files, {1} scanned, {2} threats' -f $files, (Format-ByteCount $bytes), $threats
    $found = Get-Field $Data 'files_found'
    if ($null -ne $found -and [long]$found -gt $files) {
        # the walker runs ahead of the scanners: how far it got is the best estimate there is
        $status += ' ({0:N0} files found so far)' -f [long]$found
    }
    if ($null -ne $total -and [long]$total -gt 0) {
        $status = '{0:N0} of {1:N0} files, {2} scanned, {3} threats' -f $files, [long]$total, (Format-ByteCount $bytes), $threats
    }
    $record = [System.Management.Automation.ProgressRecord]::new(1, $Activity, $status)
    if ($null -ne $total -and [long]$total -gt 0) {
        $record.PercentComplete = [int][Math]::Min(100, [Math]::Floor(100.0 * $files / [long]$total))
    }
    if ($current) {
        $record.CurrentOperation = $current
    }
    return $record
}

function ConvertTo-ScanResult([System.Collections.IDictionary]$Result) {
    $scanId = [long](Get-Field $Result 'scan_id')
    $rawThreats = @(Get-Field $Result 'threats' | Where-Object { $null -ne $_ })
    $threats = @()
    if ($rawThreats.Count -gt 0) {
        # the history has the complete records (time, quarantine id) of this scan's findings
        $limit = [Math]::Min(100000, [Math]::Max(1, $rawThreats.Count))
        $hist = Invoke-PalisadeOp -Op 'threats.list' -Arguments @{ scan_id = $scanId; limit = $limit }
        if (Test-PalisadeError $hist) {
            Write-Debug "threat history of scan $scanId unavailable: $hist"
        } else {
            $threats = @(Get-Field $hist 'items' | Where-Object { $null -ne $_ } | ForEach-Object { ConvertTo-ThreatDetection $_ })
        }
        if ($threats.Count -eq 0) {
            $threats = @($rawThreats | ForEach-Object {
                    $t = ConvertTo-ThreatDetection $_
                    $t.ScanId = $scanId
                    $t
                })
        }
    }
    $unscannable = @(Get-Field $Result 'unscannable' | Where-Object { $null -ne $_ } | ForEach-Object {
            $u = [pscustomobject]@{
                PSTypeName = 'Palisade.UnscannableItem'
                Path       = [string](Get-Field $_ 'path')
                Reason     = [string](Get-Field $_ 'reason')
                Detail     = [string](Get-Field $_ 'detail')
            }
            Add-PalisadeNameProperty $u $_ 'Path', 'path'
            $u
        })
    $skipped = [ordered]@{}
    $rawSkipped = Get-Field $Result 'skipped'
    if ($rawSkipped -is [System.Collections.IDictionary]) {
        foreach ($k in $rawSkipped.Keys) { $skipped[$k] = [long]$rawSkipped[$k] }
    }
    $found = Get-Field $Result 'threats_found'
    [pscustomobject]@{
        PSTypeName   = 'Palisade.ScanResult'
        ScanId       = $scanId
        ScanType     = [string](Get-Field $Result 'type')
        StartTime    = ConvertFrom-PalisadeTime (Get-Field $Result 'start_time')
        EndTime      = ConvertFrom-PalisadeTime (Get-Field $Result 'end_time')
        FilesScanned = [long](Get-Field $Result 'files_scanned')
        BytesScanned = [long](Get-Field $Result 'bytes_scanned')
        ThreatsFound = if ($null -ne $found) { [int]$found } else { $rawThreats.Count }
        AllowedThreats      = [int](Get-Field $Result 'allowed_count')
        UnremediatedThreats = [int](Get-Field $Result 'unremediated_count')
        FullyExamined       = [bool](Get-Field $Result 'fully_examined')
        RootErrors   = [object[]]@(Get-Field $Result 'root_errors' | Where-Object { $null -ne $_ } | ForEach-Object {
                [pscustomobject]@{ Path = [string](Get-Field $_ 'path'); Error = [string](Get-Field $_ 'error'); Reason = [string](Get-Field $_ 'reason') } })
        ResolvedRoots = [object[]]@(Get-Field $Result 'resolved_roots' | Where-Object { $null -ne $_ } | ForEach-Object {
                [pscustomobject]@{ Path = [string](Get-Field $_ 'path'); Resolved = [string](Get-Field $_ 'resolved') } })
        Unscannable  = [object[]]$unscannable
        Status       = [string](Get-Field $Result 'status')
        Threats      = [object[]]$threats
        Skipped      = $skipped
        Error        = [string](Get-Field $Result 'error')
    }
}

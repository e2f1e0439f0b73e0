#
# Diagnostics.ps1 — Get-ContentProcessEvent, Save-AgentDiagnostics.
#
# Part of the Palisade module: psmodule/assemble.cmake joins Module.ps1, Private/*.ps1, the
# settings list generated from the C registry and Public/*.ps1 into the staged Palisade.psm1.
#

# ---- content-process events -----------------------------------------------------------------

function ConvertTo-ContentProcessEvent([System.Collections.IDictionary]$Item) {
    $o = [pscustomobject]@{
        PSTypeName = 'Palisade.ContentProcessEvent'
        Id         = [long](Get-Field $Item 'id')
        At         = ConvertFrom-PalisadeTime (Get-Field $Item 'at')
        Kind       = [string](Get-Field $Item 'kind')
        ProcessId  = ConvertTo-NullableLong (Get-Field $Item 'pid')
        ExitCode   = ConvertTo-NullableLong (Get-Field $Item 'exit_code')
        Signal     = ConvertTo-NullableLong (Get-Field $Item 'signal')
        Reason     = [string](Get-Field $Item 'reason')
        Object     = [string](Get-Field $Item 'object')
        StderrTail = [string](Get-Field $Item 'stderr_tail')
    }
    # the object being scanned is a file name: shown escaped (DisplayObject), never raw
    Add-PalisadeNameProperty $o $Item 'Object', 'object'
    return $o
}

function Get-ContentProcessEvent {
    <#
    .SYNOPSIS
    Lists what happened to the agent's content process (starts, exits, crashes, kills).

    .DESCRIPTION
    Get-ContentProcessEvent reads the events the agent records about its sandboxed content
    process, newest first: Start, Exit, Signal, Crash and Kill (the broker ended it: a
    timeout, misbehaviour, a stop). Each event has the reason, the object being scanned at
    the time (DisplayObject is its terminal-safe form) and the last lines the process wrote
    on stderr. The agent keeps the newest 1000.

    Requires root or membership in the agent's admin group.

    .PARAMETER First
    At most this many events (1 to 1000; default 100).

    .PARAMETER Socket
    The control socket of the agent to manage (as palisaded --socket and palisade --socket).
    Default: $env:PALISADE_SOCKET, else /run/palisade/palisaded.sock.

    .EXAMPLE
    PS> Get-ContentProcessEvent -First 20

    The twenty newest events.

    .EXAMPLE
    PS> Get-ContentProcessEvent | Where-Object Kind -in Crash, Kill | Format-List

    Every crash and kill the agent remembers, with the object and the stderr tail.

    .OUTPUTS
    Palisade.ContentProcessEvent

    .LINK
    Save-AgentDiagnostics
    #>
    [CmdletBinding()]
    [OutputType('Palisade.ContentProcessEvent')]
    param(
        [ValidateRange(1, 1000)]
        [int]$First,

        [ValidateNotNullOrEmpty()]
        [string]$Socket
    )
    $query = @{}
    if ($PSBoundParameters.ContainsKey('First')) { $query['limit'] = $First }
    $res = Invoke-PalisadeOp -Op 'cp.events' -Arguments $query
    if (Test-PalisadeError $res) {
        $PSCmdlet.ThrowTerminatingError($res)
    }
    foreach ($item in @(Get-Field $res 'items')) {
        if ($null -ne $item) {
            $PSCmdlet.WriteObject((ConvertTo-ContentProcessEvent $item))
        }
    }
}

# ---- Save-AgentDiagnostics ------------------------------------------------------------------

function Save-AgentDiagnostics {
    <#
    .SYNOPSIS
    Writes a support bundle of the agent (status, settings, versions, scans, events, log).

    .DESCRIPTION
    Save-AgentDiagnostics asks the agent to write a diagnostics bundle: a tar.gz with its
    status, settings and their sources, the versions of the agent, the signature package and
    the libraries, the newest 100 scans, the newest 1000 content-process events and the
    daemon's last 256 log lines. The agent writes it into its state directory
    (<state>/diagnostics, readable by root only; it keeps the newest 10).

    With -Path the bundle is also copied there (a directory receives it under its own name),
    with mode 0600: it holds file names and settings. An existing file is replaced only with
    -Force.

    Requires root or membership in the agent's admin group (and, for -Path, the right to read
    the agent's copy: root). Supports -WhatIf and -Confirm: with -WhatIf nothing is written.

    .PARAMETER Path
    Where to copy the bundle: a directory, or a file name.

    .PARAMETER Force
    Replace an existing file at -Path.

    .PARAMETER Socket
    The control socket of the agent to manage (as palisaded --socket and palisade --socket).
    Default: $env:PALISADE_SOCKET, else /run/palisade/palisaded.sock.

    .PARAMETER WhatIf
    Shows what would be written without asking the agent for a bundle.

    .PARAMETER Confirm
    Asks before the bundle is written.

    .EXAMPLE
    PS> Save-AgentDiagnostics

    Writes a bundle in the agent's state directory and outputs where it is.

    .EXAMPLE
    PS> Save-AgentDiagnostics -Path ~/support/

    Writes a bundle and copies it into ~/support, to attach to a support request.

    .OUTPUTS
    Palisade.DiagnosticsBundle

    .LINK
    Get-ContentProcessEvent

    .LINK
    Get-AgentStatus
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Low')]
    [OutputType('Palisade.DiagnosticsBundle')]
    param(
        [Parameter(Position = 0)]
        [ValidateNotNullOrEmpty()]
        [string]$Path,

        [switch]$Force,

        [ValidateNotNullOrEmpty()]
        [string]$Socket
    )
    $dest = $null
    $intoDir = $false
    if ($Path) {
        $dest = $PSCmdlet.SessionState.Path.GetUnresolvedProviderPathFromPSPath($Path)
        $intoDir = [System.IO.Directory]::Exists($dest)
        if (-not $intoDir -and -not $Force -and [System.IO.File]::Exists($dest)) {
            $PSCmdlet.ThrowTerminatingError((New-PalisadeErrorRecord -Code 'Exists' -Target $dest -Message (
                        "$dest exists.") -Advice 'Use -Force to replace it, or give another -Path.'))
        }
        if (-not $intoDir -and -not [System.IO.Directory]::Exists([System.IO.Path]::GetDirectoryName($dest))) {
            $PSCmdlet.ThrowTerminatingError((New-PalisadeErrorRecord -Code 'NotFound' -Target $dest -Message (
                        "The directory of $dest does not exist.") -Advice 'Create it first, or give an existing directory as -Path.'))
        }
    }
    $target = if ($dest) { "diagnostics bundle copied to $dest" } else { "diagnostics bundle in the agent's state directory" }
    if (-not $PSCmdlet.ShouldProcess($target, 'Write')) {
        return
    }
    $res = Invoke-PalisadeOp -Op 'diagnostics'
    if (Test-PalisadeError $res) {
        $PSCmdlet.ThrowTerminatingError($res)
    }
    $agentPath = [string](Get-Field $res 'path')
    $where = $agentPath
    if ($dest) {
        $where = if ($intoDir) { Join-Path $dest ([System.IO.Path]::GetFileName($agentPath)) } else { $dest }
        try {
            # created 0600 before a byte is written: the bundle holds file names and settings
            $opts = [System.IO.FileStreamOptions]::new()
            if ($Force -and [System.IO.File]::Exists($where)) {
                # replaced, not rewritten in place: the new file gets its own 0600 mode
                [System.IO.File]::Delete($where)
            }
            $opts.Mode = [System.IO.FileMode]::CreateNew
            $opts.Access = [System.IO.FileAccess]::Write
            $opts.UnixCreateMode = [System.IO.UnixFileMode]'UserRead, UserWrite'
            $src = [System.IO.File]::OpenRead($agentPath)
            try {
                $out = [System.IO.FileStream]::new($where, $opts)
                try { $src.CopyTo($out) } finally { $out.Dispose() }
            } finally {
                $src.Dispose()
            }
        } catch {
            $PSCmdlet.ThrowTerminatingError((New-PalisadeErrorRecord -Code 'Internal' -Target $where -Message (
                        "The agent wrote $agentPath, but copying it to ${where} failed: $($_.Exception.Message)") -Advice 'Copy the agent''s bundle as root, or run without -Path.'))
        }
    }
    $PSCmdlet.WriteObject([pscustomobject]@{
            PSTypeName = 'Palisade.DiagnosticsBundle'
            Path       = $where
            AgentPath  = $agentPath
            Size       = [long](Get-Field $res 'size')
            Files      = [string[]]@(Get-Field $res 'files' | Where-Object { $null -ne $_ })
        })
}

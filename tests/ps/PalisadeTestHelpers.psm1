#
# PalisadeTestHelpers.psm1 — what the Pester files of tests/ps/ share: a real palisaded on a
# temporary state directory (New-TestDaemon / Stop-TestDaemon), test content built at run
# time (the EICAR string is assembled from two halves so that no file of the tree holds
# it), pwsh run as the unprivileged user nobody (Invoke-PwshAsNobody), a fanotify gate that
# holds the daemon at one file (Start-OpenGate, tests/ps/gate.py) and polling for effects of
# asynchronous actions (Wait-Until; never a timed assertion).
#
# Paths come from the environment that tests/ps.cmake sets: PAL_PALISADED, PAL_CLI,
# PAL_DEFS_PACKAGE, PAL_TRUSTED_KEYS_DIR, PAL_PSMODULE_DIR, PAL_SOURCE_DIR, PAL_BINARY_DIR.
#
Set-StrictMode -Version 3.0

$script:EicarThreat = 'Virus:DOS/EICAR_Test_File'

function Get-TestEnv([string]$Name) {
    $v = [Environment]::GetEnvironmentVariable($Name)
    if ([string]::IsNullOrEmpty($v)) {
        throw "$Name is not set: run the suite through ctest (tests/ps.cmake) or tests/ps/Invoke-PalisadeTests.ps1"
    }
    return $v
}

function Get-EicarBytes {
    $head = 'X5O!P%@AP[4\PZX54(P^)7CC)7}$'
    $tail = 'EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'
    return , [System.Text.Encoding]::ASCII.GetBytes($head + $tail)
}

function New-TestTree {
    <# Create files under $Root: a hashtable of relative path => string (text) or byte[]. #>
    param([Parameter(Mandatory)][string]$Root, [Parameter(Mandatory)][hashtable]$Files)
    [void](New-Item -ItemType Directory -Force -Path $Root)
    foreach ($rel in $Files.Keys) {
        $p = Join-Path $Root $rel
        [void](New-Item -ItemType Directory -Force -Path (Split-Path $p -Parent))
        $content = $Files[$rel]
        if ($content -is [byte[]]) {
            [System.IO.File]::WriteAllBytes($p, $content)
        } else {
            [System.IO.File]::WriteAllText($p, [string]$content)
        }
    }
    return $Root
}

function Wait-Until {
    <# Poll $Condition until it returns a true value (returned); throw after $TimeoutSeconds. #>
    param([Parameter(Mandatory)][scriptblock]$Condition, [int]$TimeoutSeconds = 60, [string]$What = 'a condition')
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    while ($true) {
        $v = & $Condition
        if ($v) { return $v }
        if ([DateTime]::UtcNow -gt $deadline) { throw "timed out waiting for $What" }
        Start-Sleep -Milliseconds 50
    }
}

function New-TestDaemon {
    <#
    Start palisaded on a fresh temporary base directory (world-searchable, so that user
    nobody can reach the sockets): state/, policy/, run/palisaded.sock. Returns an object
    with Process, Base, Socket, StateDir, PolicyDir, Log. -Environment adds variables;
    -ExtraArgs are appended to palisaded's command line.
    Real-time protection is on by default in the product, and a permission listener on the
    machine's file systems must never come from a test: without -RealTimePaths a policy file
    turns it off; with it, a policy file restricts it to those mount points (file systems
    the test mounted itself).
    #>
    param([hashtable]$Environment = @{}, [hashtable]$Policy = @{}, [string[]]$RealTimePaths, [string[]]$ExtraArgs = @())
    $base = Join-Path ([System.IO.Path]::GetTempPath()) ('pal-ps.' + [Guid]::NewGuid().ToString('N').Substring(0, 10))
    [void](New-Item -ItemType Directory -Path $base)
    & chmod 755 $base
    $d = [pscustomobject]@{
        Base      = $base
        StateDir  = Join-Path $base 'state'
        PolicyDir = Join-Path $base 'policy'
        RunDir    = Join-Path $base 'run'
        Socket    = Join-Path $base 'run/palisaded.sock'
        Log       = Join-Path $base 'palisaded.log'
        Process   = $null
    }
    foreach ($dir in $d.StateDir, $d.PolicyDir, $d.RunDir) {
        [void](New-Item -ItemType Directory -Path $dir)
    }
    & chmod 700 $d.StateDir
    & chmod 755 $d.PolicyDir $d.RunDir
    foreach ($name in $Policy.Keys) {
        [void](Set-TestPolicy $d $name $Policy[$name])
    }
    # real-time protection is on by default in the product: a test daemon must not mark the
    # machine's file systems unless a test asks (-RealTimePaths: only those mount points,
    # locked by policy). Off is forced through palisaded's environment, not a policy file, so
    # that a test that breaks the policy does not get the default (every file system).
    $rtpOff = -not $RealTimePaths -and -not $Environment.ContainsKey('PALISADE_FORCE_REAL_TIME_PROTECTION')
    if ($RealTimePaths) {
        [void](Set-TestPolicy $d '00-harness-rtp-paths' @{ RealTimeMonitoredPaths = @($RealTimePaths) })
    }
    # bash execs the daemon with its output in the log file: the pid is the daemon's, and
    # no pipe can fill up and block it
    $psi = [System.Diagnostics.ProcessStartInfo]::new('bash')
    foreach ($a in '-c', 'log=$1; shift; exec "$@" >"$log" 2>&1', 'palisaded-start', $d.Log,
        (Get-TestEnv 'PAL_PALISADED'), '--foreground', '--state-dir', $d.StateDir, '--socket', $d.Socket,
        '--policy-dir', $d.PolicyDir, '--trusted-keys', (Get-TestEnv 'PAL_TRUSTED_KEYS_DIR'),
        '--defs', (Get-TestEnv 'PAL_DEFS_PACKAGE')) {
        $psi.ArgumentList.Add($a)
    }
    foreach ($a in $ExtraArgs) {
        $psi.ArgumentList.Add($a)
    }
    $psi.UseShellExecute = $false
    [void]$psi.Environment.Remove('MP_FORCE_USE_SANDBOX')
    [void]$psi.Environment.Remove('PALISADE_SOCKET')
    [void]$psi.Environment.Remove('PALISADE_FORCE_REAL_TIME_PROTECTION')
    if ($rtpOff) {
        $psi.Environment['PALISADE_FORCE_REAL_TIME_PROTECTION'] = '0'
    }
    foreach ($k in $Environment.Keys) {
        $psi.Environment[$k] = [string]$Environment[$k]
    }
    $p = [System.Diagnostics.Process]::Start($psi)
    $d.Process = $p
    try {
        Wait-Until -What "palisaded to listen on $($d.Socket)" -TimeoutSeconds 60 {
            if ($p.HasExited) { throw "palisaded exited during start: $(Get-TestDaemonLog $d)" }
            (Test-Path -LiteralPath $d.Socket) -and (Test-Path -LiteralPath ($d.Socket + '.status'))
        } | Out-Null
    } catch {
        Stop-TestDaemon $d
        throw
    }
    return $d
}

function Stop-TestDaemon {
    param($Daemon)
    if ($null -eq $Daemon) { return }
    $p = $Daemon.Process
    if ($null -ne $p -and -not $p.HasExited) {
        & kill -TERM $p.Id
        if (-not $p.WaitForExit(60000)) {
            $p.Kill()
            $p.WaitForExit()
        }
    }
    Remove-Item -LiteralPath $Daemon.Base -Recurse -Force -ErrorAction SilentlyContinue
}

function Get-TestDaemonLog($Daemon) {
    if (Test-Path -LiteralPath $Daemon.Log) {
        return [System.IO.File]::ReadAllText($Daemon.Log)
    }
    return ''
}

function Set-TestPolicy {
    <# Write policy file <name>.json (root-owned, 0644) into the daemon's policy directory. #>
    param($Daemon, [string]$Name, [hashtable]$Settings)
    $path = Join-Path $Daemon.PolicyDir "$Name.json"
    [System.IO.File]::WriteAllText($path, (ConvertTo-Json -InputObject $Settings -Compress))
    & chmod 644 $path
    return $path
}

function Send-ReloadSignal($Daemon) {
    & kill -HUP $Daemon.Process.Id
}

function Invoke-PalisadeCli {
    <# Run the palisade CLI with --json against the daemon; returns the parsed document. #>
    param($Daemon, [Parameter(ValueFromRemainingArguments)][string[]]$Arguments)
    $out = & (Get-TestEnv 'PAL_CLI') --socket $Daemon.Socket @Arguments --json
    return ($out -join "`n") | ConvertFrom-Json
}

# ---- pwsh as user nobody ------------------------------------------------------------------------

# The pwsh global tool lives under root's home (0700 on Debian), out of nobody's reach. A
# copy of its files (hard links when the file system allows, so it costs nothing) under
# $BaseDir (a test daemon's temporary directory, removed with it; not the build tree, whose
# ELF files the hardening test checks) is readable by everyone; the shared .NET runtime
# (dotnet on PATH) runs it.
function Get-NobodyPwshDll([string]$BaseDir) {
    $pwshDir = $PSHOME
    $dll = Join-Path $pwshDir 'pwsh.dll'
    & runuser -u nobody -- test -r $dll
    if ($LASTEXITCODE -eq 0) {
        return $dll
    }
    $dest = Join-Path $BaseDir 'pwsh'
    if (-not (Test-Path -LiteralPath (Join-Path $dest 'pwsh.dll'))) {
        # Hard links share the originals' inodes: their modes must not be touched, so they
        # are used only when every file is readable by others already (NuGet extracts
        # 0744); otherwise a real copy is made readable.
        $unreadable = & find $pwshDir -type f '!' -perm '-o+r' -print -quit
        $linked = $false
        if (-not $unreadable) {
            & cp -al $pwshDir $dest 2>$null
            $linked = $LASTEXITCODE -eq 0
        }
        if (-not $linked) {
            Remove-Item -LiteralPath $dest -Recurse -Force -ErrorAction SilentlyContinue
            & cp -a $pwshDir $dest
            if ($LASTEXITCODE -ne 0) { throw "cannot copy $pwshDir to $dest" }
            & chmod -R a+rX $dest
        }
        & find $dest -type d -exec chmod a+rx '{}' '+'
    }
    return (Join-Path $dest 'pwsh.dll')
}

function Invoke-PwshAsNobody {
    <#
    Run $Script in a new pwsh as user nobody with the staged Palisade module imported and
    $env:PALISADE_SOCKET set to the daemon's socket. The script's output is expected to be
    one JSON document (its last output line); returns it parsed.
    #>
    param([Parameter(Mandatory)]$Daemon, [Parameter(Mandatory)][string]$Script)
    $dll = Get-NobodyPwshDll $Daemon.Base
    $work = Join-Path $Daemon.Base ('nobody-' + [Guid]::NewGuid().ToString('N').Substring(0, 8))
    [void](New-Item -ItemType Directory -Path $work)
    $scriptPath = Join-Path $work 'script.ps1'
    $module = Join-Path (Get-TestEnv 'PAL_PSMODULE_DIR') 'Palisade.psd1'
    $prologue = "`$ErrorActionPreference = 'Stop'`nImport-Module '$module'`n`$env:PALISADE_SOCKET = '$($Daemon.Socket)'`n"
    [System.IO.File]::WriteAllText($scriptPath, $prologue + $Script)
    & chown -R nobody $work
    & chmod -R 755 $work
    $dotnet = (Get-Command dotnet -CommandType Application | Select-Object -First 1).Source
    $out = & runuser -u nobody -- env "HOME=$work" "DOTNET_CLI_HOME=$work" DOTNET_CLI_TELEMETRY_OPTOUT=1 `
        POWERSHELL_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 "PSModulePath=" `
        $dotnet $dll -NoLogo -NoProfile -NonInteractive -File $scriptPath 2>&1
    $rc = $LASTEXITCODE
    $text = ($out | ForEach-Object { [string]$_ }) -join "`n"
    if ($rc -ne 0) {
        throw "pwsh as nobody exited with $rc`n$text"
    }
    $last = @($out | ForEach-Object { [string]$_ } | Where-Object { $_.Trim() })[-1]
    return $last | ConvertFrom-Json
}

# ---- pwsh in a child process ----------------------------------------------------------------

function Invoke-ChildPwsh {
    <# Run $Script in a child pwsh (this user) with extra environment; returns output lines. #>
    param([Parameter(Mandatory)][string]$Script, [hashtable]$Environment = @{})
    $psi = [System.Diagnostics.ProcessStartInfo]::new((Get-TestEnv 'PAL_PWSH'))
    foreach ($a in '-NoLogo', '-NoProfile', '-NonInteractive', '-Command', $Script) { $psi.ArgumentList.Add($a) }
    $psi.UseShellExecute = $false
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    foreach ($k in $Environment.Keys) { $psi.Environment[$k] = [string]$Environment[$k] }
    $p = [System.Diagnostics.Process]::Start($psi)
    $errTask = $p.StandardError.ReadToEndAsync()
    $stdout = $p.StandardOutput.ReadToEnd()
    $p.WaitForExit()
    return [pscustomobject]@{ ExitCode = $p.ExitCode; Output = $stdout; Error = $errTask.Result }
}

# ---- fanotify gate ----------------------------------------------------------------------------

function Start-OpenGate {
    <#
    Hold palisaded's first open of $Path until Open-Gate (tests/ps/gate.py): a scan that
    reaches the file waits there, so a test can act on a scan known to be in flight.
    Returns the gate process once its mark is in place.
    #>
    param([Parameter(Mandatory)][string]$Path, [Parameter(Mandatory)][int]$DaemonPid)
    $psi = [System.Diagnostics.ProcessStartInfo]::new('python3')
    foreach ($a in (Join-Path (Get-TestEnv 'PAL_SOURCE_DIR') 'tests/ps/gate.py'), $Path, [string]$DaemonPid) {
        $psi.ArgumentList.Add($a)
    }
    $psi.UseShellExecute = $false
    $psi.RedirectStandardInput = $true
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $p = [System.Diagnostics.Process]::Start($psi)
    $line = $p.StandardOutput.ReadLine()
    if ($line -ne 'ready') {
        $err = $p.StandardError.ReadToEnd()
        throw "gate.py did not start: $line $err"
    }
    return $p
}

function Wait-GateHeld {
    <# Wait until the daemon's open of the gate file is held. #>
    param([Parameter(Mandatory)]$Gate, [int]$TimeoutSeconds = 120)
    $task = $Gate.StandardOutput.ReadLineAsync()
    if (-not $task.Wait([TimeSpan]::FromSeconds($TimeoutSeconds))) {
        throw 'the daemon did not reach the gate file'
    }
    if ($task.Result -ne 'held') {
        throw "gate.py: $($task.Result) $($Gate.StandardError.ReadToEnd())"
    }
}

function Open-Gate {
    <# Let the held open (and every later one) through and end the gate process. #>
    param($Gate)
    if ($null -eq $Gate -or $Gate.HasExited) { return }
    try {
        $Gate.StandardInput.WriteLine('release')
        $Gate.StandardInput.Close()
    } catch {
        Write-Verbose "gate stdin already closed: $_"
    }
    if (-not $Gate.WaitForExit(30000)) {
        $Gate.Kill()
    }
}

Export-ModuleMember -Function * -Variable EicarThreat

#
# RealTime.Tests.ps1 — real-time protection from PowerShell, against a real palisaded that
# monitors only a tmpfs this file mounts (RealTimeMonitoredPaths by policy, written before
# the daemon starts, so that no other file system of the machine is ever marked):
# Get-AgentStatus shows it Enabled with that file system and typed statistics;
# Set-AgentPreference switches it off and on live (a threat is readable while it is off and
# not once it is on again) and is refused when policy sets it; Get-RealTimeProtectionStatistic
# lists the process that opened the files, with its uid; a threat opened through pwsh's own
# Get-Content fails with an ErrorRecord and is recorded as a RealTime detection.
#
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'PalisadeTestHelpers.psm1') -Force
    Import-Module (Join-Path (Get-TestEnv 'PAL_PSMODULE_DIR') 'Palisade.psd1') -Force
    $script:Mnt = Join-Path ([System.IO.Path]::GetTempPath()) ('pal-rtp.' + [Guid]::NewGuid().ToString('N').Substring(0, 10))
    [void](New-Item -ItemType Directory -Path $Mnt)
    & mount -t tmpfs -o size=64m,mode=0755 tmpfs $Mnt
    if ($LASTEXITCODE -ne 0) { throw "cannot mount a tmpfs on $Mnt (run as root)" }
    $script:D = New-TestDaemon -RealTimePaths $Mnt
    $script:S = $D.Socket
    $script:Eicar = Get-EicarBytes

    function Wait-RealTime([string]$State) {
        Wait-Until -What "real-time protection $State" -TimeoutSeconds 60 {
            $st = Get-AgentStatus -Socket $script:S
            if ($st.RealTimeProtection -eq $State) { $st }
        }
    }

    # A threat that exists on the tmpfs before protection is switched on: written while it
    # is off (nothing scans it after the close), so the open below is its first check.
    function New-ThreatWhileOff([string]$Name) {
        Set-AgentPreference -Name RealTimeProtectionEnabled -Value $false -Socket $script:S
        [void](Wait-RealTime 'Disabled')
        $p = Join-Path $script:Mnt $Name
        [System.IO.File]::WriteAllBytes($p, $script:Eicar)
        Set-AgentPreference -Name RealTimeProtectionEnabled -Value $true -Socket $script:S
        [void](Wait-RealTime 'Enabled')
        return $p
    }
}

AfterAll {
    try {
        Stop-TestDaemon $D
    } finally {
        & umount $Mnt
        if ($LASTEXITCODE -ne 0) { & umount -l $Mnt }
        Remove-Item -LiteralPath $Mnt -Force -ErrorAction SilentlyContinue
    }
}

Describe 'Get-AgentStatus: real-time protection' {
    It 'is Enabled (the built-in default) on the mounted tmpfs alone, with typed statistics' {
        $st = Wait-RealTime 'Enabled'
        $st.RealTimeProtectionReason | Should -BeNullOrEmpty
        $r = $st.RealTimeProtectionStats
        $r | Should -Not -BeNullOrEmpty
        $r.PSTypeNames[0] | Should -Be 'Palisade.RealTimeProtectionStats'
        @($r.FileSystems) | Should -Be @($Mnt)
        $r.Since | Should -BeOfType [datetime]
        $r.Events | Should -BeOfType [long]
        $r.EventsPerSecond | Should -BeOfType [double]
        $r.QueueDepth | Should -BeOfType [long]
        $r.CacheHitRate | Should -BeOfType [double]
        foreach ($n in 'CacheHits', 'IgnoreMarks', 'IgnoreMarksDropped', 'EmptyAllowed', 'Scans', 'Blocked', 'Timeouts', 'Overloads') {
            $r.$n | Should -BeOfType [long]
        }
        # the default view shows the state, and the statistics in one line
        $text = ($st | Out-String -Width 400)
        $text | Should -Match 'RealTimeProtection\s*:\s*Enabled'
        $text | Should -Match ([regex]::Escape($Mnt) + '; \d+ events')
    }
}

Describe 'Get-Content of a threat on a monitored file system' {
    It 'fails with an ErrorRecord, and the detection names the RealTime origin' {
        $p = New-ThreatWhileOff 'get-content.com'
        $err = $null
        try {
            Get-Content -LiteralPath $p -Raw -ErrorAction Stop | Out-Null
        } catch {
            $err = $_
        }
        $err | Should -Not -BeNullOrEmpty -Because 'the open of a threat must fail'
        $err | Should -BeOfType [System.Management.Automation.ErrorRecord]
        # EPERM from open(2): .NET's UnauthorizedAccessException ("Access to the path ... is denied")
        $err.Exception | Should -BeOfType [System.UnauthorizedAccessException]
        $blocked = Wait-Until -What 'the blocked open in the statistics' {
            $r = (Get-AgentStatus -Socket $S).RealTimeProtectionStats
            if ($r.Blocked -ge 1) { $r }
        }
        $blocked.Blocked | Should -BeGreaterOrEqual 1
        $d = Wait-Until -What 'the detection in the history' {
            @(Get-ThreatHistory -Socket $S | Where-Object { $_.Path -eq $p })
        }
        $d[0].ThreatName | Should -Be 'Virus:DOS/EICAR_Test_File'
        # this pwsh opened it: the detection is real-time and names this process
        $d[0].Source | Should -Be 'RealTime'
        $d[0].ProcessId | Should -Be $PID
        $d[0].ProcessUserId | Should -Be 0
        $d[0].ProcessExecutable | Should -Be (Get-Process -Id $PID).Path
        $d[0].DisplayProcessExecutable | Should -Be (Get-Process -Id $PID).Path
    }
}

Describe 'Set-AgentPreference -Name RealTimeProtectionEnabled' {
    It 'switches real-time protection off and on live, without a restart' {
        $pidBefore = (Get-AgentStatus -Socket $S).AgentPid
        $p = Join-Path $Mnt 'switch.com'
        Set-AgentPreference -Name RealTimeProtectionEnabled -Value $false -Socket $S
        $off = Wait-RealTime 'Disabled'
        $off.RealTimeProtectionReason | Should -Not -BeNullOrEmpty
        (Get-AgentPreference -Name RealTimeProtectionEnabled -Socket $S).Source | Should -Be 'Preference'
        # off really is off: a threat is written and read back
        [System.IO.File]::WriteAllBytes($p, $Eicar)
        [System.IO.File]::ReadAllBytes($p).Length | Should -Be $Eicar.Length
        Set-AgentPreference -Name RealTimeProtectionEnabled -Value $true -Socket $S
        [void](Wait-RealTime 'Enabled')
        $e = $null
        try { [void][System.IO.File]::ReadAllBytes($p) } catch { $e = $_ }
        $e | Should -Not -BeNullOrEmpty -Because 'protection is on again'
        # EPERM from open(2); .NET reports it from File.ReadAllBytes as an IOException
        # "Operation not permitted" (Get-Content, above, as UnauthorizedAccessException)
        $base = $e.Exception.GetBaseException()
        ($base -is [System.UnauthorizedAccessException] -or $base.Message -match 'Operation not permitted') |
            Should -BeTrue -Because "the error was: $base"
        (Get-AgentStatus -Socket $S).AgentPid | Should -Be $pidBefore
    }

    It 'is refused with PermissionDenied when policy sets it, and nothing changes' {
        $policy = Set-TestPolicy $D '60-rtp-on' @{ RealTimeProtectionEnabled = $true }
        try {
            Send-ReloadSignal $D
            Wait-Until -What 'the policy in force' {
                (Get-AgentPreference -Name RealTimeProtectionEnabled -Socket $S).Source -eq 'Policy'
            } | Out-Null
            $e = $null
            try {
                Set-AgentPreference -Name RealTimeProtectionEnabled -Value $false -Socket $S
            } catch {
                $e = $_
            }
            $e | Should -Not -BeNullOrEmpty -Because 'policy sets it'
            $e.CategoryInfo.Category | Should -Be 'PermissionDenied'
            $e.Exception.Message | Should -Match '60-rtp-on\.json'
            (Get-AgentPreference -Name RealTimeProtectionEnabled -Socket $S).Value | Should -BeTrue
            (Get-AgentStatus -Socket $S).RealTimeProtection | Should -Be 'Enabled'
        } finally {
            Remove-Item -LiteralPath $policy -Force
            Send-ReloadSignal $D
            Wait-Until -What 'the policy gone' {
                (Get-AgentPreference -Name RealTimeProtectionEnabled -Socket $S).Source -ne 'Policy'
            } | Out-Null
        }
    }
}

Describe 'Get-RealTimeProtectionStatistic' {
    It 'lists the process that opened files on the tmpfs, with its uid, scans and scan time' {
        # files the process below is the first to open: written while protection is off
        Set-AgentPreference -Name RealTimeProtectionEnabled -Value $false -Socket $S
        [void](Wait-RealTime 'Disabled')
        $dir = Join-Path $Mnt 'stats'
        [void](New-Item -ItemType Directory -Path $dir)
        $files = foreach ($i in 1..20) {
            $f = Join-Path $dir "f$i.txt"
            [System.IO.File]::WriteAllText($f, "clean file $i`n" * ($i * 10))
            $f
        }
        Set-AgentPreference -Name RealTimeProtectionEnabled -Value $true -Socket $S
        [void](Wait-RealTime 'Enabled')
        $tac = (Get-Command tac -CommandType Application | Select-Object -First 1).Source
        $tac = (& readlink -f $tac)
        & runuser -u nobody -- $tac @files | Out-Null
        $LASTEXITCODE | Should -Be 0
        $row = Wait-Until -What "$tac in the statistics" {
            @(Get-RealTimeProtectionStatistic -Socket $S | Where-Object { $_.Executable -eq $tac })[0]
        }
        $row.PSTypeNames[0] | Should -Be 'Palisade.RealTimeProcessStatistic'
        $row.Uid | Should -Be 65534
        $row.Scans | Should -BeGreaterOrEqual 20
        $row.ScanTime | Should -BeOfType [timespan]
        $row.ScanTimeMs | Should -BeOfType [long]
        $row.Blocked | Should -Be 0
        $row.DisplayExecutable | Should -Be $tac
        $row.Since | Should -BeOfType [datetime]
        # ordered by scan time, and -Limit holds
        $all = @(Get-RealTimeProtectionStatistic -Socket $S)
        for ($i = 1; $i -lt $all.Count; $i++) {
            $all[$i].ScanTimeMs | Should -BeLessOrEqual $all[$i - 1].ScanTimeMs
        }
        @(Get-RealTimeProtectionStatistic -Limit 1 -Socket $S).Count | Should -Be 1
        { Get-RealTimeProtectionStatistic -Limit 0 -Socket $S } | Should -Throw
        # the default view is a table with the executable
        (Get-RealTimeProtectionStatistic -Socket $S | Out-String -Width 300) | Should -Match ([regex]::Escape($tac))
    }

    It 'is refused to a user who is not an administrator' {
        $r = Invoke-PwshAsNobody -Daemon $D -Script @'
try { Get-RealTimeProtectionStatistic | Out-Null; 'none' | ConvertTo-Json } catch { $_.CategoryInfo.Category.ToString() | ConvertTo-Json }
'@
        $r | Should -Be 'PermissionDenied'
    }
}

#
# Schedule.Tests.ps1 — scheduled scans from PowerShell (issue 14): the schedule settings set
# with Set-AgentPreference, their values tab-completed and checked, Get-AgentStatus
# NextQuickScan/NextFullScan/LastQuickScan as [datetime]s, and a scheduled Quick scan that
# runs once the scheduler's clock passes its time (palisaded --clock-offset-file, which the
# test writes: no test waits for a real schedule), seen in Get-Scan and Get-ScanHistory with
# the trigger Scheduled and no user. Every call names the agent with -Socket.
#
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'PalisadeTestHelpers.psm1') -Force
    Import-Module (Join-Path (Get-TestEnv 'PAL_PSMODULE_DIR') 'Palisade.psd1') -Force
    $script:Offset = Join-Path ([System.IO.Path]::GetTempPath()) ('pal-ps-clock.' + [Guid]::NewGuid().ToString('N').Substring(0, 10))
    function script:Set-SchedulerClock([datetime]$At) {
        $seconds = [long][Math]::Round(($At.ToUniversalTime() - [datetime]::UtcNow).TotalSeconds)
        [System.IO.File]::WriteAllText("$Offset.tmp", "$seconds`n")
        & chmod 644 "$Offset.tmp"
        Move-Item -LiteralPath "$Offset.tmp" -Destination $Offset -Force
    }
    Set-SchedulerClock ([datetime]::Now)
    # Quick scans walk the real /tmp: no action on other tests' EICAR files
    $noAction = @{}
    foreach ($sev in 'Low', 'Moderate', 'High', 'Severe') { $noAction["${sev}ThreatDefaultAction"] = 'NoAction' }
    $script:D = New-TestDaemon -Policy @{ '10-no-action' = $noAction } -ExtraArgs '--clock-offset-file', $Offset
    $script:S = $D.Socket
}

AfterAll {
    Stop-TestDaemon $D
    Remove-Item -LiteralPath $Offset -Force -ErrorAction SilentlyContinue
}

Describe 'The schedule settings' {
    It 'tab-completes the days' {
        foreach ($name in 'ScanScheduleQuickScanDay', 'ScanScheduleFullScanDay') {
            $line = "Set-AgentPreference -Name $name -Value "
            $c = TabExpansion2 -inputScript $line -cursorColumn $line.Length
            @($c.CompletionMatches.CompletionText) | Should -Be @('Never', 'Everyday', 'Monday', 'Tuesday',
                'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday')
        }
        $line = 'Set-AgentPreference -Name ScanScheduleQuickScanDay -Value Sa'
        $c = TabExpansion2 -inputScript $line -cursorColumn $line.Length
        @($c.CompletionMatches.CompletionText) | Should -Be @('Saturday')
        $line = 'Set-AgentPreference -Name ScheduledScanCatchUp -Value '
        $c = TabExpansion2 -inputScript $line -cursorColumn $line.Length
        @($c.CompletionMatches.CompletionText) | Should -Be @('true', 'false')
    }

    It 'lists them with their defaults and ranges' {
        $p = @{}
        Get-AgentPreference -Socket $S | ForEach-Object { $p[$_.Name] = $_ }
        $p['ScanScheduleQuickScanDay'].Value | Should -Be 'Never'
        $p['ScanScheduleFullScanTime'].Value | Should -Be '02:00'
        $p['ScheduleRandomizationMinutes'].Value | Should -Be 30
        $p['ScheduleRandomizationMinutes'].Maximum | Should -Be 240
        $p['ScanAvgCPULoadFactor'].Value | Should -Be 50
        $p['ScanAvgCPULoadFactor'].Minimum | Should -Be 5
        $p['ScheduledScanCatchUp'].Value | Should -BeTrue
        $p['ThrottleForBackgroundScansOnly'].Value | Should -BeTrue
    }

    It 'refuses a bad time or day with a clear error, changing nothing' {
        $e = $null
        try { Set-AgentPreference -Name ScanScheduleQuickScanTime -Value '25:00' -Socket $S } catch { $e = $_ }
        $e | Should -Not -BeNullOrEmpty
        $e.Exception.Message | Should -Match 'HH:MM'
        $e = $null
        try { Set-AgentPreference -Name ScanScheduleFullScanDay -Value 'Funday' -Socket $S } catch { $e = $_ }
        $e.Exception.Message | Should -Match 'Everyday'
        (Get-AgentPreference -Name ScanScheduleQuickScanTime -Socket $S).Value | Should -Be '02:00'
        (Get-AgentPreference -Name ScanScheduleFullScanDay -Socket $S).Value | Should -Be 'Never'
    }

    It 'Set-AgentPreference -WhatIf changes nothing' {
        Set-AgentPreference -Name ScanScheduleFullScanDay -Value Sunday -WhatIf -Socket $S
        (Get-AgentPreference -Name ScanScheduleFullScanDay -Socket $S).Value | Should -Be 'Never'
    }
}

Describe 'Get-AgentStatus and a scheduled scan' {
    It 'shows the next scans as [datetime]s, null for Never' {
        $st = Get-AgentStatus -Socket $S
        $st.NextQuickScan | Should -BeNullOrEmpty
        $st.NextFullScan | Should -BeNullOrEmpty
        Set-AgentPreference -Name ScheduleRandomizationMinutes -Value 0 -Socket $S
        Set-AgentPreference -Name ScanScheduleFullScanTime -Value '3:15' -Socket $S
        Set-AgentPreference -Name ScanScheduleFullScanDay -Value Sunday -Socket $S
        $next = Wait-Until -What 'NextFullScan' -TimeoutSeconds 30 { (Get-AgentStatus -Socket $S).NextFullScan }
        $next | Should -BeOfType [datetime]
        $next.DayOfWeek | Should -Be 'Sunday'
        $next.ToString('HH:mm') | Should -Be '03:15'
        ($next - [datetime]::Now).TotalDays | Should -BeLessOrEqual 7.1
    }

    It 'runs a Quick scan once the clock passes its time, as the agent''s own scan' {
        $at = [datetime]::Now.AddMinutes(3)
        $at = $at.AddSeconds(-$at.Second).AddMilliseconds(-$at.Millisecond)
        Set-AgentPreference -Name ScanScheduleQuickScanTime -Value $at.ToString('HH:mm') -Socket $S
        Set-AgentPreference -Name ScanScheduleQuickScanDay -Value Everyday -Socket $S
        $next = Wait-Until -What 'NextQuickScan' -TimeoutSeconds 30 {
            $n = (Get-AgentStatus -Socket $S).NextQuickScan
            if ($n -and [Math]::Abs(($n - $at).TotalSeconds) -lt 1) { $n }
        }
        $next | Should -BeOfType [datetime]
        @(Get-Scan -Socket $S).Count | Should -Be 0

        Set-SchedulerClock $at.AddSeconds(2)
        $job = Wait-Until -What 'the scheduled scan' -TimeoutSeconds 30 {
            Get-Scan -Socket $S | Where-Object Trigger -EQ 'Scheduled'
        }
        $job.ScanType | Should -Be 'Quick'
        $job.StartedBy | Should -BeNullOrEmpty
        Stop-Scan -Id $job.Id -Socket $S -Confirm:$false
        $res = Wait-Scan -Id $job.Id -Socket $S
        $res.Status | Should -Be 'Cancelled'
        (Get-ScanHistory -Socket $S | Where-Object ScanId -EQ $job.Id).Trigger | Should -Be 'Scheduled'

        $st = Get-AgentStatus -Socket $S
        $st.LastQuickScan.ScanId | Should -Be $job.Id
        $st.LastQuickScan.StartTime | Should -BeOfType [datetime]
        $st.NextQuickScan | Should -BeOfType [datetime]
        ($st.NextQuickScan - $at).TotalHours | Should -BeGreaterThan 23
        # the default view shows the next runs
        ($st | Out-String) | Should -Match '(?m)^NextQuickScan\s+:\s+\S'
    }
}

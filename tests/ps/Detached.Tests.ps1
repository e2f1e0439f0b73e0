#
# Detached.Tests.ps1 — scans that belong to the agent (issue 14): Start-Scan -NoWait,
# Get-Scan, Wait-Scan and Stop-Scan against a real palisaded. A fanotify gate
# (tests/ps/gate.py) holds the scan at its first file, so "still running" is a fact of the
# test. Every call names the agent with -Socket.
#
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'PalisadeTestHelpers.psm1') -Force
    Import-Module (Join-Path (Get-TestEnv 'PAL_PSMODULE_DIR') 'Palisade.psd1') -Force
    $script:D = New-TestDaemon
    $script:S = $D.Socket
    $script:Eicar = 'Virus:DOS/EICAR_Test_File'
    function script:New-GatedTree([string]$Name) {
        $files = @{ 'a_gate' = 'gate'; 'z_eicar.com' = (Get-EicarBytes) }
        foreach ($i in 1..20) { $files["m_$i.txt"] = "clean $i" }
        return New-TestTree -Root (Join-Path $D.Base $Name) -Files $files
    }
}

AfterAll {
    Stop-TestDaemon $D
}

Describe 'Start-Scan -NoWait, Get-Scan, Wait-Scan' {
    It 'leaves the scan to the agent, which another call lists, follows and finishes' {
        $root = New-GatedTree 'one'
        $gate = Start-OpenGate -Path (Join-Path $root 'a_gate') -DaemonPid $D.Process.Id
        try {
            $job = Start-Scan -Path $root -NoWait -Socket $S
            $job.PSObject.TypeNames | Should -Contain 'Palisade.ScanJob'
            $job.Id | Should -BeGreaterThan 0
            $job.ScanType | Should -Be 'Custom'
            Wait-GateHeld $gate

            $listed = @(Get-Scan -Socket $S | Where-Object Id -eq $job.Id)
            $listed.Count | Should -Be 1
            $listed[0].Status | Should -Be 'Running'
            $listed[0].Paths | Should -Be @($root)
            (Get-Scan -Id $job.Id -Socket $S).Status | Should -Be 'Running'
            # the default view is a table with the id and status
            ($listed | Out-String) | Should -Match "(?m)^\s*$($job.Id)\s+Custom\s+Running"

            # Stop-Scan -WhatIf asks the agent nothing: still running, no stop requested
            Stop-Scan -Id $job.Id -WhatIf -Socket $S | Should -BeNullOrEmpty
            $after = Get-Scan -Id $job.Id -Socket $S
            $after.Status | Should -Be 'Running'
            $after.StopRequested | Should -BeFalse
        } finally {
            Open-Gate $gate
        }
        # from the pipeline, as Start-Scan -NoWait and Get-Scan give it
        $result = $job | Wait-Scan -Socket $S
        $result.PSObject.TypeNames | Should -Contain 'Palisade.ScanResult'
        $result.ScanId | Should -Be $job.Id
        $result.Status | Should -Be 'Completed'
        $result.ThreatsFound | Should -Be 1
        $result.Threats[0].ThreatName | Should -Be $Eicar
        (Get-Scan -Id $job.Id -Socket $S).Status | Should -Be 'Completed'
        (Get-ScanHistory -Socket $S | Where-Object ScanId -eq $job.Id).Status | Should -Be 'Completed'
    }

    It 'Stop-Scan stops it: Wait-Scan then returns it Cancelled, with a warning' {
        $root = New-GatedTree 'two'
        $gate = Start-OpenGate -Path (Join-Path $root 'a_gate') -DaemonPid $D.Process.Id
        try {
            $job = Start-Scan -LiteralPath $root -NoWait -Socket $S
            Wait-GateHeld $gate
            $stopped = $job | Stop-Scan -Confirm:$false -Socket $S
            $stopped.StopRequested | Should -BeTrue
        } finally {
            Open-Gate $gate
        }
        $result = Wait-Scan -Id $job.Id -Socket $S -WarningVariable w -WarningAction SilentlyContinue
        $result.Status | Should -Be 'Cancelled'
        $result.ThreatsFound | Should -Be 0
        "$w" | Should -Match 'cancelled'
    }

    It 'an unknown id is ObjectNotFound, and -NoWait with -AsJob is a usage error' {
        { Get-Scan -Id 999999 -Socket $S -ErrorAction Stop } | Should -Throw -ErrorId '*'
        Get-Scan -Id 999999 -Socket $S -ErrorAction SilentlyContinue -ErrorVariable e
        $e[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        Wait-Scan -Id 999999 -Socket $S -ErrorAction SilentlyContinue -ErrorVariable e2
        $e2[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        { Start-Scan -Path $D.Base -NoWait -AsJob -Socket $S } | Should -Throw '*exclude each other*'
    }

    It 'the new cmdlets have help with examples; Stop-Scan has -WhatIf and -Confirm' {
        foreach ($n in 'Get-Scan', 'Wait-Scan', 'Stop-Scan') {
            $h = Get-Help $n -Full
            @($h.examples.example).Count | Should -BeGreaterOrEqual 2
            $h.Synopsis | Should -Not -BeNullOrEmpty
        }
        (Get-Command Stop-Scan).Parameters.Keys | Should -Contain 'WhatIf'
        (Get-Command Stop-Scan).Parameters.Keys | Should -Contain 'Confirm'
        (Get-Help Start-Scan -Parameter NoWait).description.Text | Should -Match 'Wait-Scan'
    }
}

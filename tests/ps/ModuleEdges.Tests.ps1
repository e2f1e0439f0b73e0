#
# ModuleEdges.Tests.ps1 — the module's rough edges (issue 14), each as an administrator meets
# it, against a real palisaded: a value from a parenthesised expression, a restore into a
# directory named with a trailing slash, help that hides what is meant to be hidden and
# documents -WhatIf/-Confirm on every cmdlet that changes state, quarantine ids that complete
# as ids, and Get-AgentStatus' health properties.
#
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'PalisadeTestHelpers.psm1') -Force
    Import-Module (Join-Path (Get-TestEnv 'PAL_PSMODULE_DIR') 'Palisade.psd1') -Force
    $script:D = New-TestDaemon
    $env:PALISADE_SOCKET = $D.Socket

    # A fresh tree with one EICAR file, scanned: the agent quarantines it. Returns the
    # detection (with its QuarantineId) and the file's original path.
    function New-QuarantinedFile([string]$Name) {
        $root = New-TestTree -Root (Join-Path $script:D.Base $Name) -Files @{ 'eicar.com' = (Get-EicarBytes) }
        $scan = Start-Scan -Path $root
        $det = @(Get-ThreatHistory -ScanId $scan.ScanId)[0]
        return [pscustomobject]@{ Path = (Join-Path $root 'eicar.com'); Detection = $det }
    }
}

AfterAll {
    Remove-Item Env:PALISADE_SOCKET -ErrorAction SilentlyContinue
    Stop-TestDaemon $D
}

Describe 'ModuleEdges: Set-AgentPreference values from expressions' {
    It 'takes a value from a parenthesised pipeline (Write-Output 3)' {
        Set-AgentPreference ScanThreads (Write-Output 3) -ErrorAction Stop
        (Get-AgentPreference ScanThreads).Value | Should -Be 3
        # a list setting from a command's output, and a value from the pipeline by name
        Set-AgentPreference ExclusionExtension (Write-Output 'log', 'iso') -ErrorAction Stop
        @((Get-AgentPreference ExclusionExtension).Value) | Should -Be @('log', 'iso')
        [pscustomobject]@{ Name = 'ScanThreads'; Value = (Write-Output 2) } | Set-AgentPreference -ErrorAction Stop
        (Get-AgentPreference ScanThreads).Value | Should -Be 2
        Set-AgentPreference ScanThreads 0
        Set-AgentPreference ExclusionExtension @()
    }
}

Describe 'ModuleEdges: Restore-QuarantineItem -Destination DIR/' {
    It 'restores into a directory named with a trailing slash, under the file''s own name' {
        $q = New-QuarantinedFile 'edge-restore'
        $q.Path | Should -Not -Exist
        $dir = Join-Path $D.Base 'evidence'
        [void](New-Item -ItemType Directory -Path $dir)
        $r = Restore-QuarantineItem -Id $q.Detection.QuarantineId -Destination "$dir/" -PassThru -Confirm:$false -ErrorAction Stop
        $want = Join-Path $dir 'eicar.com'
        $r.RestoredPath | Should -Be $want
        $want | Should -Exist
        [System.IO.File]::ReadAllBytes($want) | Should -Be (Get-EicarBytes)
        @(Get-ChildItem -LiteralPath $dir).Name | Should -Be @('eicar.com')
        $q.Path | Should -Not -Exist
    }

    It 'a trailing slash on a directory that does not exist is an error, not a file of that name' {
        $q = New-QuarantinedFile 'edge-restore-missing'
        $dir = Join-Path $D.Base 'no-such-dir'
        $q.Detection.QuarantineId | Should -BeOfType [long]
        $e = $null
        try { Restore-QuarantineItem -Id $q.Detection.QuarantineId -Destination "$dir/" -Confirm:$false } catch { $e = $_ }
        $e.FullyQualifiedErrorId | Should -Be 'InvalidValue,Restore-QuarantineItem'
        $e.Exception.Message | Should -Match 'not an existing directory'
        $dir | Should -Not -Exist
        (Get-QuarantineItem -Id $q.Detection.QuarantineId).Id | Should -Be $q.Detection.QuarantineId
    }
}

Describe 'ModuleEdges: help' {
    It 'Get-Help Restore-QuarantineItem shows no Nullable and no DetectionId' {
        foreach ($cmd in 'Get-QuarantineItem', 'Restore-QuarantineItem', 'Remove-QuarantineItem') {
            $text = Get-Help $cmd -Full | Out-String -Width 400
            $text | Should -Not -Match 'Nullable' -Because $cmd
            $text | Should -Not -Match 'DetectionId' -Because $cmd
        }
    }

    It 'every cmdlet that changes state documents -WhatIf and -Confirm' {
        $changing = @(Get-Command -Module Palisade -CommandType Function |
                Where-Object { $_.Parameters.ContainsKey('WhatIf') })
        $changing.Count | Should -BeGreaterOrEqual 10
        foreach ($c in $changing) {
            $c.Parameters.ContainsKey('Confirm') | Should -BeTrue -Because $c.Name
            foreach ($p in 'WhatIf', 'Confirm') {
                $h = Get-Help $c.Name -Parameter $p
                $text = ($h.description | Out-String).Trim()
                $text | Should -Not -BeNullOrEmpty -Because "$($c.Name) -$p"
            }
            $syntax = (Get-Help $c.Name).syntax | Out-String -Width 400
            $syntax | Should -Match '\[-WhatIf\]' -Because $c.Name
            $syntax | Should -Match '\[-Confirm\]' -Because $c.Name
        }
    }
}

Describe 'ModuleEdges: quarantine id completion' {
    It 'completes -Id with the quarantine''s ids, not file names' {
        $q = New-QuarantinedFile 'edge-complete'
        $q.Detection.QuarantineId | Should -BeOfType [long]
        $id = [string]$q.Detection.QuarantineId
        $all = @(Get-QuarantineItem | ForEach-Object { [string]$_.Id })
        $all | Should -Contain $id
        # a file in the current directory whose name would complete if files did
        Push-Location $D.Base
        try {
            [void](New-Item -ItemType File -Path (Join-Path $D.Base "${id}-not-an-id.txt"))
            foreach ($cmd in 'Restore-QuarantineItem', 'Remove-QuarantineItem', 'Get-QuarantineItem') {
                $line = "$cmd -Id "
                $c = TabExpansion2 -inputScript $line -cursorColumn $line.Length
                @($c.CompletionMatches.CompletionText | Sort-Object) | Should -Be @($all | Sort-Object) -Because $cmd
                $line = "$cmd -Id $id"
                $c = TabExpansion2 -inputScript $line -cursorColumn $line.Length
                $c.CompletionMatches.CompletionText | Should -Contain $id -Because $cmd
                $c.CompletionMatches.CompletionText | Should -Not -Contain "./${id}-not-an-id.txt" -Because $cmd
                $c.CompletionMatches[0].ToolTip | Should -Match ([regex]::Escape($q.Path))
            }
        } finally {
            Pop-Location
        }
    }
}

Describe 'ModuleEdges: Get-AgentStatus health' {
    It 'has SignatureAgeDays, LastQuickScan, LastFullScan, RealTimeProtection and HealthIssues' {
        $s = Get-AgentStatus
        $s.SignatureAgeDays | Should -BeOfType [long]
        $s.SignatureAgeDays | Should -BeGreaterOrEqual 0
        $s.LastQuickScan | Should -BeNullOrEmpty
        $s.LastFullScan | Should -BeNullOrEmpty
        # the test daemon has real-time protection off by its environment (PalisadeTestHelpers)
        $s.RealTimeProtection | Should -Be 'Disabled'
        $s.RealTimeProtectionReason | Should -Be 'disabled by the environment variable PALISADE_FORCE_REAL_TIME_PROTECTION=0 of palisaded'
        $s.RealTimeProtectionStats | Should -BeNullOrEmpty
        @($s.HealthIssues | Where-Object Id -EQ 'RealTimeProtectionDisabled').Count | Should -Be 1
        $never = @($s.HealthIssues | Where-Object Id -EQ 'NoRecentFullScan')
        $never.Count | Should -Be 1
        $never[0].PSTypeNames[0] | Should -Be 'Palisade.HealthIssue'
        $never[0].Reason | Should -Be 'no Full scan has ever completed'
        # the default view shows them
        $view = $s | Out-String -Width 300
        foreach ($p in 'SignatureAgeDays', 'LastQuickScan', 'LastFullScan', 'RealTimeProtection', 'HealthIssues') {
            $view | Should -Match "(?m)^$p\s*:" -Because $p
        }
        $view | Should -Match 'NoRecentFullScan: no Full scan has ever completed'
        $view | Should -Match 'RealTimeProtection\s*: Disabled \(disabled by the environment variable '
    }

    It 'LastQuickScan is typed once a Quick scan ran' {
        # no action: a Quick scan walks /tmp, where other tests' EICAR files may lie
        foreach ($sev in 'Low', 'Moderate', 'High', 'Severe') { Set-AgentPreference "${sev}ThreatDefaultAction" NoAction }
        try {
            $job = Start-Scan -ScanType Quick -AsJob
            Wait-Until -What 'the Quick scan to start' -TimeoutSeconds 60 { $st = Get-AgentStatus; $st.ActiveScans -gt 0 -or $st.LastQuickScan } | Out-Null
            Stop-Job $job
            Remove-Job $job -Force
            $q = Wait-Until -What 'the Quick scan to end' -TimeoutSeconds 60 { (Get-AgentStatus).LastQuickScan }
            $q.PSTypeNames[0] | Should -Be 'Palisade.ScanSummary'
            $q.ScanType | Should -Be 'Quick'
            $q.ScanId | Should -BeOfType [long]
            $q.Status | Should -BeIn @('Completed', 'Cancelled')
            $q.EndTime | Should -BeOfType [datetime]
        } finally {
            foreach ($sev in 'Low', 'Moderate', 'High', 'Severe') { Set-AgentPreference "${sev}ThreatDefaultAction" Quarantine }
        }
    }

    It 'an agent that is not running has the issue AgentNotRunning' {
        $s = Get-AgentStatus -Socket (Join-Path $D.Base 'nothing-listens-here.sock') -ErrorAction SilentlyContinue
        $s.Running | Should -BeFalse
        @($s.HealthIssues).Id | Should -Be @('AgentNotRunning')
    }
}

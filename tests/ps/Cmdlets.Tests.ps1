#
# Cmdlets.Tests.ps1 — every cmdlet against a real palisaded on a temporary state directory:
# typed output, the pipelines, -WhatIf, -AsJob, and each error case (agent not running,
# not an administrator — pwsh run as user nobody —, policy-locked, invalid value, unknown
# name or id).
#
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'PalisadeTestHelpers.psm1') -Force
    Import-Module (Join-Path (Get-TestEnv 'PAL_PSMODULE_DIR') 'Palisade.psd1') -Force
    $script:D = New-TestDaemon
    $env:PALISADE_SOCKET = $D.Socket
    $script:Eicar = Get-EicarBytes

    # A tree with one EICAR file among clean ones, made fresh for each scan that needs it
    # (an agent with remediation moves the file into the quarantine).
    function New-ScanTree([string]$Name, [int]$Clean = 3) {
        $files = @{ 'sub/eicar.com' = (Get-EicarBytes) }
        for ($i = 1; $i -le $Clean; $i++) { $files["clean-$i.txt"] = "clean file $i`n" }
        return New-TestTree -Root (Join-Path $script:D.Base $Name) -Files $files
    }
}

AfterAll {
    Remove-Item Env:PALISADE_SOCKET -ErrorAction SilentlyContinue
    Stop-TestDaemon $D
}

Describe 'Start-Scan' {
    It 'scans a path and returns a typed Palisade.ScanResult' {
        $tree = New-ScanTree 'scan-typed'
        $r = Start-Scan -Path $tree
        $r.PSTypeNames[0] | Should -Be 'Palisade.ScanResult'
        $r.ScanId | Should -BeOfType [long]
        $r.ScanId | Should -BeGreaterThan 0
        $r.ScanType | Should -Be 'Custom'
        $r.Status | Should -Be 'Completed'
        $r.StartTime | Should -BeOfType [datetime]
        $r.EndTime | Should -BeOfType [datetime]
        $r.EndTime | Should -BeGreaterOrEqual $r.StartTime
        $r.FilesScanned | Should -BeOfType [long]
        $r.FilesScanned | Should -Be 4
        $r.BytesScanned | Should -BeOfType [long]
        $r.BytesScanned | Should -BeGreaterThan 68
        $r.ThreatsFound | Should -BeOfType [int]
        $r.ThreatsFound | Should -Be 1
        , $r.Unscannable | Should -BeOfType [object[]]
        @($r.Threats).Count | Should -Be 1
        $t = $r.Threats[0]
        $t.PSTypeNames[0] | Should -Be 'Palisade.ThreatDetection'
        $t.ThreatName | Should -Be $EicarThreat
        $t.Path | Should -Be (Join-Path $tree 'sub/eicar.com')
        $t.ScanId | Should -Be $r.ScanId
        $t.DetectedAt | Should -BeOfType [datetime]
    }

    It 'takes Get-ChildItem output from the pipeline (FullName by property name)' {
        $tree = New-ScanTree 'scan-gci' -Clean 5
        $files = @(Get-ChildItem -LiteralPath $tree -File)
        $files.Count | Should -Be 5
        $r = Get-ChildItem -LiteralPath $tree -File | Start-Scan
        @($r).Count | Should -Be 1
        $r.ScanType | Should -Be 'Custom'
        $r.FilesScanned | Should -Be 5
        $r.ThreatsFound | Should -Be 0
    }

    It 'scans a recursive Get-ChildItem listing once per file (paths below a given directory are dropped)' {
        $tree = New-ScanTree 'scan-gci-recurse' -Clean 2
        $r = Get-ChildItem -LiteralPath $tree -Recurse | Start-Scan
        $r.FilesScanned | Should -Be 3
        $r.ThreatsFound | Should -Be 1
    }

    It 'takes strings from the pipeline and resolves relative paths against the current location' {
        $tree = New-ScanTree 'scan-relative'
        Push-Location $tree
        try {
            $r = 'sub' | Start-Scan
        } finally {
            Pop-Location
        }
        $r.FilesScanned | Should -Be 1
        $r.Threats[0].Path | Should -Be (Join-Path $tree 'sub/eicar.com')
    }

    It 'rescans the file of a threat piped from Get-ThreatHistory (a container chain names its file)' {
        $tree = New-ScanTree 'scan-rescan'
        $first = Start-Scan -Path $tree
        [System.IO.File]::WriteAllBytes((Join-Path $tree 'sub/eicar.com'), $Eicar)
        $again = Get-ThreatHistory -ScanId $first.ScanId | Start-Scan
        $again.FilesScanned | Should -Be 1
        $again.ThreatsFound | Should -Be 1
    }

    It 'refuses -Path with a Quick or Full scan type, and Custom without a path (InvalidArgument)' {
        { Start-Scan -ScanType Quick -Path /tmp -ErrorAction Stop } | Should -Throw -ErrorId 'Usage,Start-Scan'
        $e = $null
        try { Start-Scan -ScanType Full -Path /tmp } catch { $e = $_ }
        $e.CategoryInfo.Category | Should -Be 'InvalidArgument'
        $e.Exception.Message | Should -Match 'only for a Custom scan'
        try { Start-Scan -ScanType Custom } catch { $e = $_ }
        $e.CategoryInfo.Category | Should -Be 'InvalidArgument'
        $e.Exception.Message | Should -Match 'needs -Path'
    }

    It 'reports a path that does not exist as an ObjectNotFound error, not a clean scan' {
        # issue 10: it was a Completed scan of nothing; now the root is an error
        $missing = Join-Path $D.Base 'no/such/file'
        $r = Start-Scan -Path $missing -ErrorVariable errs -ErrorAction SilentlyContinue
        $r.FilesScanned | Should -Be 0
        $r.Status | Should -Be 'Completed'
        $r.FullyExamined | Should -BeFalse
        @($errs).Count | Should -Be 1
        $errs[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $errs[0].FullyQualifiedErrorId | Should -Be 'ScanRootNotFound,Start-Scan'
        $errs[0].TargetObject | Should -Be $missing
    }

    It '-AsJob returns a job whose result is the Palisade.ScanResult' {
        $tree = New-ScanTree 'scan-job' -Clean 20
        $job = Start-Scan -Path $tree -AsJob
        $job | Should -BeOfType [System.Management.Automation.Job]
        $null = $job | Wait-Job -Timeout 300
        $job.State | Should -Be 'Completed'
        $r = $job | Receive-Job
        $job | Remove-Job
        $r.PSTypeNames[0] | Should -Be 'Palisade.ScanResult'
        $r.FilesScanned | Should -Be 21
        $r.ThreatsFound | Should -Be 1
        $r.ScanId | Should -BeOfType [long]
    }

    It 'an empty pipeline scans nothing' {
        $before = (Get-AgentStatus).LastScan.ScanId
        $r = @() | Start-Scan
        $r | Should -BeNullOrEmpty
        (Get-AgentStatus).LastScan.ScanId | Should -Be $before
    }

    Context 'scans of the whole machine' {
        BeforeAll {
            # A daemon of its own whose policy makes every action NoAction: a Full scan reads
            # the real machine and must not touch what it finds; policy cannot be changed
            # from here, so nothing can undo that. The temporary directories, where other
            # tests keep their files (some held by their fanotify gates), are excluded.
            $tmp = [System.IO.Path]::GetTempPath().TrimEnd('/')
            $script:Machine = New-TestDaemon -Policy @{
                machine = @{ LowThreatDefaultAction = 'NoAction'; ModerateThreatDefaultAction = 'NoAction'
                    HighThreatDefaultAction = 'NoAction'; SevereThreatDefaultAction = 'NoAction'
                    ExclusionPath = @(@($tmp, '/tmp', '/var/tmp', '/dev/shm', '/run') | Select-Object -Unique)
                }
            }
        }
        AfterAll {
            Stop-TestDaemon $Machine
        }
        BeforeEach { $env:PALISADE_SOCKET = $Machine.Socket }
        AfterEach { $env:PALISADE_SOCKET = $D.Socket }

        It '-AsJob shows progress, and Stop-Job cancels the scan on the agent (a Full scan)' {
            (Get-AgentPreference -Name SevereThreatDefaultAction).Source | Should -Be 'Policy'
            $job = Start-Scan -ScanType Full -AsJob
            try {
                # stopped at its first progress record, a moment into a scan of every file system
                Wait-Until -What 'a progress record of the job' -TimeoutSeconds 120 { @($job.Progress).Count -gt 1 } | Out-Null
                $p = @($job.Progress)[-1]
                $p.Activity | Should -Be 'Palisade Full scan'
                $p.StatusDescription | Should -Match 'files, .* scanned, \d+ threats'
                $job | Stop-Job
                $job.State | Should -Be 'Stopped'
            } finally {
                $job | Remove-Job -Force
            }
            $last = (Get-AgentStatus).LastScan
            $last.ScanType | Should -Be 'Full'
            $last.Status | Should -Be 'Cancelled'
        }
    }
}

Describe 'Get-ThreatHistory' {
    BeforeAll {
        $script:TreeA = New-ScanTree 'history-a'
        $script:ScanA = Start-Scan -Path $TreeA
        $script:TreeB = New-ScanTree 'history-b'
        $script:ScanB = Start-Scan -Path $TreeB
    }

    It 'returns typed Palisade.ThreatDetection objects, newest first' {
        $all = @(Get-ThreatHistory)
        $all.Count | Should -BeGreaterOrEqual 2
        $d = $all[0]
        $d.PSTypeNames[0] | Should -Be 'Palisade.ThreatDetection'
        $d.DetectionId | Should -BeOfType [long]
        $d.ThreatName | Should -Be $EicarThreat
        $d.Severity | Should -Be 'Severe'
        $d.Category | Should -Be 'Virus'
        $d.Path | Should -Be (Join-Path $TreeB 'sub/eicar.com')
        $d.Sha256 | Should -Match '^[0-9a-f]{64}$'
        $d.DetectedAt | Should -BeOfType [datetime]
        $d.DetectedAt.Kind | Should -Be 'Local'
        $d.Source | Should -Be 'OnDemand'
        $d.ScanId | Should -Be $ScanB.ScanId
        $d.Action | Should -Not -BeNullOrEmpty
        $d.ActionResult | Should -Not -BeNullOrEmpty
        $d.PSObject.Properties.Name | Should -Contain 'QuarantineId'
        for ($i = 1; $i -lt $all.Count; $i++) {
            $all[$i - 1].DetectionId | Should -BeGreaterThan $all[$i].DetectionId
            $all[$i - 1].DetectedAt | Should -BeGreaterOrEqual $all[$i].DetectedAt
        }
    }

    It 'filters by scan, name, severity, path, time and count' {
        @(Get-ThreatHistory -ScanId $ScanA.ScanId).Path | Should -Be @((Join-Path $TreeA 'sub/eicar.com'))
        @(Get-ThreatHistory -ThreatName '*EICAR*').Count | Should -BeGreaterOrEqual 2
        @(Get-ThreatHistory -ThreatName 'Trojan:*').Count | Should -Be 0
        @(Get-ThreatHistory -Severity Severe).Count | Should -BeGreaterOrEqual 2
        @(Get-ThreatHistory -Severity Low).Count | Should -Be 0
        @(Get-ThreatHistory -Path "$TreeA/*").ScanId | Should -Be @($ScanA.ScanId)
        @(Get-ThreatHistory -First 1).Count | Should -Be 1
        @(Get-ThreatHistory -Since (Get-Date).AddHours(1)).Count | Should -Be 0
        @(Get-ThreatHistory -Since $ScanB.StartTime.AddSeconds(-1)).ScanId | Should -Contain $ScanB.ScanId
    }

    It 'takes the ScanId of a Start-Scan result from the pipeline' {
        $tree = New-ScanTree 'history-pipe'
        $dets = @(Start-Scan -Path $tree | Get-ThreatHistory)
        $dets.Count | Should -Be 1
        $dets[0].Path | Should -Be (Join-Path $tree 'sub/eicar.com')
    }

    It 'shows DetectedAt, ThreatName, Severity, Action, ActionResult, Path in its default table' {
        $text = Get-ThreatHistory -First 1 | Out-String -Width 250
        $text | Should -Match 'DetectedAt\s+ThreatName\s+Severity\s+Action\s+ActionResult\s+Path'
        $text | Should -Match 'Quarantine\s+Success'
        $text | Should -Match ([regex]::Escape($EicarThreat))
        $text | Should -Not -Match 'Sha256'
    }

    It 'rejects a severity that does not exist before asking the agent' {
        { Get-ThreatHistory -Severity Catastrophic } | Should -Throw -ErrorId 'ParameterArgumentValidationError,Get-ThreatHistory'
    }
}

Describe 'Sandbox mode' {
    AfterEach {
        Set-SandboxMode -Mode Enabled
    }

    It 'Get-SandboxMode shows the mode, its source and the content process' {
        $m = Get-SandboxMode
        $m.PSTypeNames[0] | Should -Be 'Palisade.SandboxMode'
        $m.Mode | Should -BeIn @('Enabled', 'Disabled')
        $m.Source | Should -BeIn @('Default', 'Preference')
        $m.ContentProcessRestarts | Should -BeOfType [int]
        $m.ContentProcessState | Should -Not -BeNullOrEmpty
        $m.PSObject.Properties.Name | Should -Contain 'ContentProcessPid'
    }

    It 'Set-SandboxMode changes it as a preference, live' {
        $m = Set-SandboxMode -Mode Disabled -PassThru
        $m.Mode | Should -Be 'Disabled'
        $m.Source | Should -Be 'Preference'
        (Get-SandboxMode).Mode | Should -Be 'Disabled'
        (Get-AgentStatus).SandboxMode | Should -Be 'Disabled'
        Set-SandboxMode -Mode Enabled
        (Get-SandboxMode).Mode | Should -Be 'Enabled'
    }

    It 'Set-SandboxMode -WhatIf changes nothing' {
        Set-SandboxMode -Mode Enabled
        Set-SandboxMode -Mode Disabled -WhatIf
        (Get-SandboxMode).Mode | Should -Be 'Enabled'
    }

    It 'rejects a mode that does not exist' {
        { Set-SandboxMode -Mode Sometimes } | Should -Throw -ErrorId 'ParameterArgumentValidationError,Set-SandboxMode'
    }
}

Describe 'Sandbox mode set by policy or environment' {
    Context 'locked by a policy file' {
        BeforeAll {
            $script:PolicyFile = Set-TestPolicy $D 'sandbox' @{ SandboxMode = 'Enabled' }
            Send-ReloadSignal $D
            Wait-Until -What 'the policy to apply' { (Get-SandboxMode).Source -eq 'Policy' } | Out-Null
        }
        AfterAll {
            Remove-Item -LiteralPath $PolicyFile
            Send-ReloadSignal $D
            Wait-Until -What 'the policy to go' { (Get-SandboxMode).Source -ne 'Policy' } | Out-Null
        }

        It 'Get-SandboxMode names the policy file as the source' {
            $m = Get-SandboxMode
            $m.Source | Should -Be 'Policy'
            $m.SourceDetail | Should -Be $PolicyFile
        }

        It 'Set-SandboxMode fails with PermissionDenied naming the policy file' {
            $e = $null
            try { Set-SandboxMode -Mode Disabled } catch { $e = $_ }
            $e | Should -Not -BeNullOrEmpty
            $e.CategoryInfo.Category | Should -Be 'PermissionDenied'
            $e.FullyQualifiedErrorId | Should -Be 'PolicyLocked,Set-SandboxMode'
            $e.Exception | Should -BeOfType [System.UnauthorizedAccessException]
            $e.Exception.Message | Should -Match ([regex]::Escape($PolicyFile))
            $e.ErrorDetails.RecommendedAction | Should -Match 'policy'
            (Get-SandboxMode).Mode | Should -Be 'Enabled'
        }
    }

    Context 'forced by the environment of the agent' {
        BeforeAll {
            $script:EnvDaemon = New-TestDaemon -Environment @{ MP_FORCE_USE_SANDBOX = '0' }
        }
        AfterAll {
            $env:PALISADE_SOCKET = $D.Socket
            Stop-TestDaemon $EnvDaemon
        }
        BeforeEach { $env:PALISADE_SOCKET = $EnvDaemon.Socket }
        AfterEach { $env:PALISADE_SOCKET = $D.Socket }

        It 'reports Environment as the source and refuses a change naming the variable' {
            $m = Get-SandboxMode
            $m.Mode | Should -Be 'Disabled'
            $m.Source | Should -Be 'Environment'
            $e = $null
            try { Set-SandboxMode -Mode Enabled } catch { $e = $_ }
            $e.CategoryInfo.Category | Should -Be 'PermissionDenied'
            $e.Exception.Message | Should -Match 'MP_FORCE_USE_SANDBOX'
        }
    }
}

Describe 'Get-AgentStatus' {
    It 'returns a typed Palisade.AgentStatus of the running agent' {
        $tree = New-ScanTree 'status-scan'
        $scan = Start-Scan -Path $tree
        $s = Get-AgentStatus
        $s.PSTypeNames[0] | Should -Be 'Palisade.AgentStatus'
        $s.Running | Should -BeTrue
        $s.AgentVersion | Should -Match '^\d+\.\d+\.\d+'
        $s.AgentPid | Should -Be $D.Process.Id
        $s.StartedAt | Should -BeOfType [datetime]
        $s.SandboxMode | Should -BeIn @('Enabled', 'Disabled')
        $s.SandboxModeSource | Should -Not -BeNullOrEmpty
        $s.ContentProcessState | Should -Not -BeNullOrEmpty
        $s.ContentProcessRestarts | Should -BeOfType [int]
        $s.SignatureVersion | Should -BeOfType [long]
        $s.SignatureVersion | Should -BeGreaterThan 0
        $s.SignatureDate | Should -BeOfType [datetime]
        , $s.Degraded | Should -BeOfType [string[]]
        $s.Degraded | Should -BeNullOrEmpty
        $s.LastScan.PSTypeNames[0] | Should -Be 'Palisade.ScanSummary'
        $s.LastScan.ScanId | Should -Be $scan.ScanId
        $s.LastScan.Status | Should -Be 'Completed'
        $s.LastScan.EndTime | Should -BeOfType [datetime]
    }
}

Describe 'Agent preferences' {
    AfterAll {
        foreach ($n in 'ScanThreads', 'ScanCacheEnabled', 'SevereThreatDefaultAction') {
            $p = Get-AgentPreference -Name $n
            Set-AgentPreference -Name $n -Value $p.DefaultValue
        }
    }

    It 'Get-AgentPreference lists every setting with typed values, source and description' {
        $all = @(Get-AgentPreference)
        $all.Count | Should -BeGreaterThan 10
        $all[0].PSTypeNames[0] | Should -Be 'Palisade.Preference'
        $byName = @{}
        foreach ($p in $all) { $byName[$p.Name] = $p }
        $byName['ScanThreads'].Value | Should -BeOfType [long]
        $byName['ScanThreads'].Maximum | Should -BeOfType [long]
        $byName['ScanCacheEnabled'].Value | Should -BeOfType [bool]
        , $byName['ExclusionPath'].Value | Should -BeOfType [string[]]
        $byName['SandboxMode'].AllowedValues | Should -Be @('Enabled', 'Disabled')
        foreach ($p in $all) {
            $p.Source | Should -BeIn @('Default', 'Preference', 'Policy', 'Environment')
            $p.Description | Should -Not -BeNullOrEmpty
        }
    }

    It 'Get-AgentPreference -Name takes wildcards and reports an unknown name as ObjectNotFound' {
        @(Get-AgentPreference -Name '*ThreatDefaultAction').Count | Should -Be 4
        (Get-AgentPreference -Name sandboxmode).Name | Should -Be 'SandboxMode'
        $out = Get-AgentPreference -Name NoSuchSetting -ErrorVariable ev -ErrorAction SilentlyContinue
        $out | Should -BeNullOrEmpty
        $ev[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $ev[0].FullyQualifiedErrorId | Should -Be 'NotFound,Get-AgentPreference'
    }

    It 'Set-AgentPreference converts the value to the setting''s type' {
        $p = Set-AgentPreference -Name ScanThreads -Value '3' -PassThru
        $p.Value | Should -Be 3
        $p.Source | Should -Be 'Preference'
        (Get-AgentPreference -Name ScanThreads).Value | Should -Be 3
        Set-AgentPreference -Name ScanCacheEnabled -Value 'false'
        (Get-AgentPreference -Name ScanCacheEnabled).Value | Should -BeFalse
        Set-AgentPreference -Name SevereThreatDefaultAction -Value NoAction
        (Get-AgentPreference -Name SevereThreatDefaultAction).Value | Should -Be 'NoAction'
    }

    It 'Set-AgentPreference -WhatIf changes nothing' {
        Set-AgentPreference -Name ScanThreads -Value 2
        Set-AgentPreference -Name ScanThreads -Value 5 -WhatIf
        (Get-AgentPreference -Name ScanThreads).Value | Should -Be 2
    }

    It 'an invalid value is InvalidArgument and the message lists the allowed values' {
        $e = $null
        try { Set-AgentPreference -Name SevereThreatDefaultAction -Value Explode } catch { $e = $_ }
        $e.CategoryInfo.Category | Should -Be 'InvalidArgument'
        $e.FullyQualifiedErrorId | Should -Be 'InvalidValue,Set-AgentPreference'
        $e.Exception | Should -BeOfType [System.ArgumentException]
        $e.Exception.Message | Should -Match 'Quarantine, Remove, NoAction'
        try { Set-AgentPreference -Name ScanThreads -Value 1000 } catch { $e = $_ }
        $e.CategoryInfo.Category | Should -Be 'InvalidArgument'
        $e.Exception.Message | Should -Match 'from 0 to 64'
    }

    It 'an unknown setting is ObjectNotFound' {
        $e = $null
        try { Set-AgentPreference -Name NoSuchSetting -Value 1 } catch { $e = $_ }
        $e.CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $e.FullyQualifiedErrorId | Should -Be 'NotFound,Set-AgentPreference'
        $e.ErrorDetails.RecommendedAction | Should -Match 'Get-AgentPreference'
    }

    It 'tab-completes setting names and fixed values' {
        $line = 'Set-AgentPreference -Name Sandb'
        $c = TabExpansion2 -inputScript $line -cursorColumn $line.Length
        $c.CompletionMatches.CompletionText | Should -Contain 'SandboxMode'
        $line = 'Set-AgentPreference -Name SevereThreatDefaultAction -Value Re'
        $c = TabExpansion2 -inputScript $line -cursorColumn $line.Length
        $c.CompletionMatches.CompletionText | Should -Be @('Remove')
    }

    It 'knows exactly the settings the agent lists, with the values of each enum and switch' {
        # the module's list is generated from the C registry at build time: it cannot drift
        $agent = @(Get-AgentPreference)
        $known = & (Get-Module Palisade) { $script:KnownPreferences }
        @($known.Keys) | Should -Be @($agent.Name)
        foreach ($p in $agent) {
            $values = $known[$p.Name]
            switch ($p.Type) {
                'enum' { $values | Should -Be $p.AllowedValues -Because $p.Name }
                'bool' { $values | Should -Be @('true', 'false') -Because $p.Name }
                default { $values | Should -BeNullOrEmpty -Because $p.Name }
            }
        }
    }

    It 'tab-completes every setting the agent lists and no other, with the agent or without it' {
        $names = @((Get-AgentPreference).Name | Sort-Object)
        $enums = @(Get-AgentPreference | Where-Object Type -EQ 'enum')
        $enums.Count | Should -BeGreaterThan 0
        try {
            foreach ($sock in $D.Socket, (Join-Path $D.Base 'nothing-listens-here.sock')) {
                $env:PALISADE_SOCKET = $sock
                $line = 'Set-AgentPreference -Name '
                $c = TabExpansion2 -inputScript $line -cursorColumn $line.Length
                @($c.CompletionMatches.CompletionText | Sort-Object) | Should -Be $names -Because "socket $sock"
                foreach ($p in $enums) {
                    $line = "Set-AgentPreference -Name $($p.Name) -Value "
                    $c = TabExpansion2 -inputScript $line -cursorColumn $line.Length
                    @($c.CompletionMatches.CompletionText) | Should -Be $p.AllowedValues -Because $p.Name
                }
            }
        } finally {
            $env:PALISADE_SOCKET = $D.Socket
        }
    }
}

Describe 'Agent exclusions' {
    It 'Add-AgentExclusion -Path excludes a directory from scans, Remove-AgentExclusion brings it back' {
        $tree = New-ScanTree 'excluded'
        $list = Add-AgentExclusion -Path $tree -PassThru
        $list[0].PSTypeNames[0] | Should -Be 'Palisade.Exclusion'
        ($list | Where-Object { $_.Kind -eq 'Path' }).Value | Should -Contain $tree
        (Get-AgentPreference -Name ExclusionPath).Value | Should -Contain $tree
        (Start-Scan -Path (Join-Path $tree 'sub/eicar.com')).ThreatsFound | Should -Be 0
        Remove-AgentExclusion -Path $tree
        (Get-AgentPreference -Name ExclusionPath).Value | Should -Not -Contain $tree
        (Start-Scan -Path $tree).ThreatsFound | Should -Be 1
    }

    It 'resolves a relative path and handles extensions' {
        Push-Location $D.Base
        try {
            Add-AgentExclusion -Path 'relative-dir'
        } finally {
            Pop-Location
        }
        (Get-AgentPreference -Name ExclusionPath).Value | Should -Contain (Join-Path $D.Base 'relative-dir')
        Remove-AgentExclusion -Path (Join-Path $D.Base 'relative-dir')
        Add-AgentExclusion -Extension 'bak', 'tmp'
        (Get-AgentPreference -Name ExclusionExtension).Value | Should -Be @('bak', 'tmp')
        Remove-AgentExclusion -Extension 'bak', 'tmp'
        (Get-AgentPreference -Name ExclusionExtension).Value | Should -BeNullOrEmpty
    }

    It 'a duplicate is ResourceExists, a missing one ObjectNotFound, and -WhatIf changes nothing' {
        Add-AgentExclusion -Extension 'dup'
        Add-AgentExclusion -Extension 'dup' -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].CategoryInfo.Category | Should -Be 'ResourceExists'
        Remove-AgentExclusion -Extension 'dup' -WhatIf
        (Get-AgentPreference -Name ExclusionExtension).Value | Should -Contain 'dup'
        Remove-AgentExclusion -Extension 'dup'
        Remove-AgentExclusion -Extension 'dup' -ErrorVariable ev2 -ErrorAction SilentlyContinue
        $ev2[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        Add-AgentExclusion -Extension 'never' -WhatIf
        (Get-AgentPreference -Name ExclusionExtension).Value | Should -Not -Contain 'never'
    }

    Context 'with exclusions in policy' {
        BeforeAll {
            $script:Managed = New-TestDaemon -Policy @{ site = @{ ExclusionPath = @('/srv/policy-excl') } }
            $script:SiteFile = Join-Path $Managed.PolicyDir 'site.json'
        }
        AfterAll { Stop-TestDaemon $Managed }
        BeforeEach { $env:PALISADE_SOCKET = $Managed.Socket }
        AfterEach { $env:PALISADE_SOCKET = $D.Socket }

        It 'a local exclusion stands beside the policy one, and each says its Source and File' {
            $list = @(Add-AgentExclusion -Path '/srv/local-excl' -PassThru)
            $list.Count | Should -Be 2
            $list[0].Value | Should -Be '/srv/policy-excl'
            $list[0].Source | Should -Be 'Policy'
            $list[0].File | Should -Be $SiteFile
            $list[1].Value | Should -Be '/srv/local-excl'
            $list[1].Source | Should -Be 'Preference'
            $list[1].File | Should -BeNullOrEmpty
            $p = Get-AgentPreference -Name ExclusionPath
            $p.Value | Should -Be @('/srv/policy-excl', '/srv/local-excl')
            $p.Entries[0].PSTypeNames[0] | Should -Be 'Palisade.PreferenceEntry'
            @($p.Entries | ForEach-Object Source) | Should -Be @('Policy', 'Preference')
            $p.Entries[0].File | Should -Be $SiteFile
            # a policy entry is removed only in its file; the merge policy only by policy
            $e = $null
            try { Remove-AgentExclusion -Path '/srv/policy-excl' } catch { $e = $_ }
            $e.FullyQualifiedErrorId | Should -Be 'PolicyLocked,Remove-AgentExclusion'
            $e.Exception.Message | Should -Match ([regex]::Escape($SiteFile))
            $e = $null
            try { Set-AgentPreference -Name ExclusionsMergePolicy -Value AdminOnly } catch { $e = $_ }
            $e.FullyQualifiedErrorId | Should -Be 'PolicyLocked,Set-AgentPreference'
            (Get-AgentPreference -Name ExclusionPath).Value | Should -Contain '/srv/policy-excl'
        }
    }
}

Describe 'When the agent is not running' {
    BeforeAll {
        $env:PALISADE_SOCKET = Join-Path $D.Base 'nothing-listens-here.sock'
    }
    AfterAll {
        $env:PALISADE_SOCKET = $D.Socket
    }

    It 'Start-Scan fails with ResourceUnavailable and says how to start the agent' {
        $e = $null
        try { Start-Scan -Path $D.Base } catch { $e = $_ }
        $e | Should -Not -BeNullOrEmpty
        $e.CategoryInfo.Category | Should -Be 'ResourceUnavailable'
        $e.FullyQualifiedErrorId | Should -Be 'Unavailable,Start-Scan'
        $e.Exception.Message | Should -Match 'palisaded is not running'
        $e.Exception.Message | Should -Match 'systemctl start palisaded'
        $e.Exception.Message | Should -Match ([regex]::Escape($env:PALISADE_SOCKET))
        $e.ErrorDetails.RecommendedAction | Should -Match 'PALISADE_SOCKET'
    }

    It 'Get-AgentStatus reports Running $false with the same error' {
        $s = Get-AgentStatus -ErrorVariable ev -ErrorAction SilentlyContinue
        $s.Running | Should -BeFalse
        $ev[0].CategoryInfo.Category | Should -Be 'ResourceUnavailable'
        { Get-AgentStatus -ErrorAction Stop } | Should -Throw -ErrorId 'Unavailable,Get-AgentStatus'
    }

    It 'every other cmdlet fails the same way' {
        { Get-ThreatHistory } | Should -Throw -ErrorId 'Unavailable,Get-ThreatHistory'
        { Get-SandboxMode } | Should -Throw -ErrorId 'Unavailable,Get-SandboxMode'
        { Get-AgentPreference } | Should -Throw -ErrorId 'Unavailable,Get-AgentPreference'
        { Get-QuarantineItem } | Should -Throw -ErrorId 'Unavailable,Get-QuarantineItem'
    }
}

Describe 'As a user who is not an administrator of the agent' {
    BeforeAll {
        $script:AsNobody = Invoke-PwshAsNobody -Daemon $D -Script @'
$ErrorActionPreference = 'Continue'
function Probe([scriptblock]$Block) {
    try {
        $out = & $Block
        [ordered]@{ ok = $true; out = ($out | ConvertTo-Json -Depth 3 -Compress) }
    } catch {
        [ordered]@{ ok = $false; id = $_.FullyQualifiedErrorId; category = [string]$_.CategoryInfo.Category
            message = $_.Exception.Message; exception = $_.Exception.GetType().FullName }
    }
}
$r = [ordered]@{
    status = Probe { $s = Get-AgentStatus; [ordered]@{ running = $s.Running; version = $s.AgentVersion; pid = $s.AgentPid } }
    sandbox = Probe { (Get-SandboxMode).Mode }
    scan = Probe { Start-Scan -Path /tmp }
    history = Probe { Get-ThreatHistory }
    setsandbox = Probe { Set-SandboxMode -Mode Disabled }
    prefs = Probe { Get-AgentPreference }
    quarantine = Probe { Get-QuarantineItem }
    complete = Probe { $l = 'Set-AgentPreference -Name '; @((TabExpansion2 -inputScript $l -cursorColumn $l.Length).CompletionMatches.CompletionText) }
}
$r | ConvertTo-Json -Depth 4 -Compress
'@
    }

    It 'reads the status through the read-only status socket' {
        $AsNobody.status.ok | Should -BeTrue
        $st = $AsNobody.status.out | ConvertFrom-Json
        $st.running | Should -BeTrue
        $st.pid | Should -Be $D.Process.Id
        $AsNobody.sandbox.ok | Should -BeTrue
    }

    It 'tab-completes every setting name although the agent refuses it the list' {
        # config.list is for administrators: the completion falls back to the module's list
        $AsNobody.prefs.ok | Should -BeFalse
        $AsNobody.complete.ok | Should -BeTrue
        @($AsNobody.complete.out | ConvertFrom-Json | Sort-Object) | Should -Be @((Get-AgentPreference).Name | Sort-Object)
    }

    It 'gets PermissionDenied naming the admin group for <_>' -ForEach @('scan', 'history', 'setsandbox', 'prefs', 'quarantine') {
        $r = $AsNobody.$_
        $r.ok | Should -BeFalse
        $r.category | Should -Be 'PermissionDenied'
        $r.id | Should -Match '^AccessDenied,'
        $r.exception | Should -Be 'System.UnauthorizedAccessException'
        $r.message | Should -Match "'palisade-admin'"
        $r.message | Should -Match 'sudo pwsh|usermod'
    }
}

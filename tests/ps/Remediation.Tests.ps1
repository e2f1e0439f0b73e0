#
# Remediation.Tests.ps1 — the quarantine cmdlets (Get/Restore/Remove-QuarantineItem, their
# pipelines with each other and with Get-ThreatHistory, -WhatIf, -Confirm, unknown ids) and
# Update-Signature, against a real palisaded whose default action quarantines.
#
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'PalisadeTestHelpers.psm1') -Force
    Import-Module (Join-Path (Get-TestEnv 'PAL_PSMODULE_DIR') 'Palisade.psd1') -Force
    $script:D = New-TestDaemon
    $env:PALISADE_SOCKET = $D.Socket

    # Scan a fresh tree holding one EICAR file: returns the scan result, the file's path
    # and the detection (whose file the agent has quarantined).
    function New-QuarantinedFile([string]$Name) {
        $root = New-TestTree -Root (Join-Path $script:D.Base $Name) -Files @{ 'eicar.com' = (Get-EicarBytes); 'keep.txt' = 'clean' }
        $scan = Start-Scan -Path $root
        $det = @(Get-ThreatHistory -ScanId $scan.ScanId)
        return [pscustomobject]@{ Scan = $scan; Path = (Join-Path $root 'eicar.com'); Detection = $det[0] }
    }
}

AfterAll {
    Remove-Item Env:PALISADE_SOCKET -ErrorAction SilentlyContinue
    Stop-TestDaemon $D
}

Describe 'Get-QuarantineItem' {
    BeforeAll {
        $script:Q = New-QuarantinedFile 'q-get'
    }

    It 'the scan quarantined the file, and the detection names the item' {
        $Q.Path | Should -Not -Exist
        $Q.Detection.ActionResult | Should -Be 'Success'
        $Q.Detection.QuarantineId | Should -BeOfType [long]
        $Q.Scan.Threats[0].QuarantineId | Should -Be $Q.Detection.QuarantineId
    }

    It 'lists typed Palisade.QuarantineItem objects' {
        $items = @(Get-QuarantineItem)
        $items.Count | Should -BeGreaterOrEqual 1
        $it = $items | Where-Object Id -EQ $Q.Detection.QuarantineId
        $it.PSTypeNames[0] | Should -Be 'Palisade.QuarantineItem'
        $it.Id | Should -BeOfType [long]
        $it.QuarantinedAt | Should -BeOfType [datetime]
        $it.ThreatName | Should -Be $EicarThreat
        $it.OriginalPath | Should -Be $Q.Path
        $it.Sha256 | Should -Be $Q.Detection.Sha256
        $it.Size | Should -Be 68
        $it.DetectionId | Should -Be $Q.Detection.DetectionId
    }

    It 'takes ids from -Id and from Get-ThreatHistory through the pipeline' {
        (Get-QuarantineItem -Id $Q.Detection.QuarantineId).OriginalPath | Should -Be $Q.Path
        $fromHistory = @(Get-ThreatHistory -ScanId $Q.Scan.ScanId | Get-QuarantineItem)
        $fromHistory.Id | Should -Be @($Q.Detection.QuarantineId)
    }

    It 'reports an unknown id as ObjectNotFound and goes on with the next' {
        $out = @(Get-QuarantineItem -Id 987654, $Q.Detection.QuarantineId -ErrorVariable ev -ErrorAction SilentlyContinue)
        $out.Id | Should -Be @($Q.Detection.QuarantineId)
        $ev.Count | Should -Be 1
        $ev[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $ev[0].FullyQualifiedErrorId | Should -Be 'NotFound,Get-QuarantineItem'
    }

    It 'shows Id, QuarantinedAt, ThreatName, OriginalPath in its default table' {
        $text = Get-QuarantineItem -Id $Q.Detection.QuarantineId | Out-String -Width 250
        $text | Should -Match 'Id\s+QuarantinedAt\s+ThreatName\s+OriginalPath'
        $text | Should -Match ([regex]::Escape($Q.Path))
        $text | Should -Not -Match 'Sha256'
    }
}

Describe 'Restore-QuarantineItem' {
    It '-WhatIf restores nothing' {
        $q = New-QuarantinedFile 'r-whatif'
        Get-ThreatHistory -ScanId $q.Scan.ScanId | Restore-QuarantineItem -WhatIf
        $q.Path | Should -Not -Exist
        (Get-QuarantineItem -Id $q.Detection.QuarantineId).Id | Should -Be $q.Detection.QuarantineId
    }

    It 'Get-ThreatHistory | Restore-QuarantineItem puts the file back byte for byte' {
        $q = New-QuarantinedFile 'r-history'
        $out = @(Get-ThreatHistory -ScanId $q.Scan.ScanId | Restore-QuarantineItem -Confirm:$false -PassThru)
        $out.Count | Should -Be 1
        $out[0].PSTypeNames[0] | Should -Be 'Palisade.RestoredItem'
        $out[0].RestoredPath | Should -Be $q.Path
        $q.Path | Should -Exist
        [System.IO.File]::ReadAllBytes($q.Path) | Should -Be (Get-EicarBytes)
        Get-QuarantineItem -Id $q.Detection.QuarantineId -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        (Get-ThreatHistory -ScanId $q.Scan.ScanId).QuarantineId | Should -BeNullOrEmpty
    }

    It 'Get-QuarantineItem | Restore-QuarantineItem -Destination restores elsewhere' {
        $q = New-QuarantinedFile 'r-dest'
        $dest = Join-Path $D.Base 'r-dest-elsewhere.bin'
        Get-QuarantineItem -Id $q.Detection.QuarantineId | Restore-QuarantineItem -Destination $dest -Confirm:$false
        $dest | Should -Exist
        $q.Path | Should -Not -Exist
    }

    It 'refuses to overwrite an existing file unless -Force (ResourceExists)' {
        $q = New-QuarantinedFile 'r-force'
        [System.IO.File]::WriteAllText($q.Path, 'a new file at the same place')
        Restore-QuarantineItem -Id $q.Detection.QuarantineId -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].CategoryInfo.Category | Should -Be 'ResourceExists'
        $ev[0].FullyQualifiedErrorId | Should -Be 'Exists,Restore-QuarantineItem'
        [System.IO.File]::ReadAllText($q.Path) | Should -Be 'a new file at the same place'
        Restore-QuarantineItem -Id $q.Detection.QuarantineId -Force -Confirm:$false
        [System.IO.File]::ReadAllBytes($q.Path) | Should -Be (Get-EicarBytes)
    }

    It '-AllowThreat allows the file, so the next scan leaves it in place' {
        $q = New-QuarantinedFile 'r-allow'
        try {
            $r = Restore-QuarantineItem -Id $q.Detection.QuarantineId -AllowThreat -Confirm:$false -PassThru
            $r.Allowed | Should -BeTrue
            $again = Start-Scan -Path $q.Path
            $again.Threats[0].Action | Should -Be 'Allow'
            $again.Threats[0].QuarantineId | Should -BeNullOrEmpty
            $q.Path | Should -Exist
        } finally {
            # the EICAR hash must be quarantined again by the tests that follow
            & (Get-Module Palisade) { param($h) Invoke-PalisadeOp -Op 'allow.remove' -Arguments @{ kind = 'Sha256'; value = $h } } $q.Detection.Sha256 | Out-Null
        }
    }

    It 'reports an unknown id as ObjectNotFound and a detection without an item as well' {
        Restore-QuarantineItem -Id 987654 -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $ev[0].Exception.Message | Should -Match '987654'
        $q = New-QuarantinedFile 'r-twice'
        Get-ThreatHistory -ScanId $q.Scan.ScanId | Restore-QuarantineItem -Confirm:$false
        Get-ThreatHistory -ScanId $q.Scan.ScanId | Restore-QuarantineItem -Confirm:$false -ErrorVariable ev2 -ErrorAction SilentlyContinue
        $ev2[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $ev2[0].Exception.Message | Should -Match "Detection $($q.Detection.DetectionId) has no quarantine item"
    }
}

Describe 'Remove-QuarantineItem' {
    It '-WhatIf removes nothing' {
        $q = New-QuarantinedFile 'x-whatif'
        Get-QuarantineItem -Id $q.Detection.QuarantineId | Remove-QuarantineItem -WhatIf
        (Get-QuarantineItem -Id $q.Detection.QuarantineId).Id | Should -Be $q.Detection.QuarantineId
    }

    It 'asks for confirmation (ConfirmImpact High) and does nothing when it cannot ask' {
        if (-not ([Environment]::GetCommandLineArgs() -match '^-noni')) {
            Set-ItResult -Skipped -Because 'this pwsh is interactive: the prompt would wait for an answer'
            return
        }
        $q = New-QuarantinedFile 'x-confirm'
        { Remove-QuarantineItem -Id $q.Detection.QuarantineId } | Should -Throw '*NonInteractive*'
        (Get-QuarantineItem -Id $q.Detection.QuarantineId).Id | Should -Be $q.Detection.QuarantineId
    }

    It 'Get-ThreatHistory | Remove-QuarantineItem -Force deletes the item for good' {
        $q = New-QuarantinedFile 'x-history'
        Get-ThreatHistory -ScanId $q.Scan.ScanId | Remove-QuarantineItem -Force
        Get-QuarantineItem -Id $q.Detection.QuarantineId -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        Restore-QuarantineItem -Id $q.Detection.QuarantineId -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable ev
        $ev[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $q.Path | Should -Not -Exist
    }

    It 'Get-QuarantineItem | Remove-QuarantineItem -Confirm:$false, and an unknown id is ObjectNotFound' {
        $q = New-QuarantinedFile 'x-pipe'
        Get-QuarantineItem -Id $q.Detection.QuarantineId | Remove-QuarantineItem -Confirm:$false
        Get-QuarantineItem -Id $q.Detection.QuarantineId -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        Remove-QuarantineItem -Id 987654 -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $ev[0].FullyQualifiedErrorId | Should -Be 'NotFound,Remove-QuarantineItem'
    }
}

Describe 'Update-Signature' {
    It 'refuses the version already in force without -Force (ResourceExists)' {
        $before = (Get-AgentStatus).SignatureVersion
        $e = $null
        try { Update-Signature -Path (Get-TestEnv 'PAL_DEFS_PACKAGE') } catch { $e = $_ }
        $e | Should -Not -BeNullOrEmpty
        $e.CategoryInfo.Category | Should -Be 'ResourceExists'
        $e.FullyQualifiedErrorId | Should -Be 'Exists,Update-Signature'
        $e.Exception.Message | Should -Match 'already in force'
        (Get-AgentStatus).SignatureVersion | Should -Be $before
    }

    It 'installs a verified package and reports the version in force' {
        # the daemon started with this very package: -Force installs the same version again
        $u = Update-Signature -Path (Get-TestEnv 'PAL_DEFS_PACKAGE') -Force
        $u.PSTypeNames[0] | Should -Be 'Palisade.SignatureUpdate'
        $u.Version | Should -BeOfType [long]
        $u.Version | Should -Be (Get-AgentStatus).SignatureVersion
        $u.CreatedAt | Should -BeOfType [datetime]
        $u.PreviousVersion | Should -BeOfType [long]
    }

    It 'refuses a tampered package with a SecurityError and keeps the one in force' {
        $bytes = [System.IO.File]::ReadAllBytes((Get-TestEnv 'PAL_DEFS_PACKAGE'))
        $bytes[$bytes.Length - 10] = $bytes[$bytes.Length - 10] -bxor 0x55
        $bad = Join-Path $D.Base 'tampered.sig'
        [System.IO.File]::WriteAllBytes($bad, $bytes)
        $before = (Get-AgentStatus).SignatureVersion
        $e = $null
        try { Update-Signature -Path $bad } catch { $e = $_ }
        $e | Should -Not -BeNullOrEmpty
        $e.CategoryInfo.Category | Should -Be 'SecurityError'
        $e.FullyQualifiedErrorId | Should -Be 'Refused,Update-Signature'
        $e.ErrorDetails.RecommendedAction | Should -Match 'trusted-keys'
        (Get-AgentStatus).SignatureVersion | Should -Be $before
        (Get-AgentStatus).Degraded | Should -BeNullOrEmpty
    }

    It 'reports a missing file as ObjectNotFound, and -WhatIf installs nothing' {
        Update-Signature -Path (Join-Path $D.Base 'no-such.sig') -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        Update-Signature -Path (Get-TestEnv 'PAL_DEFS_PACKAGE') -WhatIf | Should -BeNullOrEmpty
    }

    It '-Rollback puts the previous package back in force' {
        $r = Update-Signature -Rollback
        $r.Version | Should -Be (Get-AgentStatus).SignatureVersion
    }
}

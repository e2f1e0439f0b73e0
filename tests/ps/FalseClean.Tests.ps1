#
# FalseClean.Tests.ps1 — Start-Scan never reports "clean" for what it did not examine, against
# a real palisaded: -Path expands wildcards as other cmdlets do (a pattern that matches
# nothing is an ObjectNotFound error, never a Quick scan instead), -LiteralPath takes '['
# literally, a missing path is an ObjectNotFound ErrorRecord while the other path is still
# scanned, a symlink path is resolved and said so, an object that could not be examined (an
# encrypted zip member) is warned about, and a quarantine that fails (immutable file,
# chattr +i) is in the default view and warned about at the end of the scan.
#
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'PalisadeTestHelpers.psm1') -Force
    Import-Module (Join-Path (Get-TestEnv 'PAL_PSMODULE_DIR') 'Palisade.psd1') -Force
    $script:D = New-TestDaemon
    $env:PALISADE_SOCKET = $D.Socket
    $script:Eicar = Get-EicarBytes
}

AfterAll {
    Remove-Item Env:PALISADE_SOCKET -ErrorAction SilentlyContinue
    Stop-TestDaemon $D
}

Describe 'Start-Scan -Path and -LiteralPath' {
    It '-Path expands a wildcard to the files it matches, and only those' {
        $root = New-TestTree -Root (Join-Path $D.Base 'wild') -Files @{
            'a.zip' = 'not really a zip'; 'b.zip' = 'nor this'; 'c.txt' = (Get-EicarBytes)
        }
        $r = Start-Scan -Path (Join-Path $root '*.zip')
        $r.Status | Should -Be 'Completed'
        $r.FilesScanned | Should -Be 2
        $r.ThreatsFound | Should -Be 0
        $r.FullyExamined | Should -BeTrue
        @($r.RootErrors).Count | Should -Be 0
        Test-Path -LiteralPath (Join-Path $root 'c.txt') | Should -BeTrue
    }

    It 'a pattern that matches nothing is an ObjectNotFound error and scans nothing' {
        $before = (Get-AgentStatus).LastScan.ScanId
        $pattern = Join-Path $D.Base 'wild-none/*.zip'
        $r = Start-Scan -Path $pattern -ErrorVariable errs -ErrorAction SilentlyContinue
        $r | Should -BeNullOrEmpty
        @($errs).Count | Should -Be 1
        $errs[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $errs[0].FullyQualifiedErrorId | Should -Be 'PathNotFound,Start-Scan'
        $errs[0].TargetObject | Should -Be $pattern
        # never a Quick scan of the machine in its place
        (Get-AgentStatus).LastScan.ScanId | Should -Be $before
    }

    It '-LiteralPath takes a name with [ literally; -Path treats it as a pattern' {
        $root = Join-Path $D.Base 'literal'
        [void](New-Item -ItemType Directory -Path $root)
        $name = Join-Path $root 'report[1].com'
        [System.IO.File]::WriteAllBytes($name, $Eicar)
        # as a pattern, [1] is the character class {1}: it names report1.com, which is absent
        $r = Start-Scan -Path $name -ErrorVariable errs -ErrorAction SilentlyContinue
        $r | Should -BeNullOrEmpty
        $errs[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $r = Start-Scan -LiteralPath $name
        $r.FilesScanned | Should -Be 1
        $r.ThreatsFound | Should -Be 1
        $r.Threats[0].Path | Should -Be $name
    }

    It 'a missing path is an ObjectNotFound ErrorRecord while the other path is still scanned' {
        $root = New-TestTree -Root (Join-Path $D.Base 'mixed') -Files @{ 'sub/eicar.com' = (Get-EicarBytes) }
        $missing = Join-Path $D.Base 'no/such/dir'
        $r = Start-Scan -Path $missing, $root -ErrorVariable errs -ErrorAction SilentlyContinue
        $r.Status | Should -Be 'Completed'
        $r.ThreatsFound | Should -Be 1
        $r.Threats[0].Path | Should -Be (Join-Path $root 'sub/eicar.com')
        @($r.RootErrors).Count | Should -Be 1
        @($errs).Count | Should -Be 1
        $errs[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $errs[0].FullyQualifiedErrorId | Should -Be 'ScanRootNotFound,Start-Scan'
        $errs[0].TargetObject | Should -Be $missing
        $errs[0].Exception | Should -BeOfType [System.Management.Automation.ItemNotFoundException]
        # -ErrorAction Stop makes it terminating, as for any non-terminating error; the
        # result of what was scanned has been written before
        $out = [System.Collections.Generic.List[object]]::new()
        { Start-Scan -Path $missing, $root -ErrorAction Stop | ForEach-Object { $out.Add($_) } } |
            Should -Throw -ErrorId 'ScanRootNotFound,Start-Scan'
        $out.Count | Should -Be 1
        $out[0].PSTypeNames[0] | Should -Be 'Palisade.ScanResult'
    }

    It 'a symlink path is resolved by the agent, its target scanned, and a warning says so' {
        $target = New-TestTree -Root (Join-Path $D.Base 'link-target') -Files @{
            'eicar.com' = (Get-EicarBytes); 'clean.txt' = "clean`n"
        }
        $link = Join-Path $D.Base 'link-to-target'
        [void](New-Item -ItemType SymbolicLink -Path $link -Target $target)
        # a path below the link is covered by it, as below a directory: scanned once
        $r = Start-Scan -LiteralPath $link, (Join-Path $link 'clean.txt') -WarningVariable warns 3>$null
        $r.FilesScanned | Should -Be 2
        $r.ThreatsFound | Should -Be 1
        $r.Threats[0].Path | Should -Be (Join-Path $target 'eicar.com')
        $r.ResolvedRoots[0].Resolved | Should -Be $target
        @($warns | Where-Object { "$_" -match 'is a symbolic link: the agent scanned its target' }).Count | Should -Be 1
    }
}

Describe 'objects that could not be examined' {
    It 'are warned about at the end, and FullyExamined is false' {
        $root = Join-Path $D.Base 'encrypted'
        [void](New-Item -ItemType Directory -Path $root)
        $plain = Join-Path $root 'a.txt'
        [System.IO.File]::WriteAllText($plain, "hello`n")
        & zip -q -j -P secret (Join-Path $root 'enc.zip') $plain
        if ($LASTEXITCODE -ne 0) { throw 'zip failed' }
        Remove-Item -LiteralPath $plain
        $r = Start-Scan -Path $root -WarningVariable warns 3>$null
        $r.Status | Should -Be 'Completed'
        $r.ThreatsFound | Should -Be 0
        $r.FullyExamined | Should -BeFalse
        $r.Unscannable[0].Reason | Should -Be 'encrypted'
        @($warns | Where-Object { "$_" -match '^Not everything was examined: 1 unscannable' }).Count | Should -Be 1
    }
}

Describe 'a remediation that failed' {
    BeforeAll {
        $script:ImmRoot = New-TestTree -Root (Join-Path $D.Base 'immutable') -Files @{ 'eicar.com' = (Get-EicarBytes) }
        $script:ImmFile = Join-Path $ImmRoot 'eicar.com'
        & chattr +i $ImmFile
        if ($LASTEXITCODE -ne 0) { throw "chattr +i $ImmFile failed" }
    }
    AfterAll {
        if (Test-Path -LiteralPath $ImmFile) { & chattr -i $ImmFile }
    }

    It 'is warned about at the end, shown as ActionResult in the default view, and keeps the agent Degraded until dealt with' {
        $r = Start-Scan -Path $ImmRoot -WarningVariable warns 3>$null
        $r.ThreatsFound | Should -Be 1
        $r.UnremediatedThreats | Should -Be 1
        $r.Threats[0].ActionResult | Should -Be 'Failed'
        $w = @($warns | Where-Object { "$_" -match 'could not be quarantined or removed' })
        $w.Count | Should -Be 1
        "$($w[0])" | Should -Match ([regex]::Escape($ImmFile))
        Test-Path -LiteralPath $ImmFile | Should -BeTrue

        # the default table view of a detection shows the result
        $table = $r.Threats | Out-String -Width 250
        $table | Should -Match 'ActionResult'
        $table | Should -Match 'Quarantine\s+Failed'
        $hist = Get-ThreatHistory -ScanId $r.ScanId | Out-String -Width 250
        $hist | Should -Match 'Quarantine\s+Failed'

        $st = Get-AgentStatus
        $st.UnremediatedThreats | Should -Be 1
        @($st.Degraded | Where-Object { $_ -match '^unremediated threats' }).Count | Should -Be 1

        # dealt with: the attribute removed and the file scanned again
        & chattr -i $ImmFile
        $again = Start-Scan -Path $ImmRoot -WarningVariable warns2 3>$null
        $again.Threats[0].ActionResult | Should -Be 'Success'
        @($warns2).Count | Should -Be 0
        (Get-AgentStatus).UnremediatedThreats | Should -Be 0
        @((Get-AgentStatus).Degraded).Count | Should -Be 0
    }
}

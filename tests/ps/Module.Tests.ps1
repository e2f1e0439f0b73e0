#
# Module.Tests.ps1 — the Palisade module as a module: manifest, exports, cmdlet shape
# (approved verbs, CmdletBinding, typed output), comment-based help and about_Palisade, the
# format file's default views, and where the native library is found.
#
BeforeDiscovery {
    $script:Commands = @(
        'Start-Scan', 'Get-ThreatHistory', 'Get-SandboxMode', 'Set-SandboxMode', 'Get-QuarantineItem',
        'Restore-QuarantineItem', 'Remove-QuarantineItem', 'Get-AgentStatus', 'Get-AgentPreference',
        'Set-AgentPreference', 'Add-AgentExclusion', 'Remove-AgentExclusion', 'Update-Signature',
        'Get-ThreatCatalog', 'Get-ScanHistory', 'Get-AllowedThreat', 'Add-AllowedThreat', 'Remove-AllowedThreat',
        'Get-ThreatAction', 'Set-ThreatAction', 'Remove-ThreatAction', 'Get-ContentProcessEvent', 'Save-AgentDiagnostics',
        'Invoke-ContentScan', 'Get-RealTimeProtectionStatistic')
    $script:Commands += 'Get-Scan', 'Wait-Scan', 'Stop-Scan'
    $script:Commands += 'Get-PalisadeFleetStatus'
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'PalisadeTestHelpers.psm1') -Force
    $script:ModuleDir = Get-TestEnv 'PAL_PSMODULE_DIR'
    $script:Manifest = Join-Path $ModuleDir 'Palisade.psd1'
    Import-Module $Manifest -Force
    $script:Expected = @(
        'Start-Scan', 'Get-ThreatHistory', 'Get-SandboxMode', 'Set-SandboxMode', 'Get-QuarantineItem',
        'Restore-QuarantineItem', 'Remove-QuarantineItem', 'Get-AgentStatus', 'Get-AgentPreference',
        'Set-AgentPreference', 'Add-AgentExclusion', 'Remove-AgentExclusion', 'Update-Signature',
        'Get-ThreatCatalog', 'Get-ScanHistory', 'Get-AllowedThreat', 'Add-AllowedThreat', 'Remove-AllowedThreat',
        'Get-ThreatAction', 'Set-ThreatAction', 'Remove-ThreatAction', 'Get-ContentProcessEvent', 'Save-AgentDiagnostics',
        'Invoke-ContentScan', 'Get-RealTimeProtectionStatistic')
    $script:Expected += 'Get-Scan', 'Wait-Scan', 'Stop-Scan'
    $script:Expected += 'Get-PalisadeFleetStatus'
}

Describe 'The module manifest' {
    It 'is valid and declares Core, PowerShell 7.2, the format file and an explicit export list' {
        $m = Test-ModuleManifest -Path $Manifest
        $m.Name | Should -Be 'Palisade'
        $m.CompatiblePSEditions | Should -Be @('Core')
        $m.PowerShellVersion | Should -Be ([version]'7.2')
        $m.ExportedFormatFiles | ForEach-Object { Split-Path $_ -Leaf } | Should -Be @('Palisade.Format.ps1xml')
        $data = Import-PowerShellDataFile -Path $Manifest
        $data.FunctionsToExport | Should -Not -Contain '*'
        @($data.FunctionsToExport | Sort-Object) | Should -Be @($Expected | Sort-Object)
    }

    It 'exports exactly the documented cmdlets' {
        $exported = @((Get-Module Palisade).ExportedCommands.Keys | Sort-Object)
        $exported | Should -Be @($Expected | Sort-Object)
    }

    It 'ships the native library beside the staged module' {
        Join-Path $ModuleDir 'libpalisade.so.0' | Should -Exist
    }

    It 'imports in a fresh session without loading the library' {
        # the P/Invoke type is only emitted when a cmdlet needs the library
        $r = Invoke-ChildPwsh -Script "Import-Module '$Manifest'; [AppDomain]::CurrentDomain.GetAssemblies().FullName -like 'Palisade.Native*' | Measure-Object | ForEach-Object Count"
        $r.ExitCode | Should -Be 0
        $r.Output.Trim() | Should -Be '0'
    }
}

Describe 'Cmdlet <_>' -ForEach $Commands {
    BeforeAll {
        $script:Cmd = Get-Command -Module Palisade -Name $_
        $script:Help = Get-Help $_ -Full
    }

    It 'uses an approved verb' {
        (Get-Verb).Verb | Should -Contain $Cmd.Verb
    }

    It 'is an advanced function ([CmdletBinding()])' {
        $Cmd.CmdletBinding | Should -BeTrue
    }

    It 'declares its output type' {
        $Cmd.OutputType.Count | Should -BeGreaterThan 0
    }

    It 'has comment-based help with a synopsis, a description and at least two examples' {
        $Help.Synopsis | Should -Not -BeNullOrEmpty
        $Help.Synopsis | Should -Not -Match "^\s*$([regex]::Escape($_))"
        ($Help.description | Out-String).Trim() | Should -Not -BeNullOrEmpty
        @($Help.examples.example).Count | Should -BeGreaterOrEqual 2
    }

    It 'describes every parameter' {
        $common = [System.Management.Automation.PSCmdlet]::CommonParameters + [System.Management.Automation.PSCmdlet]::OptionalCommonParameters
        $params = $Cmd.Parameters.Values | Where-Object { $_.Name -notin $common -and -not ($_.Attributes | Where-Object { $_ -is [System.Management.Automation.ParameterAttribute] -and $_.DontShow }) }
        foreach ($p in $params) {
            $ph = $Help.parameters.parameter | Where-Object name -EQ $p.Name
            ($ph.description | Out-String).Trim() | Should -Not -BeNullOrEmpty -Because "parameter -$($p.Name) needs a description"
        }
    }
}

Describe 'Help' {
    It 'Get-Help Start-Scan -Examples shows the examples' {
        $text = Get-Help Start-Scan -Examples | Out-String
        $text | Should -Match 'Start-Scan -Path'
        $text | Should -Match 'Get-ChildItem .*\| Start-Scan'
    }

    It 'has an about_Palisade topic on the architecture and the sandbox' {
        $text = Get-Help about_Palisade | Out-String
        $text | Should -Match 'about_Palisade'
        $text | Should -Match 'content process'
        $text | Should -Match 'SandboxMode'
        $text | Should -Match 'palisade-admin'
    }

    It 'marks the state-changing cmdlets for -WhatIf and -Confirm, Remove-QuarantineItem at High impact' {
        foreach ($n in 'Set-SandboxMode', 'Restore-QuarantineItem', 'Remove-QuarantineItem', 'Set-AgentPreference',
            'Add-AgentExclusion', 'Remove-AgentExclusion', 'Update-Signature') {
            (Get-Command $n).Parameters.Keys | Should -Contain 'WhatIf'
            (Get-Command $n).Parameters.Keys | Should -Contain 'Confirm'
        }
        $meta = [System.Management.Automation.CommandMetadata]::new((Get-Command Remove-QuarantineItem))
        $meta.ConfirmImpact | Should -Be 'High'
    }
}

Describe 'Default views' {
    It 'shows a detection as DetectedAt, ThreatName, Severity, Action, ActionResult, Path' {
        $d = [pscustomobject]@{
            PSTypeName = 'Palisade.ThreatDetection'; DetectionId = 7L; ThreatName = 'Virus:DOS/EICAR_Test_File'
            Severity = 'Severe'; Category = 'Virus'; Path = '/srv/a.zip->eicar.com'; Sha256 = ('ab' * 32)
            DetectedAt = [datetime]'2026-11-25 10:11:12'; Source = 'OnDemand'; ScanId = 3L; Action = 'Quarantine'
            ActionResult = 'Success'; QuarantineId = 4L
            DisplayPath = '/srv/a.zip->eicar.com'   # the view shows the escaped form (Names.Tests.ps1)
        }
        $lines = @(($d | Format-Table | Out-String -Width 200) -split "`n" | Where-Object { $_.Trim() })
        $lines[0] | Should -Match '^DetectedAt\s+ThreatName\s+Severity\s+Action\s+ActionResult\s+Path\s*$'
        $lines[2] | Should -Match '2026-11-25 10:11:12\s+Virus:DOS/EICAR_Test_File\s+Severe\s+Quarantine\s+Success\s+/srv/a.zip->eicar.com'
        ($d | Format-Table | Out-String -Width 200) | Should -Not -Match 'Sha256|abab'
    }

    It 'shows a quarantine item as Id, QuarantinedAt, ThreatName, OriginalPath' {
        $q = [pscustomobject]@{
            PSTypeName = 'Palisade.QuarantineItem'; Id = 12L; QuarantinedAt = [datetime]'2026-11-25 10:11:12'
            ThreatName = 'Virus:DOS/EICAR_Test_File'; OriginalPath = '/home/a/eicar.com'; Sha256 = ('cd' * 32); Size = 68L
            DisplayOriginalPath = '/home/a/eicar.com'
        }
        $lines = @(($q | Format-Table | Out-String -Width 200) -split "`n" | Where-Object { $_.Trim() })
        $lines[0] | Should -Match '^\s*Id\s+QuarantinedAt\s+ThreatName\s+OriginalPath\s*$'
        $lines[2] | Should -Match '^\s*12\s+2026-11-25 10:11:12\s+Virus:DOS/EICAR_Test_File\s+/home/a/eicar.com'
    }
}

Describe 'The staged Palisade.psm1' {
    BeforeAll {
        $script:Src = Join-Path (Get-TestEnv 'PAL_SOURCE_DIR') 'psmodule/Palisade'
        $script:Staged = [System.IO.File]::ReadAllText((Join-Path $ModuleDir 'Palisade.psm1'))
    }

    It 'is every source file, unchanged, in order: Module.ps1, Private/*.ps1, the settings list, Public/*.ps1' {
        # the sources are the truth: a file left out, stale or out of order fails here
        $sorted = {
            param($dir)
            [string[]]$names = @(Get-ChildItem -Path (Join-Path $Src $dir) -Filter '*.ps1' -File | ForEach-Object { "$dir/$($_.Name)" })
            [Array]::Sort($names, [StringComparer]::Ordinal)
            $names
        }
        $expected = @('Module.ps1') + @(& $sorted 'Private') + @('KnownPreferences.ps1') + @(& $sorted 'Public')
        $regions = [regex]::Matches($Staged, '(?ms)^#region (\S+)\n(.*?)^#endregion \1\n')
        @($regions | ForEach-Object { $_.Groups[1].Value }) | Should -Be $expected
        foreach ($r in $regions) {
            if ($r.Groups[1].Value -eq 'KnownPreferences.ps1') { continue }
            $r.Groups[2].Value | Should -BeExactly ([System.IO.File]::ReadAllText((Join-Path $Src $r.Groups[1].Value))) -Because $r.Groups[1].Value
        }
        # nothing outside the regions but the generated header
        ($Staged -replace '(?ms)^#region (\S+)\n.*?^#endregion \1\n', '') -split "`n" |
            Where-Object { $_ -and $_ -notmatch '^#' } | Should -BeNullOrEmpty
    }

    It 'defines each function once (in one file, a second definition would silently replace the first)' {
        $tokens = $null; $errors = $null
        $ast = [System.Management.Automation.Language.Parser]::ParseInput($Staged, [ref]$tokens, [ref]$errors)
        $errors | Should -BeNullOrEmpty
        $names = @($ast.FindAll({ param($a) $a -is [System.Management.Automation.Language.FunctionDefinitionAst] -and
                    $a.Parent -is [System.Management.Automation.Language.NamedBlockAst] -and $null -eq $a.Parent.Parent.Parent }, $true) |
                ForEach-Object Name)
        $names.Count | Should -BeGreaterThan 50
        @($names | Group-Object | Where-Object Count -GT 1 | ForEach-Object Name) | Should -BeNullOrEmpty
    }

    It 'takes its settings list from the C registry, not from a copy kept by hand' {
        Get-ChildItem -Path $Src -Recurse -File | Select-String -Pattern 'KnownPreferences\s*=' | Should -BeNullOrEmpty
        $Staged | Should -Match '(?m)^# KnownPreferences\.ps1 — GENERATED at build time by palisade-settings-dump'
    }
}

Describe 'Finding libpalisade' {
    BeforeAll {
        # a copy of the module without the library beside it
        $script:Bare = Join-Path ([System.IO.Path]::GetTempPath()) ('pal-bare.' + [Guid]::NewGuid().ToString('N').Substring(0, 8))
        Copy-Item -Recurse -Path $ModuleDir -Destination (Join-Path $Bare 'Palisade')
        Remove-Item (Join-Path $Bare 'Palisade/libpalisade.so.0')
        $script:NoSocket = Join-Path $Bare 'no-agent.sock'
        $script:Probe = "Import-Module '$Bare/Palisade/Palisade.psd1'; `$env:PALISADE_SOCKET = '$NoSocket'; " +
        "try { Start-Scan -ScanType Quick } catch { `$_.FullyQualifiedErrorId; `$_.CategoryInfo.Category; `$_.Exception.Message }"
    }
    AfterAll {
        Remove-Item -Recurse -Force $Bare -ErrorAction SilentlyContinue
    }

    It 'loads the library from the loader''s search path when it is not beside the module' {
        $r = Invoke-ChildPwsh -Script $Probe -Environment @{ LD_LIBRARY_PATH = $ModuleDir }
        $r.ExitCode | Should -Be 0
        # the library was loaded and answered: no agent listens there
        $r.Output | Should -Match 'Unavailable,Start-Scan'
        $r.Output | Should -Match 'ResourceUnavailable'
    }

    It 'says where it looked when the library is nowhere' {
        if ((& ldconfig -p) -match 'libpalisade\.so\.0 ') {
            Set-ItResult -Skipped -Because 'libpalisade is installed system-wide on this machine'
            return
        }
        $r = Invoke-ChildPwsh -Script $Probe -Environment @{ LD_LIBRARY_PATH = '' }
        $r.ExitCode | Should -Be 0
        $r.Output | Should -Match 'LibraryMissing,Start-Scan'
        $r.Output | Should -Match 'ResourceUnavailable'
        $r.Output | Should -Match 'libpalisade.so.0 cannot be loaded'
    }
}

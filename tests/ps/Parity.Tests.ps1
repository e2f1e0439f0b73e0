#
# Parity.Tests.ps1 — the cmdlets for what the CLI could do and the module could not (issue 14,
# "Parity"): Get-ThreatCatalog, Get-ScanHistory, Get/Add/Remove-AllowedThreat,
# Get/Set/Remove-ThreatAction, Get-ContentProcessEvent, Save-AgentDiagnostics, and -Socket
# on every exported cmdlet, against a real palisaded. $env:PALISADE_SOCKET is NOT set here:
# every call names the agent with -Socket (the variable points at a socket that does not
# exist, so a cmdlet that ignored -Socket would fail with Unavailable).
#
BeforeDiscovery {
    # the cmdlets to check, known when the tests are generated
    Import-Module (Join-Path $env:PAL_PSMODULE_DIR 'Palisade.psd1') -Force
    $Exported = @((Get-Command -Module Palisade -CommandType Function).Name)
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'PalisadeTestHelpers.psm1') -Force
    Import-Module (Join-Path (Get-TestEnv 'PAL_PSMODULE_DIR') 'Palisade.psd1') -Force
    $script:D = New-TestDaemon
    $script:S = $D.Socket
    $script:Eicar = 'Virus:DOS/EICAR_Test_File'
    $script:SavedSocket = $env:PALISADE_SOCKET
    $env:PALISADE_SOCKET = Join-Path $D.Base 'run/nobody-listens-here.sock'
}

AfterAll {
    if ($script:SavedSocket) { $env:PALISADE_SOCKET = $script:SavedSocket } else { Remove-Item Env:PALISADE_SOCKET -ErrorAction SilentlyContinue }
    Stop-TestDaemon $D
}

Describe 'every exported cmdlet takes -Socket' {
    It '<_> has a -Socket parameter, documented' -ForEach $Exported {
        $cmd = Get-Command $_ -Module Palisade
        $cmd.Parameters.Keys | Should -Contain 'Socket'
        $cmd.Parameters['Socket'].ParameterType | Should -Be ([string])
        (Get-Help $_ -Parameter Socket).description.Text | Should -Match 'control socket'
    }

    It 'the loop covers every exported command (<_.Count> of them)' -ForEach @(, $Exported) {
        $_.Count | Should -Be @((Get-Command -Module Palisade).Name).Count
        $_.Count | Should -BeGreaterOrEqual 23
    }

    It 'the module exports the parity cmdlets' {
        $names = (Get-Command -Module Palisade).Name
        foreach ($n in 'Get-ThreatCatalog', 'Get-ScanHistory', 'Get-AllowedThreat', 'Add-AllowedThreat',
            'Remove-AllowedThreat', 'Get-ThreatAction', 'Set-ThreatAction', 'Remove-ThreatAction',
            'Get-ContentProcessEvent', 'Save-AgentDiagnostics', 'Start-Scan', 'Set-SandboxMode', 'Get-ThreatHistory') {
            $names | Should -Contain $n
        }
        foreach ($n in $names) {
            ($n -split '-')[0] | Should -BeIn (Get-Verb).Verb
        }
    }

    It 'cmdlets that change state support -WhatIf and -Confirm, and document them' {
        foreach ($n in 'Add-AllowedThreat', 'Remove-AllowedThreat', 'Set-ThreatAction', 'Remove-ThreatAction', 'Save-AgentDiagnostics') {
            $cmd = Get-Command $n -Module Palisade
            $cmd.Parameters.Keys | Should -Contain 'WhatIf'
            $cmd.Parameters.Keys | Should -Contain 'Confirm'
            (Get-Help $n -Parameter WhatIf).description.Text | Should -Not -BeNullOrEmpty
            @((Get-Help $n).examples.example).Count | Should -BeGreaterOrEqual 2
        }
    }

    It 'without -Socket the environment variable is used (here: nobody listens there)' {
        { Get-AgentStatus -ErrorAction Stop } | Should -Throw -ErrorId 'Unavailable,Get-AgentStatus'
        (Get-AgentStatus -Socket $S).SignatureVersion | Should -Not -BeNullOrEmpty
    }

    It 'Start-Scan -AsJob takes the agent to its job' {
        $root = New-TestTree -Root (Join-Path $D.Base 'job') -Files @{ 'a.txt' = 'clean' }
        $job = Start-Scan -Path $root -AsJob -Socket $S
        $r = $job | Wait-Job -Timeout 120 | Receive-Job
        $job | Remove-Job -Force
        $r.Status | Should -Be 'Completed'
        $r.FilesScanned | Should -Be 1
    }
}

Describe 'Get-ThreatCatalog' {
    It 'lists the EICAR entry with its severity, category and default action' {
        $all = @(Get-ThreatCatalog -Socket $S)
        $all.Count | Should -Be 5
        $e = $all | Where-Object ThreatName -EQ $Eicar
        $e.PSTypeNames[0] | Should -Be 'Palisade.ThreatCatalogEntry'
        $e.Severity | Should -Be 'Severe'
        $e.Category | Should -Be 'Virus'
        $e.DefaultAction | Should -Be 'Quarantine'
        $e.SignatureVersion | Should -Be (Get-AgentStatus -Socket $S).SignatureVersion
    }

    It 'filters by name pattern and severity on the agent' {
        @(Get-ThreatCatalog '*eicar*' -Socket $S).ThreatName | Should -Be @($Eicar)
        @(Get-ThreatCatalog -Severity High -Socket $S).Count | Should -Be 2
        @(Get-ThreatCatalog -ThreatName 'nothing*' -Socket $S).Count | Should -Be 0
    }

    It 'has a default table view' {
        $text = Get-ThreatCatalog -ThreatName '*EICAR*' -Socket $S | Out-String -Width 200
        $text | Should -Match 'ThreatName\s+Category\s+Severity\s+DefaultAction'
        $text | Should -Match ([regex]::Escape($Eicar) + '\s+Virus\s+Severe\s+Quarantine')
    }

    It 'any user may read it (nobody, through the status socket)' {
        $out = Invoke-PwshAsNobody -Daemon $D -Script "(Get-ThreatCatalog -Socket '$S' -ThreatName '*EICAR*').Severity | ConvertTo-Json -Compress"
        $out | Should -Be 'Severe'
        $denied = Invoke-PwshAsNobody -Daemon $D -Script "`$r = try { Get-ThreatHistory -Socket '$S' -ErrorAction Stop; 'no error' } catch { `$_.CategoryInfo.Category.ToString() }; `$r | ConvertTo-Json -Compress"
        $denied | Should -Be 'PermissionDenied'
    }
}

Describe 'Get-ThreatHistory | Add-AllowedThreat, then a rescan' {
    BeforeAll {
        $script:Root = New-TestTree -Root (Join-Path $D.Base 'allow') -Files @{ 'eicar.com' = (Get-EicarBytes); 'clean.txt' = 'x' }
        # the file must stay where it is for the rescan: EICAR is reported only
        Set-ThreatAction -ThreatName $Eicar -Action NoAction -Socket $S -Confirm:$false
        $script:First = Start-Scan -Path $Root -Socket $S
    }
    AfterAll {
        Get-AllowedThreat -Socket $S | Remove-AllowedThreat -Socket $S -Confirm:$false
        Remove-ThreatAction -ThreatName $Eicar -Socket $S -Confirm:$false -ErrorAction SilentlyContinue
    }

    It 'the first scan finds EICAR and leaves it in place' {
        $First.ThreatsFound | Should -Be 1
        Join-Path $Root 'eicar.com' | Should -Exist
    }

    It '-WhatIf adds nothing' {
        Get-ThreatHistory -ScanId $First.ScanId -Socket $S | Add-AllowedThreat -Socket $S -WhatIf
        @(Get-AllowedThreat -Socket $S).Count | Should -Be 0
    }

    It 'the detection is allowed by its SHA-256, and the rescan reports it allowed' {
        $det = @(Get-ThreatHistory -ScanId $First.ScanId -Socket $S)
        $det | Add-AllowedThreat -Socket $S
        $allowed = @(Get-AllowedThreat -Socket $S)
        $allowed.Count | Should -Be 1
        $allowed[0].PSTypeNames[0] | Should -Be 'Palisade.AllowedThreat'
        $allowed[0].Kind | Should -Be 'Sha256'
        $allowed[0].Value | Should -Be $det[0].Sha256
        $allowed[0].AddedAt | Should -BeOfType [datetime]
        $again = Start-Scan -Path $Root -Socket $S
        $again.ThreatsFound | Should -Be 0
        @($again.Threats).Action | Should -Be @('Allow')
        & (Get-TestEnv 'PAL_CLI') --socket $S scan $Root | Out-Null
        $LASTEXITCODE | Should -Be 0
    }

    It 'names are allowed when the names are piped; a second time is ResourceExists' {
        Get-ThreatHistory -ScanId $First.ScanId -Socket $S | Select-Object ThreatName | Add-AllowedThreat -Socket $S -PassThru |
            Where-Object Kind -EQ 'ThreatName' | ForEach-Object Value | Should -Be $Eicar
        Add-AllowedThreat -ThreatName $Eicar -Socket $S -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].CategoryInfo.Category | Should -Be 'ResourceExists'
    }

    It 'Get-AllowedThreat | Remove-AllowedThreat empties the list (-WhatIf first changes nothing)' {
        Get-AllowedThreat -Socket $S | Remove-AllowedThreat -Socket $S -WhatIf
        @(Get-AllowedThreat -Socket $S).Count | Should -Be 2
        Get-AllowedThreat -Socket $S | Remove-AllowedThreat -Socket $S -Confirm:$false
        @(Get-AllowedThreat -Socket $S).Count | Should -Be 0
        (Start-Scan -Path $Root -Socket $S).ThreatsFound | Should -Be 1
    }
}

Describe 'Get/Set/Remove-ThreatAction' {
    AfterEach {
        Get-ThreatAction -Socket $S | Remove-ThreatAction -Socket $S -Confirm:$false
    }

    It 'Set-ThreatAction -WhatIf changes nothing' {
        Set-ThreatAction -ThreatName $Eicar -Action Remove -Socket $S -WhatIf
        @(Get-ThreatAction -Socket $S).Count | Should -Be 0
    }

    It 'sets, lists typed objects, and removes' {
        Set-ThreatAction $Eicar NoAction -Socket $S -Confirm:$false
        $a = @(Get-ThreatAction -Socket $S)
        $a.Count | Should -Be 1
        $a[0].PSTypeNames[0] | Should -Be 'Palisade.ThreatAction'
        $a[0].ThreatName | Should -Be $Eicar
        $a[0].Action | Should -Be 'NoAction'
        $a[0].SetAt | Should -BeOfType [datetime]
        (Get-ThreatAction -ThreatName 'Trojan:*' -Socket $S) | Should -BeNullOrEmpty
        Remove-ThreatAction -ThreatName $Eicar -Socket $S -Confirm:$false
        @(Get-ThreatAction -Socket $S).Count | Should -Be 0
    }

    It 'takes names from Get-ThreatCatalog through the pipeline' {
        Get-ThreatCatalog -Severity High -Socket $S | Set-ThreatAction -Action Remove -Socket $S -Confirm:$false
        $a = @(Get-ThreatAction -Socket $S)
        $a.Count | Should -Be 2
        $a.Action | Sort-Object -Unique | Should -Be 'Remove'
    }

    It 'threat names complete from the catalog of the agent that -Socket names' {
        $line = "Set-ThreatAction -Socket '$S' -ThreatName Virus:DOS/EI"
        $c = TabExpansion2 -inputScript $line -cursorColumn $line.Length
        @($c.CompletionMatches.CompletionText) | Should -Be @($Eicar)
        # without -Socket: $env:PALISADE_SOCKET, where nobody listens here
        $line = 'Set-ThreatAction -ThreatName Virus:DOS/EI'
        $c = TabExpansion2 -inputScript $line -cursorColumn $line.Length
        @($c.CompletionMatches.CompletionText) | Should -Not -Contain $Eicar
    }

    It 'a name the package does not know is InvalidArgument; removing an absent one ObjectNotFound' {
        Set-ThreatAction -ThreatName 'Not:A/Threat' -Action NoAction -Socket $S -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue
        $ev[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
        Remove-ThreatAction -ThreatName $Eicar -Socket $S -Confirm:$false -ErrorVariable ev2 -ErrorAction SilentlyContinue
        $ev2[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }
}

Describe 'Get-ScanHistory' {
    It 'lists typed scan records newest first, that pipe to Get-ThreatHistory' {
        $root = New-TestTree -Root (Join-Path $D.Base 'hist') -Files @{ 'eicar.com' = (Get-EicarBytes) }
        $scan = Start-Scan -Path $root -Socket $S
        $h = @(Get-ScanHistory -Socket $S)
        $h[0].PSTypeNames[0] | Should -Be 'Palisade.ScanRecord'
        $h[0].ScanId | Should -Be $scan.ScanId
        $h[0].ScanType | Should -Be 'Custom'
        $h[0].Status | Should -Be 'Completed'
        $h[0].StartTime | Should -BeOfType [datetime]
        $h[0].ThreatsFound | Should -Be 1
        $h[0].Paths | Should -Be @($root)
        @(Get-ScanHistory -First 1 -Socket $S).Count | Should -Be 1
        (Get-ScanHistory -First 1 -Socket $S | Get-ThreatHistory -Socket $S).Path | Should -Be (Join-Path $root 'eicar.com')
        (Get-ScanHistory -First 1 -Socket $S | Out-String -Width 200) | Should -Match 'ScanId\s+ScanType\s+Status'
    }
}

Describe 'Get-ContentProcessEvent' {
    It 'lists typed events (the content process started for the scans above)' {
        $ev = @(Get-ContentProcessEvent -Socket $S)
        $ev.Count | Should -BeGreaterOrEqual 1
        $ev[0].PSTypeNames[0] | Should -Be 'Palisade.ContentProcessEvent'
        $ev.Kind | Should -Contain 'Start'
        $ev[0].At | Should -BeOfType [datetime]
        @(Get-ContentProcessEvent -First 1 -Socket $S).Count | Should -Be 1
    }
}

Describe 'Save-AgentDiagnostics' {
    It '-WhatIf writes nothing, on the agent or at -Path' {
        $dir = Join-Path $D.Base 'diag-whatif'
        [void](New-Item -ItemType Directory -Path $dir)
        Save-AgentDiagnostics -Path $dir -Socket $S -WhatIf
        @(Get-ChildItem $dir).Count | Should -Be 0
        Join-Path $D.StateDir 'diagnostics' | Should -Not -Exist
    }

    It 'writes the bundle, and copies it (0600) into -Path' {
        $dir = Join-Path $D.Base 'diag'
        [void](New-Item -ItemType Directory -Path $dir)
        $b = Save-AgentDiagnostics -Path $dir -Socket $S
        $b.PSTypeNames[0] | Should -Be 'Palisade.DiagnosticsBundle'
        $b.AgentPath | Should -Exist
        $b.Path | Should -Exist
        (Split-Path $b.Path -Parent) | Should -Be $dir
        (Get-Item $b.Path).Length | Should -Be $b.Size
        (Get-Item $b.Path).UnixFileMode | Should -Be ([System.IO.UnixFileMode]'UserRead, UserWrite')
        $b.Files | Should -Contain ((Split-Path $b.AgentPath -Leaf) -replace '\.tar\.gz$', '' | ForEach-Object { "$_/status.json" })
        & tar -tzf $b.Path | Should -Contain ($b.Files[0])
    }

    It 'does not replace an existing file without -Force' {
        $f = Join-Path $D.Base 'diag-exists.tar.gz'
        Set-Content -LiteralPath $f -Value 'mine'
        { Save-AgentDiagnostics -Path $f -Socket $S -ErrorAction Stop } | Should -Throw
        Get-Content -LiteralPath $f | Should -Be 'mine'
        $b = Save-AgentDiagnostics -Path $f -Force -Socket $S
        (Get-Item $f).Length | Should -Be $b.Size
    }
}

#
# ContentScan.Tests.ps1 — Invoke-ContentScan (issue 14, "Scanning content that is not a
# file") against a real palisaded: EICAR piped from Get-Content -Raw is found, -Content as
# bytes works, a clean string is clean, the detection is in the threat history as a Buffer
# detection with no remediation, user nobody may ask, and a caller over its per-minute limit
# gets an ErrorRecord (Busy, the limit named) while the agent keeps serving others.
#
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'PalisadeTestHelpers.psm1') -Force
    Import-Module (Join-Path (Get-TestEnv 'PAL_PSMODULE_DIR') 'Palisade.psd1') -Force
    $script:D = New-TestDaemon
    $script:S = $D.Socket
    $script:Eicar = 'Virus:DOS/EICAR_Test_File'
    # the EICAR file is built at run time from two halves: no file of the tree holds it
    $script:EicarFile = Join-Path $D.Base 'eicar.txt'
    [System.IO.File]::WriteAllBytes($EicarFile, (Get-EicarBytes))
}

AfterAll {
    Stop-TestDaemon $D
}

Describe 'Invoke-ContentScan' {
    It 'finds EICAR piped from Get-Content -Raw, and records it without remediation' {
        $r = Get-Content -Raw $EicarFile | Invoke-ContentScan -Name x -Socket $S
        @($r).Count | Should -Be 1
        $r.PSTypeNames[0] | Should -Be 'Palisade.ContentScanResult'
        $r.Verdict | Should -Be 'threat'
        $r.Name | Should -Be 'buffer:x'
        $r.ThreatName | Should -Be @($Eicar)
        $r.Severity | Should -Be @('Severe')
        $r.Allowed | Should -Be @($false)
        $r.DetectionId[0] | Should -BeGreaterThan 0
        $h = @(Get-ThreatHistory -Socket $S | Where-Object { $_.Path -eq 'buffer:x' })
        $h.Count | Should -Be 1
        $h[0].ThreatName | Should -Be $Eicar
        $h[0].Action | Should -Be 'NoAction'
        $h[0].Source | Should -Be 'Buffer'
        $h[0].ProcessUserId | Should -Be 0
        $h[0].ProcessId | Should -BeGreaterThan 0
        $h[0].ActionDetail | Should -Match 'there is no file'
        @(Get-QuarantineItem -Socket $S).Count | Should -Be 0
        # the default view shows the verdict, the name and the threat
        $text = $r | Format-Table | Out-String -Width 200
        $text | Should -Match 'threat\s+buffer:x\s+68\s+Virus:DOS/EICAR_Test_File'
    }

    It 'takes -Content as bytes and as a string; clean content is clean' {
        $r = Invoke-ContentScan -Content (Get-EicarBytes) -Name bytes -Socket $S
        $r.Verdict | Should -Be 'threat'
        $r.Size | Should -Be 68
        $c = Invoke-ContentScan -Content "Write-Host 'hello' é" -Name str -Socket $S
        $c.Verdict | Should -Be 'clean'
        $c.Size | Should -Be 21 -Because 'strings are sent as UTF-8 (20 characters, é is two bytes)'
        @($c.ThreatName).Count | Should -Be 0
        $b = Get-Content -AsByteStream -Raw $EicarFile | Invoke-ContentScan -Socket $S
        $b.Verdict | Should -Be 'threat'
    }

    It 'refuses content over 512 KiB with an ErrorRecord' {
        $r = Invoke-ContentScan -Content ([byte[]]::new(512KB + 1)) -Socket $S -ErrorAction SilentlyContinue -ErrorVariable ev
        $r | Should -BeNullOrEmpty
        $ev.Count | Should -Be 1
        $ev[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
        "$($ev[0])" | Should -Match '524288'
    }

    It 'serves user nobody' {
        $name = [System.IO.Path]::GetFileName($EicarFile)
        & chmod 644 $EicarFile
        $res = Invoke-PwshAsNobody -Daemon $D -Script "(Get-Content -Raw '$EicarFile' | Invoke-ContentScan -Name nobody-$name -Socket '$S').Verdict | ConvertTo-Json -Compress"
        $res | Should -Be 'threat'
    }

    It 'gives an over-limit caller an ErrorRecord naming the limit' {
        Set-AgentPreference -Name BufferScanMaxPerMinute -Value 1 -Socket $S
        try {
            # one scan a minute: whatever this minute held before, the second of these two is over
            $null = Invoke-ContentScan -Content 'abc' -Socket $S -ErrorAction SilentlyContinue
            $r = Invoke-ContentScan -Content 'abc' -Socket $S -ErrorAction SilentlyContinue -ErrorVariable ev
            $r | Should -BeNullOrEmpty
            $ev.Count | Should -Be 1
            $ev[0] | Should -BeOfType ([System.Management.Automation.ErrorRecord])
            $ev[0].CategoryInfo.Category | Should -Be 'ResourceBusy'
            "$($ev[0])" | Should -Match 'BufferScanMaxPerMinute'
            { Invoke-ContentScan -Content 'abc' -Socket $S -ErrorAction Stop } | Should -Throw '*BufferScanMaxPerMinute*'
        } finally {
            Set-AgentPreference -Name BufferScanMaxPerMinute -Value 600 -Socket $S
        }
        (Invoke-ContentScan -Content 'abc' -Socket $S).Verdict | Should -Be 'clean'
    }
}

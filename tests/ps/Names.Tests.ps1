#
# Names.Tests.ps1 — file names that try to drive the administrator's terminal (issue 10,
# item 5). An attacker names files `esc-<ESC>]0;PWNED<BEL><ESC>[2J.com` (sets the terminal
# title, clears the screen), `csi-<U+009B>2J.com` (C1 CSI), `rlo-<U+202E>moc.exe` (shows as
# "rlo-exe.com") and `raw-<0x9b>2J.com` (a lone CSI byte, not UTF-8), each holding EICAR. The
# agent quarantines them. Then:
#   - the objects keep the exact name for scripts (Path / OriginalPath, and *Bytes for the
#     exact bytes) and carry the escaped display form (Display*) of agent/util/display.h;
#   - in a real terminal (pwsh in a tmux pane), Get-ThreatHistory, Get-QuarantineItem and
#     Format-List leave the pane's title and its earlier content intact and show the
#     escaped names.
#
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'PalisadeTestHelpers.psm1') -Force
    Import-Module (Join-Path (Get-TestEnv 'PAL_PSMODULE_DIR') 'Palisade.psd1') -Force
    $script:D = New-TestDaemon
    $env:PALISADE_SOCKET = $D.Socket
    $script:TmuxServer = "pal-ps-names-$PID"

    function Invoke-Tmux {
        $out = & tmux -L $script:TmuxServer @args 2>&1
        if ($LASTEXITCODE -ne 0) { throw "tmux $($args -join ' '): $out" }
        return $out
    }

    $utf8 = [System.Text.Encoding]::UTF8
    # name bytes => what every view must show
    $script:Names = [ordered]@{
        'esc' = @{ Bytes = $utf8.GetBytes("esc-`e]0;PWNED`a`e[2J.com"); Shown = 'esc-\e]0;PWNED\a\e[2J.com' }
        'csi' = @{ Bytes = $utf8.GetBytes("csi-`u{9b}2J.com"); Shown = 'csi-\u009b2J.com' }
        'rlo' = @{ Bytes = $utf8.GetBytes("rlo-`u{202e}moc.exe"); Shown = 'rlo-\u202emoc.exe' }
        'raw' = @{ Bytes = [byte[]](@($utf8.GetBytes('raw-')) + 0x9b + @($utf8.GetBytes('2J.com'))); Shown = 'raw-\x9b2J.com' }
    }
    $script:Root = Join-Path $D.Base 'names'
    [void](New-Item -ItemType Directory -Path $Root)
    # .NET cannot name a file with a byte that is not UTF-8: python3 writes them all
    $eicar = [Convert]::ToHexString((Get-EicarBytes))
    foreach ($n in $Names.Values) {
        & python3 -c 'import os,sys; open(os.path.join(os.fsencode(sys.argv[1]), bytes.fromhex(sys.argv[2])), "wb").write(bytes.fromhex(sys.argv[3]))' $Root ([Convert]::ToHexString($n.Bytes)) $eicar
        if ($LASTEXITCODE -ne 0) { throw "cannot create $($n.Shown)" }
    }
    $rootBytes = $utf8.GetBytes($Root + '/')
    foreach ($n in $Names.Values) {
        $n.Full = [byte[]](@($rootBytes) + @($n.Bytes))
        $n.FullShown = $Root + '/' + $n.Shown
    }
    # default actions: each file is quarantined
    $script:Scan = Start-Scan -Path $Root
}

AfterAll {
    & tmux -L $TmuxServer kill-server 2>$null
    Remove-Item Env:PALISADE_SOCKET -ErrorAction SilentlyContinue
    Stop-TestDaemon $D
}

Describe 'Hostile file names' {
    It 'created the four files and found each of them' {
        [System.IO.Directory]::GetFiles($Root).Count | Should -Be 0   # all quarantined
        $Scan.ThreatsFound | Should -Be 4
    }

    It 'keeps the exact name for scripts and the escaped form for people' {
        $hist = @(Get-ThreatHistory -ScanId $Scan.ScanId)
        $hist.Count | Should -Be 4
        $quar = @(Get-QuarantineItem)
        $quar.Count | Should -Be 4
        foreach ($n in $Names.Values) {
            $t = @($hist | Where-Object { [Convert]::ToHexString($_.PathBytes) -eq [Convert]::ToHexString($n.Full) })
            $t.Count | Should -Be 1 -Because "one detection of $($n.Shown)"
            $t[0].DisplayPath | Should -BeExactly $n.FullShown
            $q = @($quar | Where-Object { [Convert]::ToHexString($_.OriginalPathBytes) -eq [Convert]::ToHexString($n.Full) })
            $q.Count | Should -Be 1
            $q[0].DisplayOriginalPath | Should -BeExactly $n.FullShown
        }
        # a UTF-8 name stays the exact string in Path
        $esc = $hist | Where-Object { $_.DisplayPath -like '*esc-*' }
        $esc.Path | Should -BeExactly ($Root + "/esc-`e]0;PWNED`a`e[2J.com")
        # the scan result's threats carry the same
        @($Scan.Threats | Where-Object { $_.DisplayPath -eq $Names.rlo.FullShown }).Count | Should -Be 1
    }

    It 'leaves the terminal title and screen intact when an administrator lists them (tmux)' {
        $module = Join-Path (Get-TestEnv 'PAL_PSMODULE_DIR') 'Palisade.psd1'
        $script = Join-Path $D.Base 'terminal-names.ps1'
        [System.IO.File]::WriteAllText($script, @"
Import-Module '$module'
`$env:PALISADE_SOCKET = '$($D.Socket)'
'BEFORE-' + 'LISTING'
"@)
        $pwsh = Get-TestEnv 'PAL_PWSH'
        Invoke-Tmux new-session -d -s names -x 250 -y 120 "'$pwsh' -NoLogo -NoProfile -NoExit -File '$script'" | Out-Null
        Wait-Until -What 'pwsh to start' { (Invoke-Tmux capture-pane -p -t names) -match 'BEFORE-LISTING' } | Out-Null
        $title = (Invoke-Tmux display -p -t names '#{pane_title}') -join ''

        $cmd = "Get-ThreatHistory; Get-QuarantineItem; Get-ThreatHistory | Where-Object DisplayPath -like '*esc-*' | Format-List; 'AFTER-' + 'LISTING'"
        Invoke-Tmux send-keys -t names -l $cmd | Out-Null
        Invoke-Tmux send-keys -t names Enter | Out-Null
        $screen = Wait-Until -What 'the listing to finish' {
            $s = (Invoke-Tmux capture-pane -p -t names) -join "`n"
            if ($s -match 'AFTER-LISTING\s*\n') { $s }
        }
        # the screen was not cleared, the title not set
        $screen | Should -Match 'BEFORE-LISTING'
        $after = (Invoke-Tmux display -p -t names '#{pane_title}') -join ''
        $after | Should -BeExactly $title
        $after | Should -Not -Match 'PWNED'
        # the escaped names are what the administrator reads: tables and the list view
        foreach ($n in $Names.Values) {
            $screen | Should -Match ([regex]::Escape($n.Shown))
        }
        ([regex]::Matches($screen, [regex]::Escape($Names.esc.Shown))).Count | Should -BeGreaterOrEqual 3
    }

    It 'escapes names in Write-Progress text and in error messages' {
        $m = Get-Module Palisade
        $rec = & $m { param($p) New-ScanProgressRecord 'Palisade Custom scan' ([ordered]@{ files_done = 1; bytes_done = 1; threats_so_far = 0; current_path = $p }) } "/tmp/esc-`e]0;PWNED`a"
        $rec.CurrentOperation | Should -BeExactly '/tmp/esc-\e]0;PWNED\a'
        $rec = & $m { param($b) New-ScanProgressRecord 'x' ([ordered]@{ files_done = 1; bytes_done = 1; threats_so_far = 0; current_path = '/tmp/raw-\x9b'; current_path_b64 = $b }) } ([Convert]::ToBase64String([byte[]](0x2f, 0x78, 0x9b)))
        $rec.CurrentOperation | Should -BeExactly '/x\x9b'
        $err = & $m { New-PalisadeErrorRecord -Code 'NotFound' -Message "no such file /tmp/a`e[2Jb`u{202e}c" }
        $err.ErrorDetails.Message | Should -BeExactly 'no such file /tmp/a\e[2Jb\u202ec'
        $err.Exception.Message | Should -Not -Match "`e"
    }
}

#
# Terminal.Tests.ps1 — Start-Scan in a real terminal: pwsh runs in a tmux pane, the test
# reads the captured screen for the progress bar, sends Ctrl+C, and checks that the agent
# recorded the scan as Cancelled. A fanotify gate (tests/ps/gate.py) holds the agent at a
# file of the scan, so the scan is in flight when the screen is read and when Ctrl+C
# arrives; it is let through only once pwsh says the cancel reached the agent.
#
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'PalisadeTestHelpers.psm1') -Force
    Import-Module (Join-Path (Get-TestEnv 'PAL_PSMODULE_DIR') 'Palisade.psd1') -Force
    $script:D = New-TestDaemon
    $env:PALISADE_SOCKET = $D.Socket
    # a tmux server of its own (-L): the test never touches the user's sessions
    $script:TmuxServer = "pal-ps-$PID"

    function Invoke-Tmux {
        $out = & tmux -L $script:TmuxServer @args 2>&1
        if ($LASTEXITCODE -ne 0) { throw "tmux $($args -join ' '): $out" }
        return $out
    }

    function Get-Screen {
        return (Invoke-Tmux capture-pane -p -t scan) -join "`n"
    }
}

AfterAll {
    & tmux -L $TmuxServer kill-server 2>$null
    Remove-Item Env:PALISADE_SOCKET -ErrorAction SilentlyContinue
    Stop-TestDaemon $D
}

Describe 'Start-Scan in a terminal (tmux)' {
    It 'shows the progress bar, and Ctrl+C cancels the scan, which the agent records as Cancelled' {
        $clean = @{}
        for ($i = 1; $i -le 40; $i++) { $clean["file-$i.txt"] = "clean file $i`n" }
        $first = New-TestTree -Root (Join-Path $D.Base 'term-first') -Files $clean
        # the second root holds the gate: the walker reaches it after the first root
        $second = New-TestTree -Root (Join-Path $D.Base 'term-second') -Files @{ 'gate.bin' = 'held here' }
        $gate = Start-OpenGate -Path (Join-Path $second 'gate.bin') -DaemonPid $D.Process.Id
        try {
            $module = Join-Path (Get-TestEnv 'PAL_PSMODULE_DIR') 'Palisade.psd1'
            $script = Join-Path $D.Base 'terminal-scan.ps1'
            [System.IO.File]::WriteAllText($script, @"
Import-Module '$module'
`$env:PALISADE_SOCKET = '$($D.Socket)'
Start-Scan -Path '$first', '$second'
"@)
            $pwsh = Get-TestEnv 'PAL_PWSH'
            Invoke-Tmux new-session -d -s scan -x 160 -y 40 "'$pwsh' -NoLogo -NoProfile -NoExit -File '$script'" | Out-Null

            Wait-GateHeld $gate
            $screen = Wait-Until -What 'the progress bar on the screen' {
                $s = Get-Screen
                if ($s -match 'Palisade Custom scan' -and $s -match '\d+ files, .+ scanned, \d+ threats') { $s }
            }
            $screen | Should -Match 'Palisade Custom scan'
            $screen | Should -Match '\d+ files, .+ scanned, \d+ threats'

            Invoke-Tmux send-keys -t scan C-c | Out-Null
            # printed once the agent has taken the cancel: only then may the scan go on
            Wait-Until -What 'the cancel to reach the agent' { (Get-Screen) -match 'Cancel requested' } | Out-Null
        } finally {
            Open-Gate $gate
        }
        $screen = Wait-Until -What 'the scan to stop' {
            $s = Get-Screen
            if ($s -match 'recorded it as (\w+)') { $s }
        }
        $screen | Should -Match 'recorded it as Cancelled'
        $last = (Get-AgentStatus).LastScan
        $last.Status | Should -Be 'Cancelled'
        $last.ScanType | Should -Be 'Custom'
        (Invoke-PalisadeCli $D scans).items[0].status | Should -Be 'Cancelled'
        # the pane's pwsh is back at its prompt, not stuck in the scan
        Invoke-Tmux send-keys -t scan "'still-alive-' + (6*7)" Enter | Out-Null
        Wait-Until -What 'the prompt to answer' { (Get-Screen) -match 'still-alive-42' } | Out-Null
    }
}

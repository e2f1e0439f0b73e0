#
# Parameter.ps1 — parameter helpers: tab completion of setting names and values, paths as the
# agent needs them.
#
# Part of the Palisade module: psmodule/assemble.cmake joins Module.ps1, Private/*.ps1, the
# settings list generated from the C registry and Public/*.ps1 into the staged Palisade.psm1.
#

# ---- parameter helpers ----------------------------------------------------------------------

# $script:KnownPreferences, the settings palisaded knows (name -> the values that complete, or
# $null), is generated from the C registry at build time (KnownPreferences.ps1, written by
# palisade-settings-dump, agent/core/settings/settings_dump.c), so that it cannot drift from
# the agent. Names complete from the agent's live list when it answers (config.list needs
# admin rights), else from that table.
function Get-PreferenceNameCandidates([string]$Socket) {
    $res = Invoke-PalisadeOp -Op 'config.list' -Socket $Socket
    if (Test-PalisadeError $res) {
        return @($script:KnownPreferences.Keys)
    }
    return @($res['items'] | ForEach-Object { [string]$_['name'] })
}

function Get-PreferenceValueCandidates([string]$Name) {
    foreach ($k in $script:KnownPreferences.Keys) {
        if ($k -eq $Name -and $null -ne $script:KnownPreferences[$k]) {
            return $script:KnownPreferences[$k]
        }
    }
    return @()
}

function New-CompletionResults([string[]]$Candidates, [string]$WordToComplete) {
    $word = $WordToComplete.Trim('''"')
    foreach ($c in $Candidates) {
        if ($c -like "$word*") {
            $text = if ($c -match '[\s''"]') { "'" + ($c -replace "'", "''") + "'" } else { $c }
            [System.Management.Automation.CompletionResult]::new($text, $c, 'ParameterValue', $c)
        }
    }
}

# A file-system path as the agent needs it: absolute, relative paths taken from the current
# location, no wildcard expansion (a path is scanned literally).
function Resolve-AgentPath([System.Management.Automation.PSCmdlet]$Cmdlet, [string]$Path) {
    return $Cmdlet.SessionState.Path.GetUnresolvedProviderPathFromPSPath($Path)
}

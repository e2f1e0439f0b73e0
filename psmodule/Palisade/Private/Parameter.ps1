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

# Quarantine ids for -Id completion: the agent's items whose id starts with the word, each
# with its original path and threat as the tooltip. Nothing (never file names) when the agent
# does not answer or the caller may not list the quarantine.
function Get-QuarantineIdCompletion([string]$WordToComplete, [string]$Socket) {
    $word = $WordToComplete.Trim('''"')
    $res = Invoke-PalisadeOp -Op 'quarantine.list' -Socket $Socket
    if (Test-PalisadeError $res) {
        return
    }
    foreach ($item in @(Get-Field $res 'items')) {
        if ($null -eq $item) { continue }
        $id = [string](Get-Field $item 'id')
        if ($id -like "$word*") {
            $tip = '{0} ({1})' -f [string](Get-Field $item 'original_path'), [string](Get-Field $item 'threat')
            [System.Management.Automation.CompletionResult]::new($id, $id, 'ParameterValue', $tip)
        }
    }
}

# The DetectionId of the current pipeline object (a Palisade.ThreatDetection), or $null: for
# the message about a detection that has no quarantine item. Read from $_ rather than bound
# to a parameter, so that no hidden parameter shows in the help.
function Get-PipelineDetectionId($InputObject) {
    if ($null -ne $InputObject -and $InputObject -isnot [ValueType] -and $InputObject -isnot [string] -and
        $null -ne $InputObject.psobject.Properties['DetectionId']) {
        return $InputObject.DetectionId
    }
    return $null
}

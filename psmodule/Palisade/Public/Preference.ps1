#
# Preference.ps1 — Get-AgentPreference, Set-AgentPreference.
#
# Part of the Palisade module: psmodule/assemble.cmake joins Module.ps1, Private/*.ps1, the
# settings list generated from the C registry and Public/*.ps1 into the staged Palisade.psm1.
#

# ---- preferences ----------------------------------------------------------------------------

function Get-AgentPreference {
    <#
    .SYNOPSIS
    Shows the agent's settings with their effective values and where they come from.

    .DESCRIPTION
    Get-AgentPreference lists the agent's settings (Palisade.Preference): the effective
    Value, its Source (Default, Preference, Policy or Environment; SourceDetail names the
    policy file or variable), a Description, and the setting's type, default, allowed
    values or range. A Policy or Environment value wins over a preference and cannot be
    changed with Set-AgentPreference.

    A list setting (ExclusionPath, ExclusionExtension) is the exception: its policy entries
    stand beside the local ones unless policy sets ExclusionsMergePolicy to AdminOnly, and
    its Entries property lists each entry in effect with its Source (Policy or Preference)
    and, for a policy entry, the policy File. ExclusionsMergePolicy can be set only by
    policy.

    .PARAMETER Name
    Only these settings; wildcards are allowed. A name without wildcards that matches no
    setting is an ObjectNotFound error.

    .PARAMETER Socket
    The control socket of the agent to manage (as palisaded --socket and palisade --socket).
    Default: $env:PALISADE_SOCKET, else /run/palisade/palisaded.sock.

    .EXAMPLE
    PS> Get-AgentPreference

    Every setting.

    .EXAMPLE
    PS> Get-AgentPreference -Name *ThreatDefaultAction | Format-Table Name, Value, Source

    The remediation action of each severity.

    .EXAMPLE
    PS> (Get-AgentPreference -Name ScanThreads).Maximum

    The largest value ScanThreads takes.

    .EXAMPLE
    PS> (Get-AgentPreference -Name ExclusionPath).Entries

    Each excluded path with its Source (Policy or Preference) and policy File.

    .OUTPUTS
    Palisade.Preference

    .LINK
    Set-AgentPreference
    #>
    [CmdletBinding()]
    [OutputType('Palisade.Preference')]
    param(
        [Parameter(Position = 0, ValueFromPipeline, ValueFromPipelineByPropertyName)]
        [SupportsWildcards()]
        [ArgumentCompleter({
                param($commandName, $parameterName, $wordToComplete, $commandAst, $fakeBoundParameters)
                $m = @(Get-Module Palisade)[0]
                if ($m) { & $m { param($w, $s) New-CompletionResults (Get-PreferenceNameCandidates $s) $w } $wordToComplete ([string]$fakeBoundParameters['Socket']) }
            })]
        [ValidateNotNullOrEmpty()]
        [string[]]$Name,

        [ValidateNotNullOrEmpty()]
        [string]$Socket
    )
    begin {
        $res = Invoke-PalisadeOp -Op 'config.list'
        if (Test-PalisadeError $res) {
            $PSCmdlet.ThrowTerminatingError($res)
        }
        $all = @(Get-Field $res 'items' | Where-Object { $null -ne $_ } | ForEach-Object { ConvertTo-Preference $_ })
        $listAll = $true
    }
    process {
        if (-not $Name) {
            return
        }
        $listAll = $false
        foreach ($n in $Name) {
            $pattern = [System.Management.Automation.WildcardPattern]::new($n, 'IgnoreCase')
            $hits = @($all | Where-Object { $pattern.IsMatch($_.Name) })
            if ($hits.Count -eq 0 -and -not [System.Management.Automation.WildcardPattern]::ContainsWildcardCharacters($n)) {
                $PSCmdlet.WriteError((New-PalisadeErrorRecord -Code 'NotFound' -Target $n -Message (
                            "The agent has no setting named '$n'.") -Advice ('Settings: ' + (@($all | ForEach-Object Name) -join ', '))))
            }
            foreach ($h in $hits) { $PSCmdlet.WriteObject($h) }
        }
    }
    end {
        if ($listAll) {
            foreach ($h in $all) { $PSCmdlet.WriteObject($h) }
        }
    }
}

function Set-AgentPreference {
    <#
    .SYNOPSIS
    Changes a setting of the agent.

    .DESCRIPTION
    Set-AgentPreference stores a preference value for one of the agent's settings; it takes
    effect at once. The agent validates the value: a value it does not allow is an
    InvalidArgument error that lists the allowed values or the range. A setting managed by
    a policy file or forced by the agent's environment cannot be changed (PermissionDenied,
    naming the file or variable). A list setting is the exception: the value replaces its
    local entries, and the policy's entries stay in force beside them, unless policy sets
    ExclusionsMergePolicy to AdminOnly (then PermissionDenied). ExclusionsMergePolicy
    itself can be set only by policy.

    -Value is converted to the setting's type first: a number for integer settings, $true
    or $false (or 'true'/'false', 1/0) for switches, a list of strings for list settings.
    Names and, for settings with fixed values, values tab-complete.

    Requires root or membership in the agent's admin group.

    .PARAMETER Name
    The setting (Get-AgentPreference lists them).

    .PARAMETER Value
    The new value.

    .PARAMETER PassThru
    Output the resulting Palisade.Preference.

    .PARAMETER WhatIf
    Shows what the cmdlet would change, without changing anything.

    .PARAMETER Confirm
    Asks for confirmation before each change. ConfirmImpact is Medium: without -Confirm, PowerShell asks only when
    $ConfirmPreference is Medium or Low (its default is High).

    .PARAMETER Socket
    The control socket of the agent to manage (as palisaded --socket and palisade --socket).
    Default: $env:PALISADE_SOCKET, else /run/palisade/palisaded.sock.

    .EXAMPLE
    PS> Set-AgentPreference -Name ScanThreads -Value 4

    Scans four objects at a time.

    .EXAMPLE
    PS> Set-AgentPreference -Name SevereThreatDefaultAction -Value Remove -PassThru

    Deletes files with severe threats instead of quarantining them, and shows the setting.

    .EXAMPLE
    PS> Set-AgentPreference -Name ExclusionExtension -Value log, iso

    Replaces the extension exclusions with two entries (Add-AgentExclusion adds one).

    .OUTPUTS
    None, or Palisade.Preference with -PassThru.

    .LINK
    Get-AgentPreference
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    [OutputType('Palisade.Preference')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        [ArgumentCompleter({
                param($commandName, $parameterName, $wordToComplete, $commandAst, $fakeBoundParameters)
                $m = @(Get-Module Palisade)[0]
                if ($m) { & $m { param($w, $s) New-CompletionResults (Get-PreferenceNameCandidates $s) $w } $wordToComplete ([string]$fakeBoundParameters['Socket']) }
            })]
        [ValidateNotNullOrEmpty()]
        [string]$Name,

        [Parameter(Mandatory, Position = 1, ValueFromPipelineByPropertyName)]
        [ArgumentCompleter({
                param($commandName, $parameterName, $wordToComplete, $commandAst, $fakeBoundParameters)
                $m = @(Get-Module Palisade)[0]
                if ($m -and $fakeBoundParameters.ContainsKey('Name')) {
                    & $m { param($n, $w) New-CompletionResults (Get-PreferenceValueCandidates $n) $w } $fakeBoundParameters['Name'] $wordToComplete
                }
            })]
        [AllowEmptyCollection()]
        [AllowEmptyString()]
        [object]$Value,

        [switch]$PassThru,

        [ValidateNotNullOrEmpty()]
        [string]$Socket
    )
    process {
        $current = Invoke-PalisadeOp -Op 'config.get' -Arguments @{ name = $Name } -Target $Name -NotFoundAdvice 'Get-AgentPreference lists the settings; their names tab-complete.'
        if (Test-PalisadeError $current) {
            $PSCmdlet.ThrowTerminatingError($current)
        }
        $canonical = [string](Get-Field $current 'name')
        $typed = ConvertTo-SettingJsonValue ([string](Get-Field $current 'type')) $Value
        if (-not $PSCmdlet.ShouldProcess('palisaded', "Set $canonical to $(ConvertTo-Json -InputObject $typed -Compress)")) {
            return
        }
        $after = Invoke-PalisadeOp -Op 'config.set' -Arguments @{ name = $canonical; value = $typed } -Target $Value
        if (Test-PalisadeError $after) {
            $PSCmdlet.ThrowTerminatingError($after)
        }
        if ($PassThru) {
            $PSCmdlet.WriteObject((ConvertTo-Preference $after))
        }
    }
}

# A value of the setting's type where it converts; anything else goes as it is, for the
# agent to refuse with the allowed values.
function ConvertTo-SettingJsonValue([string]$Type, $Value) {
    # (Write-Output 31) arrives wrapped in a PSObject; $Value.BaseObject would look for a
    # property of the int itself (an error in strict mode): the wrapper is $Value.psobject
    if ($Value -is [System.Management.Automation.PSObject]) {
        $Value = $Value.psobject.BaseObject
    }
    switch ($Type) {
        'uint' {
            $n = [long]0
            if ($Value -is [string] -and [long]::TryParse($Value.Trim(), [System.Globalization.NumberStyles]::Integer,
                    [System.Globalization.CultureInfo]::InvariantCulture, [ref]$n)) {
                return $n
            }
            if ($Value -is [int] -or $Value -is [long] -or $Value -is [uint32] -or $Value -is [uint64] -or
                $Value -is [int16] -or $Value -is [byte]) {
                return [long]$Value
            }
            return $Value
        }
        'bool' {
            if ($Value -is [bool]) { return $Value }
            if ($Value -is [string]) {
                switch -Regex ($Value.Trim()) {
                    '^(true|1|yes|on|enabled)$' { return $true }
                    '^(false|0|no|off|disabled)$' { return $false }
                }
            }
            if ($Value -is [int] -or $Value -is [long]) {
                if ($Value -eq 1) { return $true }
                if ($Value -eq 0) { return $false }
            }
            return $Value
        }
        'list' {
            return , [string[]]@($Value | Where-Object { $null -ne $_ } | ForEach-Object { [string]$_ })
        }
        default {
            if ($Value -is [string]) { return $Value }
            if ($null -ne $Value -and $Value -isnot [System.Collections.IEnumerable]) { return [string]$Value }
            return $Value
        }
    }
}

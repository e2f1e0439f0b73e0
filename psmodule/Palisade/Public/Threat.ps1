#
# Threat.ps1 — Get-ThreatHistory.
#
# Part of the Palisade module: psmodule/assemble.cmake joins Module.ps1, Private/*.ps1, the
# settings list generated from the C registry and Public/*.ps1 into the staged Palisade.psm1.
#

# ---- Get-ThreatHistory ----------------------------------------------------------------------

function Get-ThreatHistory {
    <#
    .SYNOPSIS
    Lists the threats the agent has detected, newest first.

    .DESCRIPTION
    Get-ThreatHistory reads the agent's detection history: one Palisade.ThreatDetection per
    finding, with the threat's name and severity, the path (a finding inside a container
    names its chain, /srv/a.zip->docs/b.tar.gz->eicar.com), the SHA-256 of the detected
    object, when and by which scan it was found, and what was done about it (Action and
    ActionResult; QuarantineId when the file is in the quarantine).

    The filters are applied by the agent. Without -First, the newest 1000 detections that
    match are returned.

    Pipe the output to Restore-QuarantineItem or Remove-QuarantineItem to act on the
    quarantined files of the detections, or to Get-QuarantineItem to see them.

    .PARAMETER Since
    Only detections at or after this time (local time unless the value says otherwise).

    .PARAMETER ThreatName
    Only threats whose name matches this pattern; * and ? are wildcards.

    .PARAMETER Severity
    Only this severity: Low, Moderate, High or Severe.

    .PARAMETER Path
    Only detections whose path matches this pattern; * and ? are wildcards.

    .PARAMETER ScanId
    Only the detections of this scan (the ScanId of a Palisade.ScanResult; taken from the
    pipeline by property name).

    .PARAMETER First
    At most this many detections (1 to 100000).

    .PARAMETER Socket
    The control socket of the agent to manage (as palisaded --socket and palisade --socket).
    Default: $env:PALISADE_SOCKET, else /run/palisade/palisaded.sock.

    .EXAMPLE
    PS> Get-ThreatHistory -Since (Get-Date).AddDays(-1)

    The detections of the last 24 hours.

    .EXAMPLE
    PS> Get-ThreatHistory -Severity Severe -ThreatName 'Trojan:*' | Format-List

    Every severe Trojan detection, with all properties.

    .EXAMPLE
    PS> Start-Scan -Path /srv/upload | Get-ThreatHistory

    The detections of the scan just run.

    .EXAMPLE
    PS> Get-ThreatHistory -Path '/home/*' -First 10 | Restore-QuarantineItem -WhatIf

    Shows what restoring the ten newest quarantined finds under /home would do.

    .INPUTS
    Palisade.ScanResult (its ScanId).

    .OUTPUTS
    Palisade.ThreatDetection

    .LINK
    Get-QuarantineItem

    .LINK
    about_Palisade
    #>
    [CmdletBinding()]
    [OutputType('Palisade.ThreatDetection')]
    param(
        [datetime]$Since,

        [SupportsWildcards()]
        [ValidateNotNullOrEmpty()]
        [string]$ThreatName,

        [ValidateSet('Low', 'Moderate', 'High', 'Severe')]
        [string]$Severity,

        [SupportsWildcards()]
        [ValidateNotNullOrEmpty()]
        [string]$Path,

        [Parameter(ValueFromPipelineByPropertyName)]
        [ValidateRange(1, [long]::MaxValue)]
        [long]$ScanId,

        [ValidateRange(1, 100000)]
        [int]$First,

        [ValidateNotNullOrEmpty()]
        [string]$Socket
    )
    process {
        $query = @{}
        if ($PSBoundParameters.ContainsKey('Since')) { $query['since'] = ConvertTo-PalisadeTime $Since }
        if ($ThreatName) { $query['threat'] = $ThreatName }
        if ($Severity) { $query['severity'] = $Severity }
        if ($Path) { $query['path'] = $Path }
        if ($PSBoundParameters.ContainsKey('ScanId')) { $query['scan_id'] = $ScanId }
        if ($PSBoundParameters.ContainsKey('First')) { $query['limit'] = $First }
        $res = Invoke-PalisadeOp -Op 'threats.list' -Arguments $query
        if (Test-PalisadeError $res) {
            $PSCmdlet.ThrowTerminatingError($res)
        }
        foreach ($item in @(Get-Field $res 'items')) {
            if ($null -ne $item) {
                $PSCmdlet.WriteObject((ConvertTo-ThreatDetection $item))
            }
        }
    }
}

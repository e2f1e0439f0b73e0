#
# ScanHistory.ps1 — Get-ScanHistory.
#
# Part of the Palisade module: psmodule/assemble.cmake joins Module.ps1, Private/*.ps1, the
# settings list generated from the C registry and Public/*.ps1 into the staged Palisade.psm1.
#

# ---- Get-ScanHistory ------------------------------------------------------------------------

function ConvertTo-ScanRecord([System.Collections.IDictionary]$Item) {
    [pscustomobject]@{
        PSTypeName       = 'Palisade.ScanRecord'
        ScanId           = [long](Get-Field $Item 'scan_id')
        ScanType         = [string](Get-Field $Item 'type')
        Status           = [string](Get-Field $Item 'status')
        # Client, or Scheduled / CatchUp for a scan the agent's schedule started
        Trigger          = [string](Get-Field $Item 'trigger')
        StartTime        = ConvertFrom-PalisadeTime (Get-Field $Item 'start_time')
        EndTime          = ConvertFrom-PalisadeTime (Get-Field $Item 'end_time')
        FilesScanned     = [long](Get-Field $Item 'files_scanned')
        BytesScanned     = [long](Get-Field $Item 'bytes_scanned')
        ThreatsFound     = [long](Get-Field $Item 'threats')
        UnscannableCount = [long](Get-Field $Item 'unscannable')
        # the agent sends the roots in their display form already (escaped, never raw)
        Paths            = [string[]]@(Get-Field $Item 'paths' | Where-Object { $null -ne $_ })
        Error            = [string](Get-Field $Item 'error')
    }
}

function Get-ScanHistory {
    <#
    .SYNOPSIS
    Lists the scans the agent has run, newest first.

    .DESCRIPTION
    Get-ScanHistory reads the agent's scan history: one Palisade.ScanRecord per scan, with
    its type, outcome (Completed, Cancelled, Failed), times, what started it (Trigger:
    Client, or Scheduled and CatchUp for the agent's scheduled scans), the roots it walked,
    and its counts of files, bytes, threats and unscannable objects. Pipe a record to
    Get-ThreatHistory for the detections of that scan.

    Requires root or membership in the agent's admin group.

    .PARAMETER First
    At most this many scans (1 to 10000; default 50).

    .PARAMETER Socket
    The control socket of the agent to manage (as palisaded --socket and palisade --socket).
    Default: $env:PALISADE_SOCKET, else /run/palisade/palisaded.sock.

    .EXAMPLE
    PS> Get-ScanHistory -First 5

    The five newest scans.

    .EXAMPLE
    PS> Get-ScanHistory | Where-Object ThreatsFound -gt 0 | Get-ThreatHistory

    The detections of every recent scan that found something.

    .OUTPUTS
    Palisade.ScanRecord

    .LINK
    Get-ThreatHistory

    .LINK
    Start-Scan
    #>
    [CmdletBinding()]
    [OutputType('Palisade.ScanRecord')]
    param(
        [ValidateRange(1, 10000)]
        [int]$First,

        [ValidateNotNullOrEmpty()]
        [string]$Socket
    )
    $query = @{}
    if ($PSBoundParameters.ContainsKey('First')) { $query['limit'] = $First }
    $res = Invoke-PalisadeOp -Op 'scans.list' -Arguments $query
    if (Test-PalisadeError $res) {
        $PSCmdlet.ThrowTerminatingError($res)
    }
    foreach ($item in @(Get-Field $res 'items')) {
        if ($null -ne $item) {
            $PSCmdlet.WriteObject((ConvertTo-ScanRecord $item))
        }
    }
}

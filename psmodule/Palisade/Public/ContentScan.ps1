#
# ContentScan.ps1 — Invoke-ContentScan: scan content that is not a file (op scan.buffer).
#
# Part of the Palisade module: psmodule/assemble.cmake joins Module.ps1, Private/*.ps1, the
# settings list generated from the C registry and Public/*.ps1 into the staged Palisade.psm1.
#

# ---- Invoke-ContentScan -----------------------------------------------------------------------

# The most bytes one scan.buffer request takes (PALISADE_BUFFER_SCAN_MAX, palisade.h).
$script:ContentScanMax = 512 * 1024

function ConvertTo-ContentScanResult([System.Collections.IDictionary]$Res) {
    $threats = @(Get-Field $Res 'threats' | Where-Object { $null -ne $_ })
    [pscustomobject]@{
        PSTypeName   = 'Palisade.ContentScanResult'
        Verdict      = [string](Get-Field $Res 'verdict')
        Name         = [string](Get-Field $Res 'name')
        Size         = ConvertTo-NullableLong (Get-Field $Res 'size')
        ThreatName   = @($threats | ForEach-Object { [string](Get-Field $_ 'threat') })
        Severity     = @($threats | ForEach-Object { [string](Get-Field $_ 'severity') })
        DetectionId  = @($threats | ForEach-Object { ConvertTo-NullableLong (Get-Field $_ 'detection_id') })
        Allowed      = @($threats | ForEach-Object { [bool](Get-Field $_ 'allowed') })
        Reason       = Get-Field $Res 'reason'
        ReasonDetail = Get-Field $Res 'reason_detail'
    }
}

function Invoke-ContentScan {
    <#
    .SYNOPSIS
    Scans content that is not a file: a script before it runs, a download before it is saved.

    .DESCRIPTION
    Invoke-ContentScan asks the agent about content held in memory, as Windows applications
    ask Defender through AMSI. The agent scans it exactly as it scans a file's content (in its
    sandboxed content process when the sandbox is enabled), keeps none of it, and answers one
    Palisade.ContentScanResult: Verdict clean, threat or unscannable. A threat is recorded in
    the threat history (Get-ThreatHistory) with the path "buffer:<Name>", your uid and process
    id, and the action NoAction: there is no file to quarantine. A threat on the allowed list
    (Add-AllowedThreat) is listed with Allowed $true and does not make the verdict threat.

    -Content takes a string (sent as UTF-8) or a byte array, also from the pipeline: pipe
    Get-Content -Raw (one string for the whole file) or Get-Content -AsByteStream -Raw. Each
    pipeline object is scanned on its own; single bytes from the pipeline are joined and
    scanned as one content at the end. At most 512 KiB per content.

    Any user may run it (a caller outside the agent's admin group is answered through the
    read-only status socket). Each user is limited per minute by the agent's settings
    BufferScanMaxPerMinute and BufferScanMaxBytesPerMinute; beyond them the request fails
    with a Busy error naming the limit.

    .PARAMETER Content
    The content: a string (sent as UTF-8) or a byte array.

    .PARAMETER Name
    A hint that names the content in the result and the threat history, e.g. the script's
    or the download's name (at most 255 bytes).

    .PARAMETER Socket
    The control socket of the agent to manage (as palisaded --socket and palisade --socket).
    Default: $env:PALISADE_SOCKET, else /run/palisade/palisaded.sock.

    .EXAMPLE
    PS> Get-Content -Raw ./install.ps1 | Invoke-ContentScan -Name install.ps1

    Scans a script before running it; Verdict says whether it is a threat.

    .EXAMPLE
    PS> $bytes = (Invoke-WebRequest https://example.org/tool.zip).Content
    PS> if ((Invoke-ContentScan -Content $bytes -Name tool.zip).Verdict -eq 'clean') { Set-Content -AsByteStream tool.zip $bytes }

    Saves a download only when the agent found it clean.

    .OUTPUTS
    Palisade.ContentScanResult

    .LINK
    Get-ThreatHistory

    .LINK
    about_Palisade
    #>
    [CmdletBinding()]
    [OutputType('Palisade.ContentScanResult')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipeline)]
        [AllowEmptyString()]
        [object]$Content,

        [ValidateLength(1, 255)]
        [string]$Name,

        [ValidateNotNullOrEmpty()]
        [string]$Socket
    )
    begin {
        $pending = [System.Collections.Generic.List[byte]]::new()

        function Invoke-OneContentScan([byte[]]$Bytes) {
            if ($Bytes.Length -gt $script:ContentScanMax) {
                $PSCmdlet.WriteError((New-PalisadeErrorRecord -Code 'InvalidValue' -Message (
                            "the content is $($Bytes.Length) bytes, more than the $($script:ContentScanMax) a content scan takes; save it to a file and use Start-Scan")))
                return
            }
            $query = @{ content_b64 = [System.Convert]::ToBase64String($Bytes) }
            if ($Name) { $query['name'] = $Name }
            $res = Invoke-PalisadeOp -Op 'scan.buffer' -Arguments $query -Target $Name -NotFoundAdvice 'Update-Signature puts a signature package in force.'
            if (Test-PalisadeError $res) {
                $PSCmdlet.WriteError($res)
                return
            }
            $PSCmdlet.WriteObject((ConvertTo-ContentScanResult $res))
        }
    }
    process {
        # -is sees through the PSObject wrapper a pipeline puts around a value
        $value = $Content
        if ($value -is [byte]) {
            $pending.Add($value)
        } elseif ($value -is [byte[]]) {
            Invoke-OneContentScan $value
        } elseif ($value -is [string]) {
            Invoke-OneContentScan ([System.Text.Encoding]::UTF8.GetBytes($value))
        } elseif ($null -eq $value) {
            Invoke-OneContentScan ([byte[]]::new(0))
        } else {
            $PSCmdlet.WriteError((New-PalisadeErrorRecord -Code 'InvalidValue' -Message (
                        "-Content takes a string or a byte array, not $($value.GetType().FullName)")))
        }
    }
    end {
        if ($pending.Count -gt 0) {
            Invoke-OneContentScan $pending.ToArray()
        }
    }
}

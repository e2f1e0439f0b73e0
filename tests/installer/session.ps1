#
# session.ps1 — what an administrator does with the installed agent, from a fresh
# `pwsh -NoProfile` (run by tests/installer/test_deb.sh; not a Pester file: it must run with
# nothing but the package's module on the default module path).
#
#   -Phase scan    Import-Module Palisade (by name only), Start-Scan -Path <Corpus>,
#                  Get-ThreatHistory and Get-QuarantineItem show the EICAR detections, the
#                  archive is restored (test_deb.sh checks its owner and mode), a preference
#                  is set; what must survive an upgrade is written to -StateFile
#   -Phase verify  the same detections, quarantined items and preference are still there
#
# Any failed expectation throws: pwsh exits non-zero with the message.
#
param(
    [Parameter(Mandatory)][ValidateSet('scan', 'verify')][string]$Phase,
    [Parameter(Mandatory)][string]$StateFile,
    [string]$Corpus
)
Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'

$ExpectedModuleBase = '/usr/local/share/powershell/Modules/Palisade'
$Eicar = 'Virus:DOS/EICAR_Test_File'
$PreferenceName = 'ScanThreads'
$PreferenceValue = 3

function Assert([bool]$Condition, [string]$Message) {
    if (-not $Condition) {
        throw "FAILED: $Message"
    }
    Write-Host "ok: $Message"
}

Import-Module Palisade
$module = Get-Module Palisade
Assert ($module.ModuleBase -eq $ExpectedModuleBase) "Import-Module Palisade loads the installed module ($($module.ModuleBase))"

$status = Get-AgentStatus
Assert ($status.Running) 'Get-AgentStatus: the agent is running'
Assert ($null -ne $status.SignatureVersion) "the starter signatures are in force (version $($status.SignatureVersion))"
Assert ($status.SandboxMode -eq 'Enabled' -and $status.ScanEngine -eq 'ContentProcess') "scans run in the sandboxed content process (SandboxMode $($status.SandboxMode), ScanEngine $($status.ScanEngine))"
Assert ($status.Degraded.Count -eq 0) "the agent is not degraded ($($status.Degraded -join '; '))"

# The module found libpalisade through the loader, at its installed path.
$maps = Get-Content "/proc/$PID/maps" | Where-Object { $_ -match 'libpalisade\.so' }
$libs = @($maps | ForEach-Object { ($_ -split '\s+')[-1] } | Sort-Object -Unique)
Assert ($libs.Count -eq 1 -and $libs[0] -match '^/usr/lib/([a-z0-9_]+-linux-gnu/)?libpalisade\.so\.0') "libpalisade loaded from the package ($($libs -join ', '))"

if ($Phase -eq 'scan') {
    Assert (Test-Path -LiteralPath $Corpus -PathType Container) "the corpus $Corpus exists"
    $result = Start-Scan -Path $Corpus
    Assert ($result.Status -eq 'Completed') "Start-Scan completed (status $($result.Status))"
    Assert ($result.ThreatsFound -ge 2) "Start-Scan found the threats ($($result.ThreatsFound))"

    $history = @(Get-ThreatHistory | Where-Object { $_.ScanId -eq $result.ScanId })
    $plain = @($history | Where-Object { $_.Path -eq "$Corpus/eicar.com" -and $_.ThreatName -eq $Eicar })
    $inZip = @($history | Where-Object { $_.Path -eq "$Corpus/nested/archive.zip->eicar.com" -and $_.ThreatName -eq $Eicar })
    Assert ($plain.Count -eq 1) 'Get-ThreatHistory: eicar.com is detected'
    Assert ($inZip.Count -eq 1) 'Get-ThreatHistory: the EICAR file inside nested/archive.zip is detected'
    $clean = @($history | Where-Object { $_.Path -like '*clean.txt*' })
    Assert ($clean.Count -eq 0) 'Get-ThreatHistory: the clean file is not'
    foreach ($d in $plain + $inZip) {
        Assert ($d.Action -eq 'Quarantine' -and $d.ActionResult -eq 'Success') "$($d.Path): $($d.Action) $($d.ActionResult)"
    }
    Assert (-not (Test-Path -LiteralPath "$Corpus/eicar.com")) 'eicar.com is no longer where it was'

    $quarantine = @(Get-QuarantineItem)
    Assert ($quarantine.Count -ge 2) "Get-QuarantineItem lists the quarantined files ($($quarantine.Count))"
    $zip = @($quarantine | Where-Object { $_.OriginalPath -eq "$Corpus/nested/archive.zip" })
    Assert ($zip.Count -eq 1) 'the archive is in the quarantine'
    Restore-QuarantineItem -Id $zip[0].Id -Confirm:$false
    Assert (Test-Path -LiteralPath "$Corpus/nested/archive.zip") 'Restore-QuarantineItem put the archive back'
    $quarantine = @(Get-QuarantineItem)
    Assert (@($quarantine | Where-Object { $_.Id -eq $zip[0].Id }).Count -eq 0) 'the restored item left the quarantine'

    Set-AgentPreference -Name $PreferenceName -Value $PreferenceValue
    $pref = Get-AgentPreference -Name $PreferenceName
    Assert ($pref.Value -eq $PreferenceValue -and $pref.Source -eq 'Preference') "preference $PreferenceName = $($pref.Value) ($($pref.Source))"

    [ordered]@{
        detections = @($history | ForEach-Object { $_.DetectionId } | Sort-Object)
        quarantine = @($quarantine | ForEach-Object { $_.Id } | Sort-Object)
    } | ConvertTo-Json | Set-Content -LiteralPath $StateFile
} else {
    $saved = Get-Content -Raw -LiteralPath $StateFile | ConvertFrom-Json
    $ids = @(Get-ThreatHistory | ForEach-Object { $_.DetectionId })
    foreach ($id in $saved.detections) {
        Assert ($ids -contains $id) "detection $id is still in Get-ThreatHistory"
    }
    $qids = @(Get-QuarantineItem | ForEach-Object { $_.Id })
    foreach ($id in $saved.quarantine) {
        Assert ($qids -contains $id) "quarantined item $id is still in Get-QuarantineItem"
    }
    $pref = Get-AgentPreference -Name $PreferenceName
    Assert ($pref.Value -eq $PreferenceValue -and $pref.Source -eq 'Preference') "preference $PreferenceName is still $($pref.Value) ($($pref.Source))"
}

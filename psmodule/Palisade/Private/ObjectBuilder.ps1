#
# ObjectBuilder.ps1 — the agent's items as typed Palisade.* objects.
#
# Part of the Palisade module: psmodule/assemble.cmake joins Module.ps1, Private/*.ps1, the
# settings list generated from the C registry and Public/*.ps1 into the staged Palisade.psm1.
#

# ---- object builders ------------------------------------------------------------------------

function ConvertTo-ThreatDetection([System.Collections.IDictionary]$Item) {
    $o = [pscustomobject]@{
        PSTypeName   = 'Palisade.ThreatDetection'
        DetectionId  = ConvertTo-NullableLong (Get-Field $Item 'detection_id')
        ThreatName   = [string](Get-Field $Item 'threat')
        Severity     = [string](Get-Field $Item 'severity')
        Category     = [string](Get-Field $Item 'category')
        Path         = [string](Get-Field $Item 'path')
        Sha256       = [string](Get-Field $Item 'sha256')
        DetectedAt   = ConvertFrom-PalisadeTime (Get-Field $Item 'detected_at')
        Source       = [string](Get-Field $Item 'source')
        ScanId       = ConvertTo-NullableLong (Get-Field $Item 'scan_id')
        Action       = [string](Get-Field $Item 'action')
        ActionResult = [string](Get-Field $Item 'action_result')
        QuarantineId = ConvertTo-NullableLong (Get-Field $Item 'quarantine_id')
        Size         = ConvertTo-NullableLong (Get-Field $Item 'size')
        FilePath     = [string](Get-Field $Item 'file')
        ActionDetail = [string](Get-Field $Item 'action_detail')
        # the process behind a real-time or buffer-scan detection ($null: none or unknown)
        ProcessId         = ConvertTo-NullableLong (Get-Field $Item 'process_pid')
        ProcessUserId     = ConvertTo-NullableLong (Get-Field $Item 'process_uid')
        ProcessExecutable = Get-Field $Item 'process_exe'
    }
    Add-PalisadeNameProperty $o $Item 'Path', 'path', 'FilePath', 'file', 'ProcessExecutable', 'process_exe'
    return $o
}

function ConvertTo-QuarantineItem([System.Collections.IDictionary]$Item) {
    $o = [pscustomobject]@{
        PSTypeName    = 'Palisade.QuarantineItem'
        Id            = [long](Get-Field $Item 'id')
        QuarantinedAt = ConvertFrom-PalisadeTime (Get-Field $Item 'quarantined_at')
        ThreatName    = [string](Get-Field $Item 'threat')
        OriginalPath  = [string](Get-Field $Item 'original_path')
        Sha256        = [string](Get-Field $Item 'sha256')
        Size          = ConvertTo-NullableLong (Get-Field $Item 'size')
        DetectionId   = ConvertTo-NullableLong (Get-Field $Item 'detection_id')
        OwnerId       = ConvertTo-NullableLong (Get-Field $Item 'owner')
        GroupId       = ConvertTo-NullableLong (Get-Field $Item 'group')
        Mode          = if ($null -ne (Get-Field $Item 'mode')) { [Convert]::ToString([long](Get-Field $Item 'mode'), 8).PadLeft(4, '0') } else { $null }
        LastWriteTime = ConvertFrom-PalisadeTime (Get-Field $Item 'mtime')
    }
    Add-PalisadeNameProperty $o $Item 'OriginalPath', 'original_path'
    return $o
}

# -ScanType: for status' last_quick_scan / last_full_scan, whose type is their key's.
function ConvertTo-ScanSummary([System.Collections.IDictionary]$Item, [string]$ScanType) {
    if ($null -eq $Item) {
        return $null
    }
    [pscustomobject]@{
        PSTypeName   = 'Palisade.ScanSummary'
        ScanId       = [long](Get-Field $Item 'scan_id')
        ScanType     = if ($ScanType) { $ScanType } else { [string](Get-Field $Item 'type') }
        Status       = [string](Get-Field $Item 'status')
        StartTime    = ConvertFrom-PalisadeTime (Get-Field $Item 'start_time')
        EndTime      = ConvertFrom-PalisadeTime (Get-Field $Item 'end_time')
        ThreatsFound = [int](Get-Field $Item 'threats')
    }
}

function ConvertTo-Preference([System.Collections.IDictionary]$Item) {
    $type = [string](Get-Field $Item 'type')
    [pscustomobject]@{
        PSTypeName    = 'Palisade.Preference'
        Name          = [string](Get-Field $Item 'name')
        Value         = ConvertTo-PreferenceValue $type (Get-Field $Item 'value')
        Source        = [string](Get-Field $Item 'source')
        SourceDetail  = [string](Get-Field $Item 'source_detail')
        Description   = [string](Get-Field $Item 'description')
        Type          = $type
        DefaultValue  = ConvertTo-PreferenceValue $type (Get-Field $Item 'default')
        AllowedValues = [string[]]@(Get-Field $Item 'allowed_values' | Where-Object { $null -ne $_ })
        Minimum       = ConvertTo-NullableLong (Get-Field $Item 'min')
        Maximum       = ConvertTo-NullableLong (Get-Field $Item 'max')
        # a list setting: each entry in effect with where it comes from (policy file or local)
        Entries       = @(Get-Field $Item 'entries' | Where-Object { $null -ne $_ } | ForEach-Object { ConvertTo-PreferenceEntry $_ })
    }
}

function ConvertTo-PreferenceEntry([System.Collections.IDictionary]$Item) {
    [pscustomobject]@{
        PSTypeName = 'Palisade.PreferenceEntry'
        Value      = [string](Get-Field $Item 'value')
        Source     = [string](Get-Field $Item 'source')
        File       = [string](Get-Field $Item 'file')
    }
}

function ConvertTo-PreferenceValue([string]$Type, $Value) {
    if ($Type -eq 'list') {
        return , [string[]]@($Value | Where-Object { $null -ne $_ })
    }
    if ($null -eq $Value) {
        return $null
    }
    switch ($Type) {
        'uint' { return [long]$Value }
        'bool' { return [bool]$Value }
        default { return [string]$Value }
    }
}

function ConvertTo-Exclusion([System.Collections.IDictionary]$Item) {
    [pscustomobject]@{
        PSTypeName = 'Palisade.Exclusion'
        Kind       = [string](Get-Field $Item 'kind')
        Value      = [string](Get-Field $Item 'value')
        Source     = [string](Get-Field $Item 'source')
        File       = [string](Get-Field $Item 'file')
    }
}

function ConvertTo-SandboxModeInfo([System.Collections.IDictionary]$Status) {
    [pscustomobject]@{
        PSTypeName             = 'Palisade.SandboxMode'
        Mode                   = [string](Get-Field $Status 'sandbox_mode')
        Source                 = [string](Get-Field $Status 'sandbox_mode_source')
        SourceDetail           = [string](Get-Field $Status 'sandbox_mode_source_detail')
        ContentProcessPid      = ConvertTo-NullableLong (Get-Field $Status 'content_process_pid')
        ContentProcessState    = [string](Get-Field $Status 'content_process_state')
        ContentProcessRestarts = [int](Get-Field $Status 'content_process_restarts')
        ScanEngine             = [string](Get-Field $Status 'scan_engine')
    }
}

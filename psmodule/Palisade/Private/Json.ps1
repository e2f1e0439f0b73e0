#
# Json.ps1 — the agent's JSON and times into PowerShell values, and back.
#
# Part of the Palisade module: psmodule/assemble.cmake joins Module.ps1, Private/*.ps1, the
# settings list generated from the C registry and Public/*.ps1 into the staged Palisade.psm1.
#

# ---- JSON -----------------------------------------------------------------------------------

# System.Text.Json rather than ConvertFrom-Json: the latter turns any string that looks like
# a date into a [datetime] (a file name, a message), and -DateKind does not exist in 7.2.
function ConvertFrom-JsonElement([System.Text.Json.JsonElement]$Element) {
    switch ($Element.ValueKind) {
        'Object' {
            $h = [System.Collections.Specialized.OrderedDictionary]::new([System.StringComparer]::Ordinal)
            foreach ($p in $Element.EnumerateObject()) {
                $v = $p.Value
                switch ($v.ValueKind) {
                    'String' { $h[$p.Name] = $v.GetString(); break }
                    'Number' {
                        $l = [long]0
                        if ($v.TryGetInt64([ref]$l)) { $h[$p.Name] = $l } else { $h[$p.Name] = $v.GetDouble() }
                        break
                    }
                    'True' { $h[$p.Name] = $true; break }
                    'False' { $h[$p.Name] = $false; break }
                    'Null' { $h[$p.Name] = $null; break }
                    default { $h[$p.Name] = ConvertFrom-JsonElement $v }
                }
            }
            return $h
        }
        'Array' {
            $list = [System.Collections.Generic.List[object]]::new()
            foreach ($v in $Element.EnumerateArray()) {
                switch ($v.ValueKind) {
                    'String' { $list.Add($v.GetString()); break }
                    'Number' {
                        $l = [long]0
                        if ($v.TryGetInt64([ref]$l)) { $list.Add($l) } else { $list.Add($v.GetDouble()) }
                        break
                    }
                    'True' { $list.Add($true); break }
                    'False' { $list.Add($false); break }
                    'Null' { $list.Add($null); break }
                    default { $list.Add((ConvertFrom-JsonElement $v)) }
                }
            }
            # the comma keeps an empty or one-element array an array through the pipeline
            return , $list.ToArray()
        }
        'String' { return $Element.GetString() }
        'Number' {
            $l = [long]0
            if ($Element.TryGetInt64([ref]$l)) { return $l }
            return $Element.GetDouble()
        }
        'True' { return $true }
        'False' { return $false }
        default { return $null }
    }
}

function ConvertFrom-PalisadeJson([string]$Text) {
    $doc = [System.Text.Json.JsonDocument]::Parse($Text)
    try {
        return ConvertFrom-JsonElement $doc.RootElement
    } finally {
        $doc.Dispose()
    }
}

function ConvertTo-PalisadeJson([System.Collections.IDictionary]$Arguments) {
    if ($null -eq $Arguments -or $Arguments.Count -eq 0) {
        return $null
    }
    return ConvertTo-Json -InputObject $Arguments -Compress -Depth 6
}

# The agent's times are RFC 3339 UTC strings; cmdlets show local [datetime] values.
function ConvertFrom-PalisadeTime($Value) {
    if ($null -eq $Value -or $Value -eq '') {
        return $null
    }
    $dto = [System.DateTimeOffset]::Parse([string]$Value, [System.Globalization.CultureInfo]::InvariantCulture,
        [System.Globalization.DateTimeStyles]::AssumeUniversal)
    return $dto.LocalDateTime
}

function ConvertTo-PalisadeTime([datetime]$Value) {
    # an Unspecified kind (a cast from a string) is taken as local time, as Get-Date gives
    return $Value.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'",
        [System.Globalization.CultureInfo]::InvariantCulture)
}

function Get-Field([System.Collections.IDictionary]$Item, [string]$Name) {
    if ($null -ne $Item -and $Item.Contains($Name)) {
        return $Item[$Name]
    }
    return $null
}

function ConvertTo-NullableLong($Value) {
    if ($null -eq $Value) {
        return $null
    }
    return [long]$Value
}

function Format-ByteCount([long]$Bytes) {
    if ($Bytes -ge 1GB) { return '{0:N1} GB' -f ($Bytes / 1GB) }
    if ($Bytes -ge 1MB) { return '{0:N1} MB' -f ($Bytes / 1MB) }
    if ($Bytes -ge 1KB) { return '{0:N1} KB' -f ($Bytes / 1KB) }
    return "$Bytes B"
}

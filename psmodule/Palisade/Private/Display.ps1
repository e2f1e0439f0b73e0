#
# Display.ps1 — names for people: the terminal-safe display form of attacker-chosen names.
#
# Part of the Palisade module: psmodule/assemble.cmake joins Module.ps1, Private/*.ps1, the
# settings list generated from the C registry and Public/*.ps1 into the staged Palisade.psm1.
#

# ---- names for people -----------------------------------------------------------------------

# The one PowerShell implementation of the display form of agent/util/display.h, which the
# CLI and the daemon's log use too: names (file paths, archive members) are attacker-chosen,
# and a name like "esc-<ESC>]0;PWNED<BEL><ESC>[2J.com" would set the terminal's title and
# clear the screen of whoever lists it. Reversible notation: \\ a backslash; \a \b \t \n \v \f
# \r \e those C0 controls; \xNN any other C0 control, DEL, and each byte that is not part of
# well-formed UTF-8 (a legacy code-page name); \uNNNN the C1 controls U+0080..U+009F (U+009B
# is CSI), the bidi controls U+061C, U+200E, U+200F, U+202A..U+202E, U+2066..U+2069 and the
# separators U+2028, U+2029; everything else as itself. Objects keep the exact name for
# scripts (Path, and PathBytes for the exact bytes); the default views show Display* forms.
$script:DisplayPattern = [regex]::new('[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\\]')
$script:DisplayEvaluator = [System.Text.RegularExpressions.MatchEvaluator] {
    param($Match)
    $c = [int]$Match.Value[0]
    switch ($c) {
        0x5C { return '\\' }
        0x07 { return '\a' }
        0x08 { return '\b' }
        0x09 { return '\t' }
        0x0A { return '\n' }
        0x0B { return '\v' }
        0x0C { return '\f' }
        0x0D { return '\r' }
        0x1B { return '\e' }
    }
    if ($c -lt 0x80) { return '\x{0:x2}' -f $c }
    return '\u{0:x4}' -f $c
}
$script:StrictUtf8 = [System.Text.UTF8Encoding]::new($false, $true)

# Length of the well-formed UTF-8 sequence at $Bytes[$At] (as display.c), or 0.
function Get-Utf8SequenceLength([byte[]]$Bytes, [int]$At) {
    $c = $Bytes[$At]
    if ($c -lt 0x80) { return 1 }
    $lo = 0x80; $hi = 0xBF
    if ($c -ge 0xC2 -and $c -le 0xDF) { $n = 2 }
    elseif ($c -ge 0xE0 -and $c -le 0xEF) { $n = 3; if ($c -eq 0xE0) { $lo = 0xA0 } elseif ($c -eq 0xED) { $hi = 0x9F } }
    elseif ($c -ge 0xF0 -and $c -le 0xF4) { $n = 4; if ($c -eq 0xF0) { $lo = 0x90 } elseif ($c -eq 0xF4) { $hi = 0x8F } }
    else { return 0 }
    if ($Bytes.Length - $At -lt $n -or $Bytes[$At + 1] -lt $lo -or $Bytes[$At + 1] -gt $hi) { return 0 }
    for ($k = 2; $k -lt $n; $k++) {
        if ($Bytes[$At + $k] -lt 0x80 -or $Bytes[$At + $k] -gt 0xBF) { return 0 }
    }
    return $n
}

# The display form of raw name bytes, or of a string (taken as its UTF-8 bytes).
function ConvertTo-PalisadeDisplay($Name) {
    if ($null -eq $Name) { return $null }
    if ($Name -is [string]) { return $script:DisplayPattern.Replace($Name, $script:DisplayEvaluator) }
    [byte[]]$bytes = $Name
    $text = $null
    try { $text = $script:StrictUtf8.GetString($bytes) } catch [System.ArgumentException] { $text = $null }
    if ($null -ne $text) { return $script:DisplayPattern.Replace($text, $script:DisplayEvaluator) }
    $sb = [System.Text.StringBuilder]::new()
    $i = 0
    while ($i -lt $bytes.Length) {
        $n = Get-Utf8SequenceLength $bytes $i
        if ($n -eq 0) {
            [void]$sb.Append(('\x{0:x2}' -f $bytes[$i]))
            $i++
        } else {
            $one = [System.Text.Encoding]::UTF8.GetString($bytes, $i, $n)
            [void]$sb.Append($script:DisplayPattern.Replace($one, $script:DisplayEvaluator))
            $i += $n
        }
    }
    return $sb.ToString()
}

# When an object is shown without its view (after an object of another type in the same
# output, or by Format-List without a view), PowerShell lists every property, the exact
# names too: these sets make it list the escaped ones instead. (Format-List * still shows
# everything: that is asking for the raw values.)
foreach ($set in @(
        @('Palisade.ThreatDetection', @('DetectionId', 'DetectedAt', 'ThreatName', 'Severity', 'Action', 'ActionResult', 'DisplayPath')),
        @('Palisade.QuarantineItem', @('Id', 'QuarantinedAt', 'ThreatName', 'Size', 'DisplayOriginalPath')),
        @('Palisade.UnscannableItem', @('Reason', 'DisplayPath', 'Detail')),
        @('Palisade.RestoredItem', @('Id', 'Allowed', 'DisplayRestoredPath')))) {
    Update-TypeData -TypeName $set[0] -DefaultDisplayPropertySet $set[1] -Force
}

# The exact bytes of a path the agent sent under $Key: $Key_b64 when the path is not UTF-8
# (then $Key holds only a display form), else the UTF-8 of the string. $null when absent.
function Get-PathBytes([System.Collections.IDictionary]$Item, [string]$Key) {
    $b64 = Get-Field $Item "${Key}_b64"
    if ($b64) { return , [Convert]::FromBase64String([string]$b64) }
    $s = Get-Field $Item $Key
    if ($null -eq $s) { return $null }
    return , [System.Text.Encoding]::UTF8.GetBytes([string]$s)
}

# For each (Property, key) pair, adds <Property>Bytes (exact bytes, for scripts) and
# Display<Property> (for people) to an object built from agent item $Item, whose key holds a
# path. One call per object, Get-PathBytes and ConvertTo-PalisadeDisplay inlined: this runs
# for each of up to 100,000 detections, and a PowerShell function call is not cheap.
function Add-PalisadeNameProperty($Object, [System.Collections.IDictionary]$Item, [string[]]$Pairs) {
    for ($i = 0; $i + 1 -lt $Pairs.Count; $i += 2) {
        $key = $Pairs[$i + 1]
        $bytes = $null
        $shown = $null
        if ($null -ne $Item) {
            $b64 = $Item["${key}_b64"]
            if ($b64) {
                $bytes = [Convert]::FromBase64String([string]$b64)
                $shown = ConvertTo-PalisadeDisplay $bytes
            } elseif ($null -ne $Item[$key]) {
                $text = [string]$Item[$key]
                $bytes = [System.Text.Encoding]::UTF8.GetBytes($text)
                $shown = $script:DisplayPattern.Replace($text, $script:DisplayEvaluator)
            }
        }
        $Object.PSObject.Properties.Add([psnoteproperty]::new($Pairs[$i] + 'Bytes', $bytes))
        $Object.PSObject.Properties.Add([psnoteproperty]::new('Display' + $Pairs[$i], $shown))
    }
}

#
# Palisade.psm1 — the Palisade module: cmdlets that manage palisaded through libpalisade.
#
# All protocol work (frames, hello, request ids, events, cancel) stays in the C library
# (psmodule/native/palisade.h); this file only turns cmdlet parameters into an op and its
# JSON arguments, and the JSON results into typed objects and ErrorRecords.
#
# The P/Invoke declarations are emitted with System.Reflection.Emit the first time a cmdlet
# needs the library, not compiled with Add-Type at import: Add-Type starts the C# compiler
# (0.4 to 0.6 s measured on the test machine, more when it is cold or busy), while the
# emitted type costs about a tenth of that on first use and nothing at import
# (bench/psmodule_import.sh prints both). No .NET SDK is needed to build or install. The library is taken from beside this file (a built
# or staged module folder) or, failing that, from the loader's search path (the installed
# /usr/lib/<triplet>/libpalisade.so.0).
#
# One connection per cmdlet invocation: handles are not shared between threads (the library
# is thread-compatible only), so ThreadJobs (-AsJob) and parallel runspaces get their own.
#
# Internal helpers return an ErrorRecord instead of throwing it (Test-PalisadeError tells):
# a `throw` caught inside the module would still land in the caller's -ErrorVariable.
#
Set-StrictMode -Version 3.0

# ---- native binding -------------------------------------------------------------------------

$script:LibraryName = 'libpalisade.so.0'
$script:Native = $null

# Kinds returned by palisade_next_event and the int return codes (palisade.h).
$script:PAL_OK = 0
$script:PAL_EVENT = 1
$script:PAL_RESULT = 2
$script:PAL_ERROR = 3
$script:PAL_TIMEOUT = 4

# How long one next-event wait lasts: short enough for Ctrl+C to act at once, long enough
# not to spin.
$script:PollMilliseconds = 200
# After a cancel, how long the cmdlet waits for the agent to record the scan as Cancelled.
$script:CancelDrainSeconds = 30

# The entry points of palisade.h as (name, return type, parameter types).
$script:NativeSignatures = @(
    , @('palisade_version', [IntPtr], @())
    , @('palisade_new', [IntPtr], @())
    , @('palisade_connect', [int], @([IntPtr], [string]))
    , @('palisade_socket_path', [IntPtr], @([IntPtr]))
    , @('palisade_agent_info', [IntPtr], @([IntPtr]))
    , @('palisade_call', [int], @([IntPtr], [string], [string], [IntPtr].MakeByRefType()))
    , @('palisade_start', [long], @([IntPtr], [string], [string]))
    , @('palisade_next_event', [int], @([IntPtr], [int], [long].MakeByRefType(), [IntPtr].MakeByRefType()))
    , @('palisade_cancel', [int], @([IntPtr], [long]))
    , @('palisade_error_code', [IntPtr], @([IntPtr]))
    , @('palisade_error_string', [IntPtr], @([IntPtr]))
    , @('palisade_free_string', [void], @([IntPtr]))
    , @('palisade_close', [int], @([IntPtr]))
)

function Get-PalisadeLibraryPath {
    # Beside the module (build tree, staged or copied module folder), else the loader's
    # search path (the distribution package installs it under /usr/lib/<triplet>/).
    $beside = Join-Path $PSScriptRoot $script:LibraryName
    if ([System.IO.File]::Exists($beside)) {
        return $beside
    }
    return $script:LibraryName
}

function Get-PalisadeNative {
    if ($null -ne $script:Native) {
        return $script:Native
    }
    $lib = Get-PalisadeLibraryPath
    # One emitted type per process and library: other runspaces (ThreadJobs) reuse it.
    $key = 'Palisade.Native|' + $lib
    $cached = [System.AppDomain]::CurrentDomain.GetData($key)
    if ($null -ne $cached) {
        $script:Native = $cached
        return $cached
    }
    $probe = [IntPtr]::Zero
    if (-not [System.Runtime.InteropServices.NativeLibrary]::TryLoad($lib, [ref]$probe)) {
        $where = if ($lib -eq $script:LibraryName) { 'on the loader''s search path' } else { $lib }
        return (New-PalisadeErrorRecord -Code 'LibraryMissing' -Message (
                "The Palisade client library $script:LibraryName cannot be loaded ($where; " +
                "it is looked for beside the module in $PSScriptRoot, then on the loader's " +
                'search path). Install the palisade package, or build the project and import ' +
                'the module staged in build/<dir>/psmodule/Palisade.'))
    }
    $asmName = [System.Reflection.AssemblyName]::new('Palisade.Native.' + [Guid]::NewGuid().ToString('N'))
    $asm = [System.Reflection.Emit.AssemblyBuilder]::DefineDynamicAssembly(
        $asmName, [System.Reflection.Emit.AssemblyBuilderAccess]::Run)
    $mod = $asm.DefineDynamicModule($asmName.Name)
    $tb = $mod.DefineType('Palisade.NativeMethods', 'Public, Class, Abstract, Sealed')
    foreach ($sig in $script:NativeSignatures) {
        $m = $tb.DefinePInvokeMethod($sig[0], $lib, 'Public, Static, PinvokeImpl',
            'Standard', $sig[1], [Type[]]$sig[2],
            [System.Runtime.InteropServices.CallingConvention]::Cdecl,
            # Ansi is UTF-8 on every Unix .NET: the library speaks UTF-8 only.
            [System.Runtime.InteropServices.CharSet]::Ansi)
        $m.SetImplementationFlags('PreserveSig')
    }
    $type = $tb.CreateType()
    [System.AppDomain]::CurrentDomain.SetData($key, $type)
    $script:Native = $type
    return $type
}

function ConvertFrom-NativeString([IntPtr]$Pointer) {
    if ($Pointer -eq [IntPtr]::Zero) {
        return $null
    }
    return [System.Runtime.InteropServices.Marshal]::PtrToStringUTF8($Pointer)
}

# Take a string the library allocated (char **): copy it and free the original.
function Receive-NativeString($Native, [IntPtr]$Pointer) {
    if ($Pointer -eq [IntPtr]::Zero) {
        return $null
    }
    try {
        return [System.Runtime.InteropServices.Marshal]::PtrToStringUTF8($Pointer)
    } finally {
        $Native::palisade_free_string($Pointer)
    }
}

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

# ---- errors ---------------------------------------------------------------------------------

# What each agent or library error code becomes: the ErrorRecord category, the .NET
# exception type (so that `catch [UnauthorizedAccessException]` works) and what the
# administrator can do about it.
$script:ErrorMap = @{
    Unavailable     = @{ Category = 'ResourceUnavailable'; Exception = [System.InvalidOperationException]
        Advice = 'Start the agent (systemctl start palisaded, or palisaded --foreground ... for a test instance), or set $env:PALISADE_SOCKET to the control socket of a running palisaded.' }
    AccessDenied    = @{ Category = 'PermissionDenied'; Exception = [System.UnauthorizedAccessException]; Advice = $null }
    PolicyLocked    = @{ Category = 'PermissionDenied'; Exception = [System.UnauthorizedAccessException]; Advice = $null }
    InvalidValue    = @{ Category = 'InvalidArgument'; Exception = [System.ArgumentException]
        Advice = 'Use one of the values the message lists; Get-AgentPreference -Name <name> shows the type, range and allowed values of a setting.' }
    BadRequest      = @{ Category = 'InvalidArgument'; Exception = [System.ArgumentException]
        Advice = 'Check the parameters against Get-Help <cmdlet> -Full.' }
    NotFound        = @{ Category = 'ObjectNotFound'; Exception = [System.Management.Automation.ItemNotFoundException]; Advice = $null }
    Exists          = @{ Category = 'ResourceExists'; Exception = [System.IO.IOException]; Advice = $null }
    Refused         = @{ Category = 'SecurityError'; Exception = [System.Security.SecurityException]
        Advice = 'The agent refused for the reason in the message and changed nothing.' }
    Busy            = @{ Category = 'ResourceBusy'; Exception = [System.InvalidOperationException]
        Advice = 'The agent is busy or stopping; try again when it is running.' }
    UnknownOp       = @{ Category = 'NotImplemented'; Exception = [System.NotSupportedException]
        Advice = 'The running palisaded does not know this operation: update the agent to the version of this module.' }
    VersionMismatch = @{ Category = 'ProtocolError'; Exception = [System.InvalidOperationException]
        Advice = 'The module and the agent speak different protocol versions: install matching versions.' }
    ProtocolError   = @{ Category = 'ProtocolError'; Exception = [System.InvalidOperationException]
        Advice = 'What answers on the socket is not a compatible palisaded; check $env:PALISADE_SOCKET.' }
    Internal        = @{ Category = 'NotSpecified'; Exception = [System.InvalidOperationException]
        Advice = 'The agent failed; its log (journalctl -u palisaded) says more.' }
    LibraryMissing  = @{ Category = 'ResourceUnavailable'; Exception = [System.DllNotFoundException]; Advice = $null }
    Usage           = @{ Category = 'InvalidArgument'; Exception = [System.ArgumentException]; Advice = $null }
}

function Get-AdminGroupName([string]$Message) {
    if ($Message -match "group '([^']+)'") {
        return $Matches[1]
    }
    return 'palisade-admin'
}

function New-PalisadeErrorRecord {
    param(
        [Parameter(Mandatory)][string]$Code,
        [Parameter(Mandatory)][string]$Message,
        [object]$Target,
        [string]$Advice
    )
    $map = $script:ErrorMap[$Code]
    if ($null -eq $map) {
        $map = $script:ErrorMap['Internal']
    }
    # an agent's message may name a file: shown in the display form, never raw
    $text = ConvertTo-PalisadeDisplay $Message.TrimEnd()
    if (-not $Advice) {
        switch ($Code) {
            'AccessDenied' {
                $group = Get-AdminGroupName $Message
                $Advice = "Run PowerShell as root (sudo pwsh), or have an administrator add you to the group '$group' " +
                "(usermod -aG $group <user>) and log in again."
                $text = "Access denied: $text. $Advice"
            }
            'PolicyLocked' {
                if ($Message -match 'environment variable') {
                    $Advice = 'Remove that variable from the palisaded service''s environment (systemctl edit palisaded) and restart the agent; a preference cannot override it.'
                } else {
                    $Advice = 'Change or remove the setting in that policy file (as root), then make the agent reload its policy (systemctl kill --signal=HUP palisaded); a preference cannot override policy.'
                }
                $text = "$text. $Advice"
            }
            default { $Advice = $map.Advice }
        }
    }
    $ex = New-Object -TypeName $map.Exception.FullName -ArgumentList $text
    $ex.Data['PalisadeCode'] = $Code
    $record = [System.Management.Automation.ErrorRecord]::new($ex, $Code,
        [System.Management.Automation.ErrorCategory]$map.Category, $Target)
    $record.ErrorDetails = [System.Management.Automation.ErrorDetails]::new($text)
    if ($Advice) {
        $record.ErrorDetails.RecommendedAction = $Advice
    }
    return $record
}

# The error of the last library call on handle $Handle as an ErrorRecord.
function Get-PalisadeHandleError($Native, [IntPtr]$Handle, [object]$Target, [string]$Advice) {
    $code = ConvertFrom-NativeString ($Native::palisade_error_code($Handle))
    $message = ConvertFrom-NativeString ($Native::palisade_error_string($Handle))
    if (-not $code) { $code = 'Internal' }
    if (-not $message) { $message = "libpalisade failed with $code" }
    return New-PalisadeErrorRecord -Code $code -Message $message -Target $Target -Advice $Advice
}

# ---- connections and calls --------------------------------------------------------------------

function Get-PalisadeSocketPath {
    # .NET keeps its own copy of the environment on Unix, so a $env:PALISADE_SOCKET set in
    # this session is invisible to the library's getenv: pass it explicitly.
    $s = [System.Environment]::GetEnvironmentVariable('PALISADE_SOCKET')
    if ([string]::IsNullOrEmpty($s)) {
        return $null
    }
    return $s
}

function Test-PalisadeError($Value) {
    return $Value -is [System.Management.Automation.ErrorRecord]
}

# A connected handle ([IntPtr]), or an ErrorRecord.
function Open-PalisadeConnection($Native) {
    $h = $Native::palisade_new()
    if ($h -eq [IntPtr]::Zero) {
        return (New-PalisadeErrorRecord -Code 'Internal' -Message 'libpalisade: out of memory')
    }
    if ($Native::palisade_connect($h, (Get-PalisadeSocketPath)) -ne $script:PAL_OK) {
        $record = Get-PalisadeHandleError $Native $h
        [void]$Native::palisade_close($h)
        return $record
    }
    return $h
}

<#
Run one op on a connection of its own. Returns the parsed result (an ordered dictionary), or
an ErrorRecord: the public cmdlet decides whether it ends the command.
#>
function Invoke-PalisadeOp {
    param(
        [Parameter(Mandatory)][string]$Op,
        [System.Collections.IDictionary]$Arguments,
        [object]$Target,
        [string]$NotFoundAdvice
    )
    $native = Get-PalisadeNative
    if (Test-PalisadeError $native) {
        return $native
    }
    $h = Open-PalisadeConnection $native
    if (Test-PalisadeError $h) {
        return $h
    }
    try {
        $out = [IntPtr]::Zero
        $rc = $native::palisade_call($h, $Op, (ConvertTo-PalisadeJson $Arguments), [ref]$out)
        if ($rc -ne $script:PAL_OK) {
            $advice = $null
            if ((ConvertFrom-NativeString ($native::palisade_error_code($h))) -eq 'NotFound') {
                $advice = $NotFoundAdvice
            }
            return (Get-PalisadeHandleError $native $h $Target $advice)
        }
        $text = Receive-NativeString $native $out
        return ConvertFrom-PalisadeJson $text
    } finally {
        [void]$native::palisade_close($h)
    }
}

# Ask the agent to cancel request $Id. True when the agent took the request (it answers at
# once; the scan then winds down and is recorded as Cancelled).
function Send-PalisadeCancel($Native, [IntPtr]$Handle, [long]$Id) {
    return $Native::palisade_cancel($Handle, $Id) -ge 0
}

# Read until request $Id's result and return it, or $null after $script:CancelDrainSeconds
# or when the connection fails. The agent records a cancelled scan before it sends the
# result, so once this returns a result, the history shows the scan as Cancelled.
function Receive-PalisadeFinalResult($Native, [IntPtr]$Handle, [long]$Id) {
    $deadline = [DateTime]::UtcNow.AddSeconds($script:CancelDrainSeconds)
    while ([DateTime]::UtcNow -lt $deadline) {
        $rid = [long]0
        $ptr = [IntPtr]::Zero
        $kind = $Native::palisade_next_event($Handle, 250, [ref]$rid, [ref]$ptr)
        if ($kind -lt 0) {
            return $null
        }
        $text = Receive-NativeString $Native $ptr
        if ($kind -eq $script:PAL_RESULT -and $rid -eq $Id) {
            return ConvertFrom-PalisadeJson $text
        }
        if ($kind -eq $script:PAL_ERROR -and $rid -eq $Id) {
            return $null
        }
    }
    return $null
}

# A line on the host while the pipeline stops (the output streams are closed by then).
function Write-HostNotice($Cmdlet, [string]$Text) {
    try {
        $Cmdlet.Host.UI.WriteWarningLine($Text)
    } catch {
        Write-Debug "no host to tell: $Text"
    }
}

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
    }
    Add-PalisadeNameProperty $o $Item 'Path', 'path', 'FilePath', 'file'
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

function ConvertTo-ScanSummary([System.Collections.IDictionary]$Item) {
    if ($null -eq $Item) {
        return $null
    }
    [pscustomobject]@{
        PSTypeName   = 'Palisade.ScanSummary'
        ScanId       = [long](Get-Field $Item 'scan_id')
        ScanType     = [string](Get-Field $Item 'type')
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

# ---- parameter helpers ----------------------------------------------------------------------

# The settings palisaded knows (agent/core/settings/settings.c), for tab completion when the agent
# cannot be asked; the live list is used when it can.
$script:KnownPreferences = [ordered]@{
    SandboxMode                  = @('Enabled', 'Disabled')
    ScanThreads                  = $null
    MaxRecursionDepth            = $null
    MaxMembersPerContainer       = $null
    MaxExpandedBytes             = $null
    MaxExpansionRatio            = $null
    MaxObjectSize                = $null
    MaxScanSecondsPerObject      = $null
    LowThreatDefaultAction       = @('Quarantine', 'Remove', 'NoAction')
    ModerateThreatDefaultAction  = @('Quarantine', 'Remove', 'NoAction')
    HighThreatDefaultAction      = @('Quarantine', 'Remove', 'NoAction')
    SevereThreatDefaultAction    = @('Quarantine', 'Remove', 'NoAction')
    ExclusionPath                = $null
    ExclusionExtension           = $null
    ExclusionsMergePolicy        = @('Merge', 'AdminOnly')
    ScanCacheEnabled             = @('true', 'false')
    QuarantineRetentionDays      = $null
    QuarantineMaxItemBytes       = $null
    QuarantineMaxTotalBytes      = $null
    QuarantineMinFreePercent     = $null
    AdminGroup                   = $null
    ClientIdleTimeoutSeconds     = $null
    CoreDumpsEnabled             = @('true', 'false')
    ContentProcessTimeoutSeconds = $null
}

function Get-PreferenceNameCandidates {
    $res = Invoke-PalisadeOp -Op 'config.list'
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



# ---- Start-Scan -----------------------------------------------------------------------------

function Start-Scan {
    <#
    .SYNOPSIS
    Runs an on-demand scan on the Palisade agent and returns its result.

    .DESCRIPTION
    Start-Scan asks palisaded to scan the machine (Quick: the places malware starts from and
    hides in; Full: every local file system) or the paths you give (Custom). The agent reads
    the files as root and hands their content to the sandboxed content process, which runs
    the scan engine; threats are remediated as the *ThreatDefaultAction preferences say.

    While the scan runs, a progress bar shows the files and bytes scanned, the percentage
    when the agent knows the total, the current path and the threats found so far. Ctrl+C
    (or Stop-Job for -AsJob) cancels the scan on the agent, which records it as Cancelled.

    -Path takes pipeline input by value (strings) and by property name (Path), and expands
    wildcards as other cmdlets do (`Start-Scan -Path '/srv/*.zip'`), on the file system, as
    the user running PowerShell; a pattern that matches nothing is an error (ObjectNotFound)
    and the other paths are still scanned. -LiteralPath takes names as they are (use it for
    names containing [ ] * ?); Get-ChildItem output binds to it by property name (PSPath,
    FullName), so `Get-ChildItem ... | Start-Scan` scans exactly what you select. Relative
    paths are resolved against the current location. A path below a directory that is also
    given is dropped, since the directory's scan covers it. At most 4096 paths go into one
    scan.

    A path that does not exist or that the agent cannot open is reported as a non-terminating
    error (ObjectNotFound or PermissionDenied, ErrorId ScanRootNotFound / ScanRootAccessDenied
    / ScanRootUnscannable, the path as TargetObject) while the other paths are still scanned;
    the result's RootErrors lists them. A symbolic link given as a path is resolved once by
    the agent and its target is scanned (a warning names the target; links inside the tree
    are never followed).

    At the end, a warning says when a threat could not be quarantined or removed (its
    ActionResult is Failed: an immutable file, a read-only file system; the agent reports
    itself Degraded until it is dealt with, see Get-AgentStatus) and when objects could not
    be examined (Unscannable, FullyExamined is $false). Allowed threats are listed with
    Action Allow but are not counted in ThreatsFound (AllowedThreats counts them).

    Requires root or membership in the agent's admin group (AdminGroup, default
    palisade-admin).

    .PARAMETER ScanType
    Quick, Full or Custom. -Path alone implies Custom; without either, a Quick scan runs.

    .PARAMETER Path
    Files or directories to scan (a Custom scan); wildcards are expanded.

    .PARAMETER LiteralPath
    Files or directories to scan, taken literally (no wildcard characters are interpreted).

    .PARAMETER AsJob
    Run the scan in a background thread job and return the job at once; Receive-Job gives
    the Palisade.ScanResult, Stop-Job cancels the scan.

    .EXAMPLE
    PS> Start-Scan

    Runs a Quick scan and shows its result.

    .EXAMPLE
    PS> Start-Scan -Path /home/alice/Downloads, /tmp

    Scans two directories (a Custom scan).

    .EXAMPLE
    PS> Start-Scan -Path '/srv/upload/*.zip'

    Scans every zip file in /srv/upload (the pattern is expanded as Get-Item would).

    .EXAMPLE
    PS> Start-Scan -LiteralPath '/srv/upload/report[1].pdf'

    Scans a file whose name contains wildcard characters.

    .EXAMPLE
    PS> Get-ChildItem /srv/upload -Filter *.zip | Start-Scan | Select-Object -ExpandProperty Threats

    Scans every zip file of a directory and lists the threats found.

    .EXAMPLE
    PS> $job = Start-Scan -ScanType Full -AsJob
    PS> $job | Wait-Job | Receive-Job

    Runs a Full scan in the background and collects its result later.

    .INPUTS
    System.String, or any object with a FullName or Path property (System.IO.FileInfo,
    System.IO.DirectoryInfo).

    .OUTPUTS
    Palisade.ScanResult, or a ThreadJob with -AsJob.

    .LINK
    Get-ThreatHistory

    .LINK
    about_Palisade
    #>
    [CmdletBinding(DefaultParameterSetName = 'Path')]
    [OutputType('Palisade.ScanResult')]
    param(
        [Parameter(Position = 0)]
        [ValidateSet('Quick', 'Full', 'Custom')]
        [string]$ScanType,

        [Parameter(ParameterSetName = 'Path', ValueFromPipeline, ValueFromPipelineByPropertyName)]
        [ValidateNotNullOrEmpty()]
        [SupportsWildcards()]
        [string[]]$Path,

        [Parameter(Mandatory, ParameterSetName = 'LiteralPath', ValueFromPipelineByPropertyName)]
        [Alias('PSPath', 'LP', 'FullName')]
        [ValidateNotNullOrEmpty()]
        [string[]]$LiteralPath,

        [switch]$AsJob
    )
    begin {
        $paths = [System.Collections.Generic.List[string]]::new()
        $pathsGiven = $false
    }
    process {
        # a threat from Get-ThreatHistory names a file that exists (or existed): never a pattern
        $literal = $PSCmdlet.ParameterSetName -eq 'LiteralPath' -or
            ($MyInvocation.ExpectingInput -and $null -ne $_ -and
            $_.PSObject.TypeNames -contains 'Palisade.ThreatDetection')
        $given = if ($PSCmdlet.ParameterSetName -eq 'LiteralPath') { $LiteralPath } else { $Path }
        foreach ($p in $given) {
            $pathsGiven = $true
            foreach ($resolved in (Resolve-ScanPath $PSCmdlet $p $literal)) {
                $paths.Add($resolved)
            }
        }
    }
    end {
        if ($pathsGiven -and $paths.Count -eq 0) {
            # every pattern matched nothing (each one reported): nothing to scan, and never
            # a Quick scan of the machine instead
            return
        }
        if ($MyInvocation.ExpectingInput -and $paths.Count -eq 0 -and -not $ScanType) {
            # an empty pipeline (no files matched upstream) scans nothing, not the machine
            Write-Verbose 'No paths came from the pipeline: nothing to scan.'
            return
        }
        $type = $ScanType
        if (-not $type) {
            $type = if ($paths.Count -gt 0) { 'Custom' } else { 'Quick' }
        }
        if ($type -eq 'Custom' -and $paths.Count -eq 0) {
            $PSCmdlet.ThrowTerminatingError((New-PalisadeErrorRecord -Code 'Usage' -Target 'Path' -Message (
                        'A Custom scan needs -Path (or paths from the pipeline).') -Advice 'Give -Path, or use -ScanType Quick or Full.'))
        }
        if ($type -ne 'Custom' -and $paths.Count -gt 0) {
            $PSCmdlet.ThrowTerminatingError((New-PalisadeErrorRecord -Code 'Usage' -Target 'Path' -Message (
                        "-Path is only for a Custom scan; a $type scan chooses its own places.") -Advice 'Omit -ScanType (or use -ScanType Custom) to scan the paths, or omit -Path.'))
        }
        $scanPaths = Get-ScanRoots $paths
        if ($scanPaths.Count -gt 4096) {
            $PSCmdlet.ThrowTerminatingError((New-PalisadeErrorRecord -Code 'Usage' -Target 'Path' -Message (
                        "$($scanPaths.Count) paths were given; one scan takes at most 4096.") -Advice 'Pass the directories that hold the files instead of the files one by one.'))
        }

        if ($AsJob) {
            $manifest = Join-Path $PSScriptRoot 'Palisade.psd1'
            $job = Start-ThreadJob -Name 'PalisadeScan' -ArgumentList $manifest, $type, ([string[]]$scanPaths) -ScriptBlock {
                param($Manifest, $Type, $Paths)
                Import-Module $Manifest
                if ($Type -eq 'Custom') {
                    Start-Scan -ScanType $Type -LiteralPath $Paths
                } else {
                    Start-Scan -ScanType $Type
                }
            }
            $PSCmdlet.WriteObject($job)
            return
        }

        $result = Invoke-ScanRequest $PSCmdlet $type $scanPaths
        if (Test-PalisadeError $result) {
            $PSCmdlet.ThrowTerminatingError($result)
        }
        if ($result.Status -eq 'Failed') {
            $PSCmdlet.WriteError((New-PalisadeErrorRecord -Code 'Internal' -Target $result -Message (
                        "Scan $($result.ScanId) failed: $($result.Error)")))
        } elseif ($result.Status -eq 'Cancelled') {
            $PSCmdlet.WriteWarning("Scan $($result.ScanId) was cancelled by the agent before it finished.")
        }
        # the result first: with -ErrorAction Stop a root error ends the command, and what
        # was scanned must still reach the caller
        $PSCmdlet.WriteObject($result)
        Write-ScanRootReport $PSCmdlet $result
        Write-ScanEndWarning $PSCmdlet $result
    }
}

# One -Path or -LiteralPath value as the absolute paths to send. A pattern is expanded on the
# file system as Get-Item would; one that matches nothing is a non-terminating
# ObjectNotFound error and gives no path.
function Resolve-ScanPath([System.Management.Automation.PSCmdlet]$Cmdlet, [string]$Path, [bool]$Literal) {
    if ($Literal -or -not [System.Management.Automation.WildcardPattern]::ContainsWildcardCharacters($Path)) {
        $resolved = Resolve-AgentPath $Cmdlet $Path
        # a threat's path names its container chain (a.zip->b/c.exe): scan the file
        if ($resolved.Contains('->') -and -not [System.IO.File]::Exists($resolved) -and
            -not [System.IO.Directory]::Exists($resolved)) {
            $resolved = $resolved.Substring(0, $resolved.IndexOf('->'))
        }
        return , @($resolved)
    }
    $found = @()
    $provider = $null
    $why = 'the pattern matches no file or directory'
    # the directory above the first pattern must exist: the expansion would throw, and an
    # exception caught here would still land in the caller's -ErrorVariable
    $abs = Resolve-AgentPath $Cmdlet $Path
    $fixed = [System.Collections.Generic.List[string]]::new()
    foreach ($part in $abs.Split('/')) {
        if ([System.Management.Automation.WildcardPattern]::ContainsWildcardCharacters($part)) { break }
        $fixed.Add($part)
    }
    $base = ($fixed -join '/')
    if (-not $base) { $base = '/' }
    if (-not [System.IO.Directory]::Exists($base)) {
        $why = "'$base' does not exist"
    } else {
        try {
            $found = @($Cmdlet.SessionState.Path.GetResolvedProviderPathFromPSPath($Path, [ref]$provider))
        } catch {
            # an unknown drive, a directory that went away: no match either, with the reason
            $inner = $_.Exception
            while ($inner.InnerException) { $inner = $inner.InnerException }
            $why = $inner.Message.TrimEnd('.')
            $found = @()
        }
    }
    if ($found.Count -gt 0 -and $provider.Name -ne 'FileSystem') {
        $ex = [System.ArgumentException]::new("Cannot scan '$Path': it names items of the $($provider.Name) provider, not files.")
        $Cmdlet.WriteError([System.Management.Automation.ErrorRecord]::new($ex, 'PathNotFileSystem',
                [System.Management.Automation.ErrorCategory]::InvalidArgument, $Path))
        return , @()
    }
    if ($found.Count -eq 0) {
        $ex = [System.Management.Automation.ItemNotFoundException]::new("Cannot find path '$Path': $why.")
        $record = [System.Management.Automation.ErrorRecord]::new($ex, 'PathNotFound',
            [System.Management.Automation.ErrorCategory]::ObjectNotFound, $Path)
        $record.ErrorDetails = [System.Management.Automation.ErrorDetails]::new($ex.Message)
        $record.ErrorDetails.RecommendedAction = 'Check the pattern with Get-Item; use -LiteralPath for a name that contains [ ] * or ?.'
        $Cmdlet.WriteError($record)
        return , @()
    }
    return , $found
}

# The roots the agent could not scan, as non-terminating errors (the rest was scanned), and
# the symlink roots it resolved, as warnings.
function Write-ScanRootReport([System.Management.Automation.PSCmdlet]$Cmdlet, $Result) {
    foreach ($r in @($Result.ResolvedRoots)) {
        $Cmdlet.WriteWarning("'$($r.Path)' is a symbolic link: the agent scanned its target '$($r.Resolved)'.")
    }
    foreach ($e in @($Result.RootErrors)) {
        $text = "Cannot scan '$($e.Path)': $($e.Reason)."
        switch ($e.Error) {
            'not-found' {
                $ex = [System.Management.Automation.ItemNotFoundException]::new($text)
                $id = 'ScanRootNotFound'
                $category = [System.Management.Automation.ErrorCategory]::ObjectNotFound
            }
            'access-denied' {
                $ex = [System.UnauthorizedAccessException]::new($text)
                $id = 'ScanRootAccessDenied'
                $category = [System.Management.Automation.ErrorCategory]::PermissionDenied
            }
            default {
                $ex = [System.IO.IOException]::new($text)
                $id = 'ScanRootUnscannable'
                $category = [System.Management.Automation.ErrorCategory]::ReadError
            }
        }
        $ex.Data['PalisadeCode'] = [string]$e.Error
        $record = [System.Management.Automation.ErrorRecord]::new($ex, $id, $category, $e.Path)
        $record.ErrorDetails = [System.Management.Automation.ErrorDetails]::new("$text The other paths of scan $($Result.ScanId) were scanned.")
        $Cmdlet.WriteError($record)
    }
}

# What must not pass unnoticed at the end of a scan: threats left in place, objects not examined.
function Write-ScanEndWarning([System.Management.Automation.PSCmdlet]$Cmdlet, $Result) {
    if ($Result.UnremediatedThreats -gt 0) {
        $failed = @($Result.Threats | Where-Object { $_.ActionResult -eq 'Failed' } | ForEach-Object { $_.Path })
        $n = $Result.UnremediatedThreats
        $text = ("{0} threat{1} could not be quarantined or removed and {2} still in place{3}. " +
            'Get-AgentStatus shows the agent Degraded until they are dealt with (fix the cause, then scan again).') -f
        $n, $(if ($n -eq 1) { '' } else { 's' }), $(if ($n -eq 1) { 'is' } else { 'are' }),
        $(if ($failed.Count -gt 0) { ': ' + ($failed -join ', ') } else { '' })
        $Cmdlet.WriteWarning($text)
    }
    if ($Result.Status -eq 'Completed' -and -not $Result.FullyExamined -and @($Result.RootErrors).Count -eq 0) {
        $skipped = $Result.Skipped
        $count = { param($k) if ($skipped.Contains($k)) { $skipped[$k] } else { 0 } }
        $text = 'Not everything was examined: {0} unscannable, {1} unreadable, {2} too deep, {3} errors (see Unscannable and Skipped).' -f
        @($Result.Unscannable).Count, (& $count 'unreadable'), (& $count 'too-deep'), (& $count 'error')
        $Cmdlet.WriteWarning($text)
    }
}

# The paths to send: duplicates and paths below a given directory removed, order kept.
function Get-ScanRoots([System.Collections.Generic.List[string]]$Paths) {
    $seen = [System.Collections.Generic.HashSet[string]]::new([System.StringComparer]::Ordinal)
    $dirs = [System.Collections.Generic.HashSet[string]]::new([System.StringComparer]::Ordinal)
    $unique = [System.Collections.Generic.List[string]]::new()
    foreach ($p in $Paths) {
        $norm = if ($p.Length -gt 1) { $p.TrimEnd('/') } else { $p }
        if ($seen.Add($norm)) {
            $unique.Add($norm)
            # a symbolic link given as a path is resolved by the agent and its target walked,
            # so it covers what lies below it like a directory does
            if ([System.IO.Directory]::Exists($norm)) {
                [void]$dirs.Add($norm)
            }
        }
    }
    $out = [System.Collections.Generic.List[string]]::new()
    foreach ($p in $unique) {
        $covered = $false
        $parent = [System.IO.Path]::GetDirectoryName($p)
        while (-not [string]::IsNullOrEmpty($parent)) {
            if ($dirs.Contains($parent)) {
                $covered = $true
                break
            }
            $next = [System.IO.Path]::GetDirectoryName($parent)
            if ($next -eq $parent) { break }
            $parent = $next
        }
        if (-not $covered) {
            $out.Add($p)
        }
    }
    return , $out
}

# Run scan.start, show its progress, and return the Palisade.ScanResult (or an ErrorRecord).
# Polls the library from this (the pipeline) thread, so that Write-Progress works and Ctrl+C
# stops the loop between two polls; the finally block then cancels the scan on the agent.
function Invoke-ScanRequest([System.Management.Automation.PSCmdlet]$Cmdlet, [string]$Type, $Paths) {
    $native = Get-PalisadeNative
    if (Test-PalisadeError $native) {
        return $native
    }
    $h = Open-PalisadeConnection $native
    if (Test-PalisadeError $h) {
        return $h
    }
    $requestId = [long]0
    $finished = $false
    $activity = "Palisade $Type scan"
    try {
        $scanArgs = @{ type = $Type }
        if ($Type -eq 'Custom') {
            $scanArgs['paths'] = [string[]]$Paths
        }
        $requestId = $native::palisade_start($h, 'scan.start', (ConvertTo-PalisadeJson $scanArgs))
        if ($requestId -lt 0) {
            $finished = $true
            return (Get-PalisadeHandleError $native $h)
        }
        $progress = [System.Management.Automation.ProgressRecord]::new(1, $activity, 'Starting')
        $Cmdlet.WriteProgress($progress)
        $final = $null
        while ($null -eq $final) {
            $rid = [long]0
            $ptr = [IntPtr]::Zero
            $kind = $native::palisade_next_event($h, $script:PollMilliseconds, [ref]$rid, [ref]$ptr)
            if ($kind -eq $script:PAL_TIMEOUT) {
                # the console draws progress at most every 200 ms, on a write: repeat the
                # last record so a quiet moment still shows the newest figures
                $Cmdlet.WriteProgress($progress)
                continue
            }
            if ($kind -lt 0) {
                $finished = $true
                return (Get-PalisadeHandleError $native $h)
            }
            $text = Receive-NativeString $native $ptr
            if ($rid -ne $requestId) {
                continue
            }
            if ($kind -eq $script:PAL_EVENT) {
                $msg = ConvertFrom-PalisadeJson $text
                if ((Get-Field $msg 'event') -eq 'progress') {
                    $progress = New-ScanProgressRecord $activity (Get-Field $msg 'data')
                    $Cmdlet.WriteProgress($progress)
                }
            } elseif ($kind -eq $script:PAL_RESULT) {
                $finished = $true
                $final = ConvertFrom-PalisadeJson $text
            } elseif ($kind -eq $script:PAL_ERROR) {
                $finished = $true
                $err = ConvertFrom-PalisadeJson $text
                return (New-PalisadeErrorRecord -Code ([string](Get-Field $err 'code')) -Message ([string](Get-Field $err 'message')))
            }
        }
        return ConvertTo-ScanResult $final
    } finally {
        if (-not $finished -and $requestId -gt 0) {
            # Ctrl+C or Stop-Job: finally blocks run to their end even while the pipeline
            # stops, so the scan is cancelled and recorded before the prompt returns.
            if (Send-PalisadeCancel $native $h $requestId) {
                Write-HostNotice $Cmdlet 'Cancel requested: waiting for the agent to stop the scan...'
                $cancelled = Receive-PalisadeFinalResult $native $h $requestId
                if ($null -ne $cancelled) {
                    Write-HostNotice $Cmdlet ("Scan {0} stopped: the agent recorded it as {1} after {2} files." -f
                        (Get-Field $cancelled 'scan_id'), (Get-Field $cancelled 'status'), (Get-Field $cancelled 'files_scanned'))
                }
            }
        }
        if ($requestId -gt 0 -and -not $Cmdlet.Stopping) {
            $done = [System.Management.Automation.ProgressRecord]::new(1, $activity, 'Done')
            $done.RecordType = 'Completed'
            $Cmdlet.WriteProgress($done)
        }
        [void]$native::palisade_close($h)
    }
}

function New-ScanProgressRecord([string]$Activity, [System.Collections.IDictionary]$Data) {
    $files = [long](Get-Field $Data 'files_done')
    $bytes = [long](Get-Field $Data 'bytes_done')
    $total = Get-Field $Data 'files_total'
    $threats = [long](Get-Field $Data 'threats_so_far')
    $current = ConvertTo-PalisadeDisplay (Get-PathBytes $Data 'current_path')
    $status = '{0:N0} files, {1} scanned, {2} threats' -f $files, (Format-ByteCount $bytes), $threats
    $found = Get-Field $Data 'files_found'
    if ($null -ne $found -and [long]$found -gt $files) {
        # the walker runs ahead of the scanners: how far it got is the best estimate there is
        $status += ' ({0:N0} files found so far)' -f [long]$found
    }
    if ($null -ne $total -and [long]$total -gt 0) {
        $status = '{0:N0} of {1:N0} files, {2} scanned, {3} threats' -f $files, [long]$total, (Format-ByteCount $bytes), $threats
    }
    $record = [System.Management.Automation.ProgressRecord]::new(1, $Activity, $status)
    if ($null -ne $total -and [long]$total -gt 0) {
        $record.PercentComplete = [int][Math]::Min(100, [Math]::Floor(100.0 * $files / [long]$total))
    }
    if ($current) {
        $record.CurrentOperation = $current
    }
    return $record
}

function ConvertTo-ScanResult([System.Collections.IDictionary]$Result) {
    $scanId = [long](Get-Field $Result 'scan_id')
    $rawThreats = @(Get-Field $Result 'threats' | Where-Object { $null -ne $_ })
    $threats = @()
    if ($rawThreats.Count -gt 0) {
        # the history has the complete records (time, quarantine id) of this scan's findings
        $limit = [Math]::Min(100000, [Math]::Max(1, $rawThreats.Count))
        $hist = Invoke-PalisadeOp -Op 'threats.list' -Arguments @{ scan_id = $scanId; limit = $limit }
        if (Test-PalisadeError $hist) {
            Write-Debug "threat history of scan $scanId unavailable: $hist"
        } else {
            $threats = @(Get-Field $hist 'items' | Where-Object { $null -ne $_ } | ForEach-Object { ConvertTo-ThreatDetection $_ })
        }
        if ($threats.Count -eq 0) {
            $threats = @($rawThreats | ForEach-Object {
                    $t = ConvertTo-ThreatDetection $_
                    $t.ScanId = $scanId
                    $t
                })
        }
    }
    $unscannable = @(Get-Field $Result 'unscannable' | Where-Object { $null -ne $_ } | ForEach-Object {
            $u = [pscustomobject]@{
                PSTypeName = 'Palisade.UnscannableItem'
                Path       = [string](Get-Field $_ 'path')
                Reason     = [string](Get-Field $_ 'reason')
                Detail     = [string](Get-Field $_ 'detail')
            }
            Add-PalisadeNameProperty $u $_ 'Path', 'path'
            $u
        })
    $skipped = [ordered]@{}
    $rawSkipped = Get-Field $Result 'skipped'
    if ($rawSkipped -is [System.Collections.IDictionary]) {
        foreach ($k in $rawSkipped.Keys) { $skipped[$k] = [long]$rawSkipped[$k] }
    }
    $found = Get-Field $Result 'threats_found'
    [pscustomobject]@{
        PSTypeName   = 'Palisade.ScanResult'
        ScanId       = $scanId
        ScanType     = [string](Get-Field $Result 'type')
        StartTime    = ConvertFrom-PalisadeTime (Get-Field $Result 'start_time')
        EndTime      = ConvertFrom-PalisadeTime (Get-Field $Result 'end_time')
        FilesScanned = [long](Get-Field $Result 'files_scanned')
        BytesScanned = [long](Get-Field $Result 'bytes_scanned')
        ThreatsFound = if ($null -ne $found) { [int]$found } else { $rawThreats.Count }
        AllowedThreats      = [int](Get-Field $Result 'allowed_count')
        UnremediatedThreats = [int](Get-Field $Result 'unremediated_count')
        FullyExamined       = [bool](Get-Field $Result 'fully_examined')
        RootErrors   = [object[]]@(Get-Field $Result 'root_errors' | Where-Object { $null -ne $_ } | ForEach-Object {
                [pscustomobject]@{ Path = [string](Get-Field $_ 'path'); Error = [string](Get-Field $_ 'error'); Reason = [string](Get-Field $_ 'reason') } })
        ResolvedRoots = [object[]]@(Get-Field $Result 'resolved_roots' | Where-Object { $null -ne $_ } | ForEach-Object {
                [pscustomobject]@{ Path = [string](Get-Field $_ 'path'); Resolved = [string](Get-Field $_ 'resolved') } })
        Unscannable  = [object[]]$unscannable
        Status       = [string](Get-Field $Result 'status')
        Threats      = [object[]]$threats
        Skipped      = $skipped
        Error        = [string](Get-Field $Result 'error')
    }
}

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
        [int]$First
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

# ---- sandbox mode ---------------------------------------------------------------------------

function Get-SandboxMode {
    <#
    .SYNOPSIS
    Shows whether content is scanned in the sandboxed content process, and why.

    .DESCRIPTION
    Get-SandboxMode returns the agent's SandboxMode (Enabled: files are parsed by the
    unprivileged, sandboxed content process palisade-cp; Disabled: the root broker runs the
    scan engine itself), where the value comes from (Default, Preference, Policy or
    Environment, with the policy file or variable in SourceDetail), and the content
    process's pid, state and restart count.

    Any user may run it: it uses the agent's read-only status socket when the control
    socket is closed to the caller.

    .EXAMPLE
    PS> Get-SandboxMode

    Mode    Source     ContentProcessPid ContentProcessState ContentProcessRestarts
    ----    ------     ----------------- ------------------- ----------------------
    Enabled Default                 4242 Running                                  0

    .EXAMPLE
    PS> if ((Get-SandboxMode).Mode -ne 'Enabled') { Write-Warning 'content is parsed as root' }

    Warns when the sandbox is off.

    .OUTPUTS
    Palisade.SandboxMode

    .LINK
    Set-SandboxMode

    .LINK
    about_Palisade
    #>
    [CmdletBinding()]
    [OutputType('Palisade.SandboxMode')]
    param()
    $status = Invoke-PalisadeOp -Op 'status'
    if (Test-PalisadeError $status) {
        $PSCmdlet.ThrowTerminatingError($status)
    }
    $PSCmdlet.WriteObject((ConvertTo-SandboxModeInfo $status))
}

function Set-SandboxMode {
    <#
    .SYNOPSIS
    Turns the content-process sandbox on or off.

    .DESCRIPTION
    Set-SandboxMode sets the SandboxMode preference of the agent. Enabled (the default)
    parses every scanned file in the unprivileged, sandboxed content process; Disabled makes
    the root broker run the scan engine itself, which removes the isolation between hostile
    content and root. The change takes effect at once, without restarting the agent.

    A SandboxMode set by a policy file, or forced by MP_FORCE_USE_SANDBOX in the agent's
    environment, cannot be changed here: the cmdlet fails with PermissionDenied and names
    the file or variable.

    Requires root or membership in the agent's admin group.

    .PARAMETER Mode
    Enabled or Disabled.

    .PARAMETER PassThru
    Output the resulting Palisade.SandboxMode.

    .EXAMPLE
    PS> Set-SandboxMode -Mode Enabled -PassThru

    Turns the sandbox on and shows the result.

    .EXAMPLE
    PS> Set-SandboxMode -Mode Disabled -WhatIf

    Shows what would change without changing it.

    .OUTPUTS
    None, or Palisade.SandboxMode with -PassThru.

    .LINK
    Get-SandboxMode

    .LINK
    about_Palisade
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    [OutputType('Palisade.SandboxMode')]
    param(
        [Parameter(Mandatory, Position = 0)]
        [ValidateSet('Enabled', 'Disabled')]
        [string]$Mode,

        [switch]$PassThru
    )
    if (-not $PSCmdlet.ShouldProcess('palisaded', "Set SandboxMode to $Mode")) {
        return
    }
    $res = Invoke-PalisadeOp -Op 'config.set' -Arguments @{ name = 'SandboxMode'; value = $Mode } -Target $Mode
    if (Test-PalisadeError $res) {
        $PSCmdlet.ThrowTerminatingError($res)
    }
    if ($PassThru) {
        $status = Invoke-PalisadeOp -Op 'status'
        if (Test-PalisadeError $status) {
            $PSCmdlet.ThrowTerminatingError($status)
        }
        $PSCmdlet.WriteObject((ConvertTo-SandboxModeInfo $status))
    }
}

# ---- quarantine -----------------------------------------------------------------------------

function Get-QuarantineItem {
    <#
    .SYNOPSIS
    Lists the files in the agent's quarantine.

    .DESCRIPTION
    Get-QuarantineItem returns the quarantined files (Palisade.QuarantineItem: Id, when it
    was quarantined, the threat, the original path, SHA-256 and size). A quarantined file is
    kept by the agent in an inert, transformed form until it is restored, removed, or its
    retention (QuarantineRetentionDays) runs out.

    With -Id, or ids from the pipeline (Id or QuarantineId properties, so the output of
    Get-ThreatHistory works), only those items; an unknown id is an ObjectNotFound error.

    .PARAMETER Id
    The items to get.

    .EXAMPLE
    PS> Get-QuarantineItem

    Every quarantined file.

    .EXAMPLE
    PS> Get-ThreatHistory -ThreatName '*EICAR*' | Get-QuarantineItem

    The quarantine items of the EICAR detections.

    .INPUTS
    System.Int64, or objects with an Id or QuarantineId property.

    .OUTPUTS
    Palisade.QuarantineItem

    .LINK
    Restore-QuarantineItem

    .LINK
    Remove-QuarantineItem
    #>
    [CmdletBinding()]
    [OutputType('Palisade.QuarantineItem')]
    param(
        [Parameter(Position = 0, ValueFromPipeline, ValueFromPipelineByPropertyName)]
        [Alias('QuarantineId')]
        [AllowNull()]
        [long[]]$Id,

        [Parameter(ValueFromPipelineByPropertyName, DontShow)]
        [Nullable[long]]$DetectionId
    )
    process {
        if (-not $PSBoundParameters.ContainsKey('Id')) {
            $res = Invoke-PalisadeOp -Op 'quarantine.list'
            if (Test-PalisadeError $res) {
                $PSCmdlet.ThrowTerminatingError($res)
            }
            foreach ($item in @(Get-Field $res 'items')) {
                if ($null -ne $item) {
                    $PSCmdlet.WriteObject((ConvertTo-QuarantineItem $item))
                }
            }
            return
        }
        foreach ($one in @($Id)) {
            if ($null -eq $one) {
                # a detection that was never quarantined: nothing to show
                Write-Verbose "detection $DetectionId has no quarantine item"
                continue
            }
            $item = Invoke-PalisadeOp -Op 'quarantine.get' -Arguments @{ id = [long]$one } -Target $one -NotFoundAdvice 'Get-QuarantineItem lists the items in the quarantine.'
            if (Test-PalisadeError $item) {
                if (Test-FatalPalisadeError $item) { $PSCmdlet.ThrowTerminatingError($item) }
                $PSCmdlet.WriteError($item)
                continue
            }
            $PSCmdlet.WriteObject((ConvertTo-QuarantineItem $item))
        }
    }
}

# A detection without a quarantine item came down the pipeline.
function Write-NoQuarantineError([System.Management.Automation.PSCmdlet]$Cmdlet, $DetectionId) {
    $what = if ($null -ne $DetectionId) { "Detection $DetectionId has" } else { 'The input has' }
    $Cmdlet.WriteError((New-PalisadeErrorRecord -Code 'NotFound' -Target $DetectionId -Message (
                "$what no quarantine item (the file was not quarantined, or was restored or removed since).") -Advice 'Get-QuarantineItem lists the items in the quarantine.'))
}

# Whether an error ends the cmdlet rather than the one pipeline item: per-item failures do
# not stop the rest of the pipeline; an agent that is gone or a caller who may not manage
# it does.
function Test-FatalPalisadeError([System.Management.Automation.ErrorRecord]$Record) {
    $code = [string]$Record.Exception.Data['PalisadeCode']
    return $code -notin @('NotFound', 'Exists', 'InvalidValue', 'BadRequest', 'Refused')
}

function Restore-QuarantineItem {
    <#
    .SYNOPSIS
    Puts quarantined files back where they were (or elsewhere).

    .DESCRIPTION
    Restore-QuarantineItem asks the agent to restore quarantine items: the file comes back
    byte for byte with its owner, group, mode and times, after the agent has checked its
    SHA-256, and the item leaves the quarantine. The agent refuses to overwrite an existing
    file unless -Force is given, and never follows a symbolic link on the way.

    A restored file is still a threat: the next scan finds it again unless -AllowThreat
    adds its SHA-256 to the agent's allowed list.

    Ids come from -Id or from the pipeline (Get-QuarantineItem's Id, Get-ThreatHistory's
    QuarantineId). An unknown id is an ObjectNotFound error and the next item is restored.

    Supports -WhatIf and -Confirm. Requires root or membership in the agent's admin group.

    .PARAMETER Id
    The quarantine items to restore.

    .PARAMETER Destination
    Restore to this path instead of the original one (absolute, or relative to the current
    location); an existing directory receives the file under its original name.

    .PARAMETER Force
    Replace a file that exists at the destination.

    .PARAMETER AllowThreat
    Also allow the file's SHA-256, so that scans no longer report it.

    .PARAMETER PassThru
    Output an object per restored item with the path it went to.

    .EXAMPLE
    PS> Restore-QuarantineItem -Id 12

    Restores item 12 to its original path.

    .EXAMPLE
    PS> Get-ThreatHistory -ThreatName '*EICAR*' | Restore-QuarantineItem -AllowThreat -Confirm:$false

    Restores every quarantined EICAR test file and allows it from now on.

    .EXAMPLE
    PS> Restore-QuarantineItem -Id 12 -Destination /root/evidence/sample.bin -WhatIf

    Shows where the item would go without restoring it.

    .INPUTS
    System.Int64, Palisade.QuarantineItem, Palisade.ThreatDetection.

    .OUTPUTS
    None, or Palisade.RestoredItem with -PassThru.

    .LINK
    Get-QuarantineItem

    .LINK
    Remove-QuarantineItem
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    [OutputType('Palisade.RestoredItem')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipeline, ValueFromPipelineByPropertyName)]
        [Alias('QuarantineId')]
        [AllowNull()]
        [long[]]$Id,

        [ValidateNotNullOrEmpty()]
        [string]$Destination,

        [switch]$Force,

        [switch]$AllowThreat,

        [switch]$PassThru,

        [Parameter(ValueFromPipelineByPropertyName, DontShow)]
        [Nullable[long]]$DetectionId
    )
    begin {
        $dest = $null
        if ($Destination) {
            $dest = Resolve-AgentPath $PSCmdlet $Destination
        }
    }
    process {
        foreach ($one in @($Id)) {
            if ($null -eq $one) {
                Write-NoQuarantineError $PSCmdlet $DetectionId
                continue
            }
            $where = if ($dest) { $dest } else { 'its original path' }
            if (-not $PSCmdlet.ShouldProcess("quarantine item $one", "Restore to $where")) {
                continue
            }
            $req = @{ id = [long]$one }
            if ($dest) { $req['destination'] = $dest }
            if ($Force) { $req['force'] = $true }
            if ($AllowThreat) { $req['allow'] = $true }
            $res = Invoke-PalisadeOp -Op 'quarantine.restore' -Arguments $req -Target $one -NotFoundAdvice 'Get-QuarantineItem lists the items in the quarantine.'
            if (Test-PalisadeError $res) {
                if (Test-FatalPalisadeError $res) { $PSCmdlet.ThrowTerminatingError($res) }
                $PSCmdlet.WriteError($res)
                continue
            }
            if ($PassThru) {
                $restored = [pscustomobject]@{
                    PSTypeName   = 'Palisade.RestoredItem'
                    Id           = [long]$one
                    RestoredPath = [string](Get-Field $res 'path')
                    Sha256       = [string](Get-Field $res 'sha256')
                    Allowed      = [bool](Get-Field $res 'allowed')
                }
                Add-PalisadeNameProperty $restored $res 'RestoredPath', 'path'
                $PSCmdlet.WriteObject($restored)
            }
        }
    }
}

function Remove-QuarantineItem {
    <#
    .SYNOPSIS
    Deletes quarantined files for good.

    .DESCRIPTION
    Remove-QuarantineItem deletes quarantine items and their stored content; they cannot be
    restored afterwards. Ids come from -Id or from the pipeline (Get-QuarantineItem's Id,
    Get-ThreatHistory's QuarantineId). An unknown id is an ObjectNotFound error and the
    next item is removed.

    ConfirmImpact is High: PowerShell asks before each item unless -Confirm:$false or
    -Force is given. Supports -WhatIf. Requires root or membership in the agent's admin
    group.

    .PARAMETER Id
    The quarantine items to delete.

    .PARAMETER Force
    Do not ask for confirmation.

    .EXAMPLE
    PS> Remove-QuarantineItem -Id 12

    Deletes item 12 after asking.

    .EXAMPLE
    PS> Get-QuarantineItem | Where-Object QuarantinedAt -lt (Get-Date).AddDays(-30) | Remove-QuarantineItem -Force

    Deletes every item older than 30 days without asking.

    .INPUTS
    System.Int64, Palisade.QuarantineItem, Palisade.ThreatDetection.

    .OUTPUTS
    None

    .LINK
    Get-QuarantineItem

    .LINK
    Restore-QuarantineItem
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High')]
    [OutputType([void])]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipeline, ValueFromPipelineByPropertyName)]
        [Alias('QuarantineId')]
        [AllowNull()]
        [long[]]$Id,

        [switch]$Force,

        [Parameter(ValueFromPipelineByPropertyName, DontShow)]
        [Nullable[long]]$DetectionId
    )
    begin {
        if ($Force -and -not $PSBoundParameters.ContainsKey('Confirm')) {
            $ConfirmPreference = 'None'
        }
    }
    process {
        foreach ($one in @($Id)) {
            if ($null -eq $one) {
                Write-NoQuarantineError $PSCmdlet $DetectionId
                continue
            }
            if (-not $PSCmdlet.ShouldProcess("quarantine item $one", 'Delete for good')) {
                continue
            }
            $res = Invoke-PalisadeOp -Op 'quarantine.remove' -Arguments @{ id = [long]$one } -Target $one -NotFoundAdvice 'Get-QuarantineItem lists the items in the quarantine.'
            if (Test-PalisadeError $res) {
                if (Test-FatalPalisadeError $res) { $PSCmdlet.ThrowTerminatingError($res) }
                $PSCmdlet.WriteError($res)
            }
        }
    }
}

# ---- status ---------------------------------------------------------------------------------

function Get-AgentStatus {
    <#
    .SYNOPSIS
    Shows the state of the Palisade agent.

    .DESCRIPTION
    Get-AgentStatus returns one Palisade.AgentStatus: the agent's version and pid, whether
    it runs, the sandbox mode and its source, the content process (pid, state, restarts),
    the signature package in force (version and date), the last scan, the policy error if
    the last policy could not be applied, and the reasons the agent considers itself
    degraded (an empty Degraded list means healthy).

    When the agent is not running, Running is $false and a ResourceUnavailable error says
    how to start it. Any user may run Get-AgentStatus (it falls back to the agent's
    read-only status socket).

    .EXAMPLE
    PS> Get-AgentStatus

    The status as a list.

    .EXAMPLE
    PS> $s = Get-AgentStatus -ErrorAction SilentlyContinue
    PS> if (-not $s.Running -or $s.Degraded) { exit 1 }

    A monitoring check: fails when the agent is down or degraded.

    .OUTPUTS
    Palisade.AgentStatus

    .LINK
    Get-SandboxMode

    .LINK
    about_Palisade
    #>
    [CmdletBinding()]
    [OutputType('Palisade.AgentStatus')]
    param()
    $status = Invoke-PalisadeOp -Op 'status'
    if (Test-PalisadeError $status) {
        if ([string]$status.Exception.Data['PalisadeCode'] -ne 'Unavailable') {
            $PSCmdlet.ThrowTerminatingError($status)
        }
        # not running is an answer too: Running is $false, and the error says how to start it
        $PSCmdlet.WriteError($status)
        $status = $null
    }
    $running = $null -ne $status
    $PSCmdlet.WriteObject([pscustomobject]@{
            PSTypeName              = 'Palisade.AgentStatus'
            AgentVersion            = [string](Get-Field $status 'agent_version')
            Running                 = $running
            AgentPid                = ConvertTo-NullableLong (Get-Field $status 'pid')
            StartedAt               = ConvertFrom-PalisadeTime (Get-Field $status 'started_at')
            SandboxMode             = [string](Get-Field $status 'sandbox_mode')
            SandboxModeSource       = [string](Get-Field $status 'sandbox_mode_source')
            ContentProcessPid       = ConvertTo-NullableLong (Get-Field $status 'content_process_pid')
            ContentProcessState     = [string](Get-Field $status 'content_process_state')
            ContentProcessRestarts  = if ($running) { [int](Get-Field $status 'content_process_restarts') } else { $null }
            ContentProcessStartedAt = ConvertFrom-PalisadeTime (Get-Field $status 'content_process_started_at')
            ScanEngine              = [string](Get-Field $status 'scan_engine')
            SignatureVersion        = ConvertTo-NullableLong (Get-Field $status 'signature_version')
            SignatureDate           = ConvertFrom-PalisadeTime (Get-Field $status 'signature_created')
            LastScan                = ConvertTo-ScanSummary (Get-Field $status 'last_scan')
            ActiveScans             = if ($running) { [int](Get-Field $status 'active_scans') } else { $null }
            PolicyError             = [string](Get-Field $status 'policy_error')
            Degraded                = [string[]]@(Get-Field $status 'degraded' | Where-Object { $null -ne $_ })
            UnremediatedThreats     = ConvertTo-NullableLong (Get-Field $status 'unremediated_threats')
        })
}

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
                if ($m) { & $m { param($w) New-CompletionResults (Get-PreferenceNameCandidates) $w } $wordToComplete }
            })]
        [ValidateNotNullOrEmpty()]
        [string[]]$Name
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
                if ($m) { & $m { param($w) New-CompletionResults (Get-PreferenceNameCandidates) $w } $wordToComplete }
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

        [switch]$PassThru
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
    if ($Value -is [System.Management.Automation.PSObject]) {
        $Value = $Value.BaseObject
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

# ---- exclusions -----------------------------------------------------------------------------

function Invoke-ExclusionChange([System.Management.Automation.PSCmdlet]$Cmdlet, [string]$Op, [string]$Verb,
    [string[]]$Paths, [string[]]$Extensions) {
    $changes = [System.Collections.Generic.List[object]]::new()
    foreach ($p in $Paths) {
        $changes.Add(@('Path', (Resolve-AgentPath $Cmdlet $p)))
    }
    foreach ($e in $Extensions) {
        $changes.Add(@('Extension', $e))
    }
    $last = $null
    foreach ($c in $changes) {
        if (-not $Cmdlet.ShouldProcess("$($c[0]) exclusion '$($c[1])'", $Verb)) {
            continue
        }
        $res = Invoke-PalisadeOp -Op $Op -Arguments @{ kind = $c[0]; value = $c[1] } -Target $c[1] -NotFoundAdvice 'Get-AgentPreference -Name Exclusion* shows the exclusions.'
        if (Test-PalisadeError $res) {
            # one entry's problem does not stop the others; a dead agent or a refusal does
            if (Test-FatalPalisadeError $res) {
                return $res
            }
            $Cmdlet.WriteError($res)
            continue
        }
        $last = $res
    }
    return $last
}

function Add-AgentExclusion {
    <#
    .SYNOPSIS
    Excludes paths or file name extensions from scanning.

    .DESCRIPTION
    Add-AgentExclusion adds entries to the agent's ExclusionPath or ExclusionExtension
    preference. An excluded directory excludes everything below it; * and ? in a path are
    wildcards for the agent. Relative paths are resolved against the current location.
    Exclusions set by policy stay in force beside these (each listed entry says its Source,
    Policy or Preference, and the policy File), unless policy sets ExclusionsMergePolicy to
    AdminOnly: then only the policy's exclusions apply and adding or removing a local one is
    a PolicyLocked error naming that file. An entry that is already there (locally or from
    policy) is a ResourceExists error; removing an entry that comes from policy is a
    PolicyLocked error.

    Requires root or membership in the agent's admin group.

    .PARAMETER Path
    Absolute paths (or relative to the current location) to exclude.

    .PARAMETER Extension
    File name extensions to exclude, with or without the dot ("log", ".iso").

    .PARAMETER PassThru
    Output every exclusion in force afterwards (Palisade.Exclusion).

    .EXAMPLE
    PS> Add-AgentExclusion -Path /srv/build

    Stops scanning a build directory.

    .EXAMPLE
    PS> Add-AgentExclusion -Extension log, tmp -PassThru

    Excludes two extensions and lists every exclusion.

    .OUTPUTS
    None, or Palisade.Exclusion with -PassThru.

    .LINK
    Remove-AgentExclusion
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium', DefaultParameterSetName = 'Path')]
    [OutputType('Palisade.Exclusion')]
    param(
        [Parameter(Mandatory, ParameterSetName = 'Path', Position = 0, ValueFromPipeline, ValueFromPipelineByPropertyName)]
        [Alias('FullName')]
        [ValidateNotNullOrEmpty()]
        [string[]]$Path,

        [Parameter(Mandatory, ParameterSetName = 'Extension')]
        [ValidateNotNullOrEmpty()]
        [string[]]$Extension,

        [switch]$PassThru
    )
    process {
        $last = Invoke-ExclusionChange $PSCmdlet 'exclusion.add' 'Add' $Path $Extension
        if (Test-PalisadeError $last) {
            $PSCmdlet.ThrowTerminatingError($last)
        }
        if ($PassThru -and $null -ne $last) {
            foreach ($i in @(Get-Field $last 'items')) {
                if ($null -ne $i) { $PSCmdlet.WriteObject((ConvertTo-Exclusion $i)) }
            }
        }
    }
}

function Remove-AgentExclusion {
    <#
    .SYNOPSIS
    Removes path or extension exclusions.

    .DESCRIPTION
    Remove-AgentExclusion removes entries from the agent's ExclusionPath or
    ExclusionExtension preference. An entry that is not there is an ObjectNotFound error.
    Exclusions set by policy cannot be removed here (PermissionDenied naming the policy
    file), nor can local ones while policy sets ExclusionsMergePolicy to AdminOnly.

    Requires root or membership in the agent's admin group.

    .PARAMETER Path
    The path exclusions to remove (as they were added).

    .PARAMETER Extension
    The extension exclusions to remove.

    .PARAMETER PassThru
    Output every exclusion in force afterwards (Palisade.Exclusion).

    .EXAMPLE
    PS> Remove-AgentExclusion -Path /srv/build

    Scans the build directory again.

    .EXAMPLE
    PS> Remove-AgentExclusion -Extension log -WhatIf

    Shows what would be removed.

    .OUTPUTS
    None, or Palisade.Exclusion with -PassThru.

    .LINK
    Add-AgentExclusion
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium', DefaultParameterSetName = 'Path')]
    [OutputType('Palisade.Exclusion')]
    param(
        [Parameter(Mandatory, ParameterSetName = 'Path', Position = 0, ValueFromPipeline, ValueFromPipelineByPropertyName)]
        [Alias('FullName')]
        [ValidateNotNullOrEmpty()]
        [string[]]$Path,

        [Parameter(Mandatory, ParameterSetName = 'Extension')]
        [ValidateNotNullOrEmpty()]
        [string[]]$Extension,

        [switch]$PassThru
    )
    process {
        $last = Invoke-ExclusionChange $PSCmdlet 'exclusion.remove' 'Remove' $Path $Extension
        if (Test-PalisadeError $last) {
            $PSCmdlet.ThrowTerminatingError($last)
        }
        if ($PassThru -and $null -ne $last) {
            foreach ($i in @(Get-Field $last 'items')) {
                if ($null -ne $i) { $PSCmdlet.WriteObject((ConvertTo-Exclusion $i)) }
            }
        }
    }
}

# ---- signatures -----------------------------------------------------------------------------

function Update-Signature {
    <#
    .SYNOPSIS
    Installs a signature package on the agent, or rolls back to the previous one.

    .DESCRIPTION
    Update-Signature hands a signature package (security intelligence) to the agent. The
    agent copies the file, verifies its Ed25519 signature against its trusted keys and its
    structure before anything uses it, and refuses a package that fails any check (a
    SecurityError that says which check); the package in force then stays. A package older
    than the one in force is refused unless -Force is given, and so is one of the very
    version in force (a ResourceExists error): installing it again would only replace the
    package kept for -Rollback. A file over 1 GiB is refused before anything is copied. An
    accepted package takes
    effect for the next file scanned, without a restart, and the one it replaces is kept
    for -Rollback.

    Requires root or membership in the agent's admin group. The agent (root) reads the
    file at the given path.

    .PARAMETER Path
    The package file (palisade-defs.sig), absolute or relative to the current location.

    .PARAMETER Force
    Install the package even if its version is lower than, or the same as, the one in force.

    .PARAMETER Rollback
    Put the package that was in force before the last update back in force.

    .EXAMPLE
    PS> Update-Signature -Path ./palisade-defs.sig

    Installs a package and shows the signature version now in force.

    .EXAMPLE
    PS> Update-Signature -Path /mnt/offline/palisade-defs.sig -WhatIf

    Shows what would be installed.

    .EXAMPLE
    PS> Update-Signature -Rollback

    Returns to the previous signature package.

    .OUTPUTS
    Palisade.SignatureUpdate

    .LINK
    Get-AgentStatus
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium', DefaultParameterSetName = 'Install')]
    [OutputType('Palisade.SignatureUpdate')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName, ParameterSetName = 'Install')]
        [Alias('FullName')]
        [ValidateNotNullOrEmpty()]
        [string]$Path,

        [Parameter(ParameterSetName = 'Install')]
        [switch]$Force,

        [Parameter(Mandatory, ParameterSetName = 'Rollback')]
        [switch]$Rollback
    )
    process {
        if ($Rollback) {
            if (-not $PSCmdlet.ShouldProcess('palisaded', 'Roll back to the previous signature package')) {
                return
            }
            $file = $null
            $op = 'update.rollback'
            $opArgs = $null
            $notFound = 'There is no previous package to roll back to (no update was installed since the agent''s state was created).'
        } else {
            $file = Resolve-AgentPath $PSCmdlet $Path
            if (-not [System.IO.File]::Exists($file)) {
                $PSCmdlet.WriteError((New-PalisadeErrorRecord -Code 'NotFound' -Target $Path -Message (
                            "There is no signature package at $file.") -Advice 'Give the path of a palisade-defs.sig file.'))
                return
            }
            if (-not $PSCmdlet.ShouldProcess($file, 'Install signature package')) {
                return
            }
            $op = 'update'
            $opArgs = @{ path = $file }
            if ($Force) { $opArgs['force'] = $true }
            $notFound = 'Give the path of a palisade-defs.sig file the agent (root) can read.'
        }
        $res = Invoke-PalisadeOp -Op $op -Arguments $opArgs -Target $file -NotFoundAdvice $notFound
        if (Test-PalisadeError $res) {
            if ([string]$res.Exception.Data['PalisadeCode'] -eq 'Refused') {
                $res.ErrorDetails.RecommendedAction = 'Use a package signed by a key in the agent''s trusted-keys directory, not older than the one in force (or give -Force); the package in force stays.'
            }
            $PSCmdlet.ThrowTerminatingError($res)
        }
        $PSCmdlet.WriteObject([pscustomobject]@{
                PSTypeName      = 'Palisade.SignatureUpdate'
                Path            = $file
                Version         = ConvertTo-NullableLong (Get-Field $res 'signature_version')
                CreatedAt       = ConvertFrom-PalisadeTime (Get-Field $res 'signature_created')
                PreviousVersion = ConvertTo-NullableLong (Get-Field $res 'previous_version')
            })
    }
}

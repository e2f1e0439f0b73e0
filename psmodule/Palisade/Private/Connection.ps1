#
# Connection.ps1 — connections and calls: one op on a connection of its own, cancel, the
# final result of a cancelled request.
#
# Part of the Palisade module: psmodule/assemble.cmake joins Module.ps1, Private/*.ps1, the
# settings list generated from the C registry and Public/*.ps1 into the staged Palisade.psm1.
#

# ---- connections and calls --------------------------------------------------------------------

<#
The socket of the agent the running cmdlet manages: its -Socket when given, else
$env:PALISADE_SOCKET, else $null (the library's default). Every exported cmdlet has -Socket;
the nearest exported Palisade cmdlet on the call stack is the one running (a helper called by
it, or its process block fed by an upstream Palisade cmdlet: the downstream one is nearer),
so the helpers need not pass the value along by hand.
#>
function Get-PalisadeSocketPath {
    foreach ($frame in (Get-PSCallStack)) {
        $inv = $frame.InvocationInfo
        if ($null -eq $inv -or $null -eq $inv.MyCommand -or $null -eq $inv.MyCommand.Module -or
            $inv.MyCommand.Module.Name -ne 'Palisade' -or
            -not $inv.MyCommand.Module.ExportedFunctions.ContainsKey($inv.MyCommand.Name)) {
            continue
        }
        if ($inv.BoundParameters.ContainsKey('Socket')) {
            return [string]$inv.BoundParameters['Socket']
        }
        break
    }
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

# A connected handle ([IntPtr]), or an ErrorRecord. $Socket: where, when the caller knows
# better than the call stack (an argument completer runs outside the cmdlet).
function Open-PalisadeConnection($Native, [string]$Socket) {
    $h = $Native::palisade_new()
    if ($h -eq [IntPtr]::Zero) {
        return (New-PalisadeErrorRecord -Code 'Internal' -Message 'libpalisade: out of memory')
    }
    $path = if ($Socket) { $Socket } else { Get-PalisadeSocketPath }
    if ($Native::palisade_connect($h, $path) -ne $script:PAL_OK) {
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
        [string]$NotFoundAdvice,
        [string]$Socket
    )
    $native = Get-PalisadeNative
    if (Test-PalisadeError $native) {
        return $native
    }
    $h = Open-PalisadeConnection $native $Socket
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

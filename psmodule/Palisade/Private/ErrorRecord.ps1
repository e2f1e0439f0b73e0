#
# ErrorRecord.ps1 — what an agent or library error becomes: an ErrorRecord with its category,
# exception type and advice.
#
# Part of the Palisade module: psmodule/assemble.cmake joins Module.ps1, Private/*.ps1, the
# settings list generated from the C registry and Public/*.ps1 into the staged Palisade.psm1.
#

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

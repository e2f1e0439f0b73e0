#
# Sandbox.ps1 — Get-SandboxMode, Set-SandboxMode.
#
# Part of the Palisade module: psmodule/assemble.cmake joins Module.ps1, Private/*.ps1, the
# settings list generated from the C registry and Public/*.ps1 into the staged Palisade.psm1.
#

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

    .PARAMETER Socket
    The control socket of the agent to manage (as palisaded --socket and palisade --socket).
    Default: $env:PALISADE_SOCKET, else /run/palisade/palisaded.sock.

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
    param(
        [ValidateNotNullOrEmpty()]
        [string]$Socket
    )
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

    .PARAMETER WhatIf
    Shows what the cmdlet would change, without changing anything.

    .PARAMETER Confirm
    Asks for confirmation before each change. ConfirmImpact is Medium: without -Confirm, PowerShell asks only when
    $ConfirmPreference is Medium or Low (its default is High).

    .PARAMETER Socket
    The control socket of the agent to manage (as palisaded --socket and palisade --socket).
    Default: $env:PALISADE_SOCKET, else /run/palisade/palisaded.sock.

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

        [switch]$PassThru,

        [ValidateNotNullOrEmpty()]
        [string]$Socket
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

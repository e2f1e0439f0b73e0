#
# Signature.ps1 — Update-Signature.
#
# Part of the Palisade module: psmodule/assemble.cmake joins Module.ps1, Private/*.ps1, the
# settings list generated from the C registry and Public/*.ps1 into the staged Palisade.psm1.
#

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

    .PARAMETER WhatIf
    Shows what the cmdlet would change, without changing anything.

    .PARAMETER Confirm
    Asks for confirmation before each change. ConfirmImpact is Medium: without -Confirm, PowerShell asks only when
    $ConfirmPreference is Medium or Low (its default is High).

    .PARAMETER Socket
    The control socket of the agent to manage (as palisaded --socket and palisade --socket).
    Default: $env:PALISADE_SOCKET, else /run/palisade/palisaded.sock.

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
        [switch]$Rollback,

        [ValidateNotNullOrEmpty()]
        [string]$Socket
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

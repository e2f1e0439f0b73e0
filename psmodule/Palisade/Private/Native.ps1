#
# Native.ps1 — the binding to libpalisade: its P/Invoke entry points, emitted on first use,
# and the strings it hands back.
#
# Part of the Palisade module: psmodule/assemble.cmake joins Module.ps1, Private/*.ps1, the
# settings list generated from the C registry and Public/*.ps1 into the staged Palisade.psm1.
#

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

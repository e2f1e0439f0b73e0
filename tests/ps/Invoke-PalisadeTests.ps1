#
# Invoke-PalisadeTests.ps1 — runs the Pester 5 suite of tests/ps/ (*.Tests.ps1) against the
# staged Palisade module and a real palisaded; exit status 0 only when every test passed
# (and at least one ran). Registered in CTest by tests/ps.cmake as psmodule.pester, which
# sets the PAL_* environment; by hand:
#
#   PAL_BUILD=build/default   # any configured and built build directory
#   PAL_PALISADED=$PAL_BUILD/agent/core/palisaded PAL_CLI=$PAL_BUILD/agent/cli/palisade \
#   PAL_DEFS_PACKAGE=$PAL_BUILD/signatures/palisade-defs.sig \
#   PAL_TRUSTED_KEYS_DIR=$PAL_BUILD/trusted-keys PAL_PSMODULE_DIR=$PAL_BUILD/psmodule/Palisade \
#   PAL_SOURCE_DIR=$PWD PAL_BINARY_DIR=$PAL_BUILD PAL_PWSH=$(command -v pwsh) \
#   pwsh -NoProfile -File tests/ps/Invoke-PalisadeTests.ps1 [-TestName '*Quarantine*']
#
[CmdletBinding()]
param(
    # Only the tests whose full name matches (Pester's -FullNameFilter).
    [string[]]$TestName
)
$ErrorActionPreference = 'Stop'
$PesterVersion = '5.7.1'

# Pester as scripts/bootstrap installs it, else straight from the NuGet cache it came from.
try {
    Import-Module Pester -RequiredVersion $PesterVersion
} catch {
    $nuget = if ($env:NUGET_PACKAGES) { $env:NUGET_PACKAGES } else { Join-Path $HOME '.nuget/packages' }
    $manifest = Join-Path $nuget "pester/$PesterVersion/tools/Pester.psd1"
    if (-not (Test-Path -LiteralPath $manifest)) {
        Write-Error "Pester $PesterVersion is not installed (run scripts/bootstrap)"
        exit 2
    }
    Import-Module $manifest
}

foreach ($name in 'PAL_PALISADED', 'PAL_CLI', 'PAL_DEFS_PACKAGE', 'PAL_TRUSTED_KEYS_DIR',
    'PAL_PSMODULE_DIR', 'PAL_SOURCE_DIR', 'PAL_BINARY_DIR') {
    if (-not [Environment]::GetEnvironmentVariable($name)) {
        Write-Error "$name is not set (run through ctest, or see the header of this script)"
        exit 2
    }
}
if (-not $env:PAL_PWSH) {
    $env:PAL_PWSH = (Get-Process -Id $PID).Path
}

$config = New-PesterConfiguration
$config.Run.Path = $PSScriptRoot
$config.Run.PassThru = $true
$config.Output.Verbosity = 'Detailed'
$config.TestResult.Enabled = $true
$config.TestResult.OutputFormat = 'NUnitXml'
$config.TestResult.OutputPath = Join-Path $env:PAL_BINARY_DIR 'tests/ps/pester-results.xml'
if ($TestName) {
    # pwsh -File passes "a,b" as one string
    $config.Filter.FullName = @($TestName | ForEach-Object { $_ -split ',' } | Where-Object { $_ })
}
[void](New-Item -ItemType Directory -Force -Path (Split-Path $config.TestResult.OutputPath.Value -Parent))

$result = Invoke-Pester -Configuration $config
Write-Host ("Pester: {0} passed, {1} failed, {2} skipped, {3} not run, in {4:N1} s" -f
    $result.PassedCount, $result.FailedCount, $result.SkippedCount, $result.NotRunCount, $result.Duration.TotalSeconds)
if ($result.FailedCount -gt 0 -or $result.FailedBlocksCount -gt 0 -or $result.FailedContainersCount -gt 0 -or
    $result.PassedCount -eq 0) {
    exit 1
}
exit 0

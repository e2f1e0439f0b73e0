#
# Palisade.psd1 — manifest of the Palisade module: PowerShell management of the Palisade
# endpoint antivirus agent (palisaded) through its native client library, libpalisade.
#
@{
    RootModule           = 'Palisade.psm1'
    ModuleVersion        = '0.1.0'
    GUID                 = 'ac1aea09-563e-4a78-93b6-626c8dc7b0c2'
    Author               = 'Palisade maintainers'
    CompanyName          = 'Palisade'
    Copyright            = '(c) Palisade maintainers'
    Description          = 'Manage the Palisade antivirus agent (palisaded): scans, threat history, quarantine, sandbox mode, preferences, exclusions and signature updates.'
    CompatiblePSEditions = @('Core')
    PowerShellVersion    = '7.2'
    FormatsToProcess     = @('Palisade.Format.ps1xml')
    FunctionsToExport    = @(
        'Start-Scan'
        'Get-ThreatHistory'
        'Get-SandboxMode'
        'Set-SandboxMode'
        'Get-QuarantineItem'
        'Restore-QuarantineItem'
        'Remove-QuarantineItem'
        'Get-AgentStatus'
        'Get-AgentPreference'
        'Set-AgentPreference'
        'Add-AgentExclusion'
        'Remove-AgentExclusion'
        'Update-Signature'
        'Get-ThreatCatalog'
        'Get-ScanHistory'
        'Get-AllowedThreat'
        'Add-AllowedThreat'
        'Remove-AllowedThreat'
        'Get-ThreatAction'
        'Set-ThreatAction'
        'Remove-ThreatAction'
        'Get-ContentProcessEvent'
        'Save-AgentDiagnostics'
        'Get-Scan'
        'Wait-Scan'
        'Stop-Scan'
        'Invoke-ContentScan'
        'Get-PalisadeFleetStatus'
        'Get-RealTimeProtectionStatistic'
    )
    CmdletsToExport      = @()
    VariablesToExport    = @()
    AliasesToExport      = @()
    FileList             = @(
        'Palisade.psd1'
        'Palisade.psm1'
        'Palisade.Format.ps1xml'
        'en-US/about_Palisade.help.txt'
    )
    PrivateData          = @{
        PSData = @{
            Tags = @('Antivirus', 'Security', 'Linux', 'Palisade')
        }
    }
}

# The execd PowerShell module. After the build (dotnet build, or dotnet test), run: Import-Module ./execd.psd1
# The binary module builds into modules/Execd.PowerShell/bin/module/ whatever the configuration. It is a nested
# module, not the RootModule, because Get-Help looks for a nested binary module's help beside it
# (bin/module/en-US/Execd.PowerShell.dll-Help.xml, copied there by the build from modules/Execd.PowerShell/en-US/),
# whereas a RootModule's help would have to sit in en-US/ at the repository root.
# ScriptsToProcess runs first and says what to build when the binary module is missing (instead of a path error).
@{
    ScriptsToProcess     = @('modules/Execd.PowerShell/Assert-ExecdModuleBuilt.ps1')
    NestedModules        = @('modules/Execd.PowerShell/bin/module/Execd.PowerShell.dll')
    FormatsToProcess     = @('modules/Execd.PowerShell/Execd.PowerShell.format.ps1xml')
    ModuleVersion        = '0.1.0'
    GUID                 = '6f0f5c8e-3a41-4c52-9a1e-2b7d8c4e9f10'
    Author               = 'execd for .NET'
    Description          = 'Cmdlets that drive an execd daemon over HTTP: run commands, follow their output, sessions, terminals, files, storage and health.'
    PowerShellVersion    = '7.6'
    CompatiblePSEditions = @('Core')
    CmdletsToExport      = @(
        'Connect-Execd'
        'Test-Execd'
        'Invoke-ExecdCommand'
        'Get-ExecdCommand'
        'Receive-ExecdCommandOutput'
        'Stop-ExecdCommand'
        'Send-ExecdCommandInput'
        'Wait-ExecdCommand'
        'New-ExecdSession'
        'Invoke-ExecdSessionCommand'
        'Remove-ExecdSession'
        'Get-ExecdSession'
        'Get-ExecdStorageProvider'
        'Get-ExecdPlugin'
        'Get-ExecdHealth'
        'Get-ExecdItem'
        'Get-ExecdChildItem'
        'Send-ExecdFile'
        'Receive-ExecdFile'
        'Remove-ExecdItem'
        'Move-ExecdItem'
        'Set-ExecdItemPermission'
        'New-ExecdDirectory'
        'New-ExecdTerminal'
        'Enter-ExecdTerminal'
        'Get-ExecdTerminal'
        'Remove-ExecdTerminal'
        'New-ExecdCodeContext'
        'Get-ExecdCodeContext'
        'Remove-ExecdCodeContext'
        'Invoke-ExecdCode'
        'Stop-ExecdCode'
    )
    FunctionsToExport    = @()
    AliasesToExport      = @()
    VariablesToExport    = @()
    PrivateData          = @{ PSData = @{ Tags = @('execd', 'sandbox', 'OpenSandbox') } }
}

# Run by execd.psd1 (ScriptsToProcess) before the binary module is loaded: on a fresh clone the module is not
# built yet, and PowerShell's own error would only name a missing file. A script block keeps its variables out
# of the importing session (ScriptsToProcess runs in the caller's scope). In a published folder the script sits
# beside the binary module; in the source tree the build puts it in bin/module/.
& {
    $candidates = (Join-Path $PSScriptRoot 'Execd.PowerShell.dll'), (Join-Path $PSScriptRoot 'bin/module/Execd.PowerShell.dll')
    if (-not ($candidates | Where-Object { Test-Path -LiteralPath $_ })) {
        $root = Split-Path -Parent (Split-Path -Parent $PSScriptRoot)
        throw "The execd module is not built yet ($($candidates[1]) is missing). Run ./bootstrap.sh --build-only (or: dotnet build modules/Execd.PowerShell) in $root, then Import-Module ./execd.psd1 again."
    }
}

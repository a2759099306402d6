using System.Management.Automation;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Remote paths are POSIX paths whatever the machine the cmdlets run on.</summary>
internal static class RemotePath
{
    /// <summary>A destination ending in / is a directory: the source keeps its name inside it.</summary>
    public static string Target(string source, string destination) =>
        destination.EndsWith('/') ? destination + FileName(source) : destination;

    public static string FileName(string path) => path.TrimEnd('/').Split('/')[^1];

    public const string ModePattern = "^[0-7]{3,4}$";
}

/// <summary>Local paths resolve against PowerShell's current location, not the process's working directory.</summary>
internal static class LocalPath
{
    /// <summary>Existing file-system paths for <paramref name="paths"/> (wildcards expanded); what matches nothing is an error record.</summary>
    public static IEnumerable<string> ResolveExisting(PSCmdlet cmdlet, IEnumerable<string> paths)
    {
        foreach (var path in paths)
        {
            List<string> found;
            try
            {
                found = [.. cmdlet.GetResolvedProviderPathFromPSPath(path, out var provider).Where(_ => provider.Name == "FileSystem")];
            }
            catch (Exception ex) when (ex is ItemNotFoundException or System.Management.Automation.DriveNotFoundException or ProviderNotFoundException)
            {
                cmdlet.WriteError(new ErrorRecord(ex, "ExecdLocalPathNotFound", ErrorCategory.ObjectNotFound, path));
                continue;
            }
            if (found.Count == 0)
            {
                cmdlet.WriteError(new ErrorRecord(new ItemNotFoundException($"No local file matches {path}."), "ExecdLocalPathNotFound", ErrorCategory.ObjectNotFound, path));
            }
            foreach (var file in found)
            {
                yield return file;
            }
        }
    }
}

using System.Management.Automation;
using Execd.PowerShell.Client;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Lists the output storage providers in rank order, with their health.</summary>
/// <remarks>The daemon stores every command's output on the best-ranked healthy provider and fails over to the next one when it breaks. This shows the current ranking: rank, kind, status and reason, free space, and what each provider holds.</remarks>
/// <example>
/// <code>Get-ExecdStorageProvider</code>
/// <para>Shows the ranking as a table.</para>
/// </example>
/// <example>
/// <code>Get-ExecdStorageProvider | Where-Object Status -ne Healthy | Format-List</code>
/// <para>Shows the details of providers that are not healthy.</para>
/// </example>
[Cmdlet(VerbsCommon.Get, "ExecdStorageProvider")]
[OutputType(typeof(ExecdStorageProvider))]
public sealed class GetExecdStorageProviderCommand : ExecdCmdlet
{
    /// <summary>Only providers whose name matches one of these wildcard patterns.</summary>
    [Parameter(Position = 0)]
    [SupportsWildcards]
    public string[]? Name { get; set; }

    protected override void ProcessRecord() => Guard(null, () =>
    {
        var report = Wait(c => Client.GetJsonAsync<StorageReportDto>("admin/storage", c));
        foreach (var p in (report.Providers ?? []).OrderBy(p => p.Rank).Where(p => Wildcards.Match(Name, p.Name)))
        {
            WriteObject(new ExecdStorageProvider
            {
                Rank = p.Rank, Name = p.Name, Kind = p.Kind, Location = p.Location, Status = p.Status, Reason = p.Reason,
                FreeBytes = p.FreeBytes, BytesHeld = p.BytesHeld, CommandsHeld = p.CommandsHeld, EvaluatedAt = report.EvaluatedAt,
            });
        }
    });
}

internal static class Wildcards
{
    public static bool Match(string[]? patterns, string value) =>
        patterns is null || patterns.Any(p => WildcardPattern.Get(p, WildcardOptions.IgnoreCase).IsMatch(value));
}

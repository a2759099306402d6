using System.Management.Automation;
using Execd.PowerShell.Client;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Checks a daemon (GET /ping) and makes it the default -Uri/-AccessToken of the execd cmdlets in this runspace.</summary>
[Cmdlet(VerbsCommunications.Connect, "Execd")]
[OutputType(typeof(ExecdConnection))]
public sealed class ConnectExecdCommand : ExecdCmdletCore
{
    [Parameter(Position = 0, Mandatory = true)]
    [ValidateNotNull]
    public Uri Uri { get; set; } = new(ExecdConnection.DefaultUri);

    [Parameter(Position = 1)]
    public string? AccessToken { get; set; }

    private protected override ExecdConnection ResolveConnection() =>
        new(ExecdConnection.Normalize(Uri), AccessToken ?? Environment.GetEnvironmentVariable("EXECD_ACCESS_TOKEN"));

    protected override void ProcessRecord()
    {
        try
        {
            Wait(c => Client.SendAsync(HttpMethod.Get, "ping", c));
        }
        catch (ExecdException ex)
        {
            ThrowTerminatingError(ex.ToErrorRecord(Uri));
        }
        ExecdConnection.Remember(Client.Connection);
        WriteObject(Client.Connection);
    }
}

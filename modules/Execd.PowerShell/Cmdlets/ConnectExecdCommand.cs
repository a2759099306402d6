using System.Management.Automation;
using Execd.PowerShell.Client;

namespace Execd.PowerShell.Cmdlets;

/// <summary>Sets the daemon the execd cmdlets talk to in this session.</summary>
/// <remarks>Checks the daemon (GET /ping) with the token, then makes -Uri and -AccessToken the defaults of every execd cmdlet in this runspace. Without Connect-Execd the cmdlets use $env:EXECD_URI and $env:EXECD_ACCESS_TOKEN, else http://127.0.0.1:44772. An unreachable daemon or a rejected token is a terminating error and changes nothing.</remarks>
/// <example>
/// <code>Connect-Execd http://127.0.0.1:44772</code>
/// <para>Uses the local daemon from now on.</para>
/// </example>
/// <example>
/// <code>Connect-Execd http://sandbox:44772 -AccessToken $token</code>
/// <para>Connects to a daemon that requires an access token.</para>
/// </example>
[Cmdlet(VerbsCommunications.Connect, "Execd")]
[OutputType(typeof(ExecdConnection))]
public sealed class ConnectExecdCommand : ExecdCmdletCore
{
    /// <summary>The daemon's address, e.g. http://127.0.0.1:44772.</summary>
    [Parameter(Position = 0, Mandatory = true)]
    [ValidateNotNull]
    public Uri Uri { get; set; } = new(ExecdConnection.DefaultUri);

    /// <summary>The daemon's access token (sent as X-EXECD-ACCESS-TOKEN). Default: $env:EXECD_ACCESS_TOKEN.</summary>
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

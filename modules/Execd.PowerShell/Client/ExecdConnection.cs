using System.Management.Automation.Runspaces;
using System.Runtime.CompilerServices;

namespace Execd.PowerShell.Client;

/// <summary>Where a cmdlet talks to: the daemon's address and its access token.</summary>
public sealed class ExecdConnection
{
    public const string DefaultUri = "http://127.0.0.1:44772/";

    // Per runspace, so that two runspaces in one process (tests, jobs) never see each other's Connect-Execd.
    private static readonly ConditionalWeakTable<Runspace, ExecdConnection> Connected = new();

    internal ExecdConnection(Uri uri, string? accessToken)
    {
        Uri = uri;
        AccessToken = accessToken;
    }

    public Uri Uri { get; }

    internal string? AccessToken { get; }

    public bool HasAccessToken => !string.IsNullOrEmpty(AccessToken);

    public override string ToString() => Uri.ToString();

    internal static void Remember(ExecdConnection connection)
    {
        if (Runspace.DefaultRunspace is { } runspace)
        {
            Connected.AddOrUpdate(runspace, connection);
        }
    }

    /// <summary>Parameters win, then <c>Connect-Execd</c> in this runspace, then <c>EXECD_URI</c>/<c>EXECD_ACCESS_TOKEN</c>, then the default port.</summary>
    internal static ExecdConnection Resolve(Uri? uri, string? accessToken)
    {
        ExecdConnection? connected = null;
        if (Runspace.DefaultRunspace is { } runspace)
        {
            Connected.TryGetValue(runspace, out connected);
        }
        var address = uri ?? connected?.Uri ?? FromEnvironment() ?? new Uri(DefaultUri);
        var token = accessToken ?? connected?.AccessToken ?? NullIfEmpty(Environment.GetEnvironmentVariable("EXECD_ACCESS_TOKEN"));
        return new ExecdConnection(Normalize(address), token);
    }

    internal static Uri Normalize(Uri uri) => uri.AbsoluteUri.EndsWith('/') ? uri : new Uri(uri.AbsoluteUri + "/");

    private static Uri? FromEnvironment() =>
        NullIfEmpty(Environment.GetEnvironmentVariable("EXECD_URI")) is { } text ? new Uri(text, UriKind.Absolute) : null;

    private static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;
}

using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Execd.Storage.Files;

/// <summary>
/// One files provider per candidate directory, each with its health check (tagged <c>storage</c>). Default
/// chain: <c>--log-dir</c>/<c>EXECD_LOG_DIR</c> (<c>Execd:LogDir</c>), <c>$TMPDIR</c> (or <c>/tmp</c>) + <c>/execd</c>,
/// <c>./.tmp</c> under the daemon's working directory, <c>/var/tmp/execd</c>, <c>$HOME/.execd/logs</c>.
/// <c>Storage:Files:Directories</c> replaces the chain after the log directory.
/// </summary>
internal sealed class FilesStoragePlugin : IExecdPlugin
{
    internal const string Section = "Storage:Files";

    public void Register(IServiceCollection services, IConfiguration configuration)
    {
        var options = DirectoryProviderOptions.Bind(configuration, Section, budget: 0);
        DirectoryProviders.Register(services, "files", Candidates(configuration, Environment.GetEnvironmentVariable), options);
    }

    internal static IReadOnlyList<string> Candidates(IConfiguration configuration, Func<string, string?> env)
    {
        var configured = DirectoryProviderOptions.Directories(configuration, Section);
        var chain = configured ?? DefaultChain(env);
        return DirectoryProviderOptions.Normalize([configuration["Execd:LogDir"], .. chain]);
    }

    private static IEnumerable<string> DefaultChain(Func<string, string?> env)
    {
        var tmp = env("TMPDIR") is { Length: > 0 } t ? t : "/tmp";
        yield return Path.Combine(tmp, "execd");
        yield return Path.Combine(Environment.CurrentDirectory, ".tmp");
        yield return "/var/tmp/execd";
        if (env("HOME") is { Length: > 0 } home)
        {
            yield return Path.Combine(home, ".execd", "logs");
        }
    }
}

using System.Net;
using System.Net.Sockets;

namespace Execd.Deploy.Tests;

/// <summary>
/// Issue 11 finding 11: the daemon started as <c>bootstrap.sh -c</c> starts it (in the background of a
/// non-interactive shell, which ignores SIGINT and SIGQUIT, under a parent that ignores SIGPIPE) still runs every
/// command with default dispositions for all signals.
/// </summary>
[Collection(PublishedCollection.Name)]
public sealed class LaunchedSignalStateTests(PublishedExecd published)
{
    [Fact]
    public async Task BootstrapStartedDaemon_CommandsHaveNoIgnoredSignals_AndYesHeadGets141()
    {
        using var home = TestPaths.NewDirectory("sigs");
        int port;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }
        var url = $"http://127.0.0.1:{port}";
        File.WriteAllText(home.Combine("body.json"),
            """{"command":"grep SigIgn /proc/self/status; yes | head -1 >/dev/null; echo \"PS=${PIPESTATUS[*]}\"","envs":{"PATH":"/usr/bin:/bin"}}""");
        var command =
            $"i=0; until curl -sf {url}/ping >/dev/null; do i=$((i+1)); [ $i -lt 300 ] || exit 90; sleep 0.1; done; " +
            // The precondition: this shell (a sibling of the daemon under bootstrap) inherited the ignored SIGPIPE.
            "while read -r key value; do [ \"$key\" = SigIgn: ] && echo \"parent-ign=$value\"; done < /proc/$$/status; " +
            $"curl -sN -X POST {url}/command -d @body.json";
        var environment = published.ScrubbedEnvironment(home);
        environment["EXECD"] = published.Folder;
        environment["EXECD_ARGS"] = $"--port {port} --host 127.0.0.1";
        environment["EXECD_ENVS"] = home.Combine("opensandbox", ".env");

        // A parent that ignores SIGPIPE, then bootstrap.sh -c exactly as an image entrypoint runs it.
        await using var bootstrap = Launched.Start(Path.Combine(published.ToolsDir, "sh"),
            ["-c", "trap '' PIPE; exec \"$0\" -c \"$1\"", Path.Combine(TestPaths.Root, "bootstrap.sh"), command], environment, home.Path);
        var status = await bootstrap.WaitForExitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(0, status);
        Assert.DoesNotContain("parent-ign=0000000000000000", bootstrap.Output);
        Assert.Contains("parent-ign=", bootstrap.Output);
        Assert.Contains(@"SigIgn:\t0000000000000000", bootstrap.Output);
        Assert.Contains("PS=141 0", bootstrap.Output);
    }
}

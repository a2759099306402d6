using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace Execd.Deploy.Tests;

/// <summary>bootstrap.sh running the published daemon, as a sandbox image's entrypoint does (EXECD set).</summary>
[Collection(PublishedCollection.Name)]
public sealed class BootstrapTests(PublishedExecd published)
{
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(60);

    private static string Bootstrap => Path.Combine(TestPaths.Root, "bootstrap.sh");

    private Dictionary<string, string> Environment(TestDirectory home, string execd, int port)
    {
        var environment = published.ScrubbedEnvironment(home);
        environment["EXECD"] = execd;
        environment["EXECD_ARGS"] = $"--port {port} --host 127.0.0.1";
        // A fresh directory: bootstrap creates it (never the machine's /opt/opensandbox).
        environment["EXECD_ENVS"] = home.Combine("opensandbox", ".env");
        return environment;
    }

    [Fact]
    public async Task Bootstrap_PublishedFolder_StartsDaemonRunsCommandAndPropagatesExitStatus()
    {
        using var home = TestPaths.NewDirectory("boot");
        var port = FreePort();
        var url = $"http://127.0.0.1:{port}";
        // Waits for the daemon, then proves it serves commands and reads the env file bootstrap prepared.
        var command =
            $"i=0; until curl -sf {url}/ping; do i=$((i+1)); [ $i -lt 300 ] || exit 90; sleep 0.1; done; echo ping-ok; " +
            "echo GREETING=from-env-file >> \"$EXECD_ENVS\"; " +
            $"curl -sN -X POST {url}/command -d '{{\"command\":\"echo greeting=$GREETING\"}}'; " +
            "exit 7";

        await using var bootstrap = Launched.Start(Bootstrap, ["-c", command], Environment(home, published.Folder, port), home.Path);
        var status = await bootstrap.WaitForExitAsync(Bounded);

        Assert.Equal(7, status);
        Assert.True(File.Exists(home.Combine("opensandbox", ".env")), bootstrap.Output);
        Assert.Contains("ping-ok", bootstrap.Output);
        Assert.Contains("greeting=from-env-file", bootstrap.Output);
    }

    [Fact]
    public async Task Bootstrap_Sigterm_IsForwardedToUserCommand()
    {
        using var home = TestPaths.NewDirectory("term");
        var marker = home.Combine("got-term");
        var environment = Environment(home, published.Executable, FreePort());
        environment["BOOTSTRAP_CMD"] = $"trap 'echo forwarded > \"{marker}\"; exit 0' TERM; echo user-ready; while :; do sleep 0.1; done";

        await using var bootstrap = Launched.Start(Bootstrap, [], environment, home.Path);
        await bootstrap.WaitForLineAsync(new Regex("user-ready"), Bounded);
        bootstrap.Terminate();
        var status = await bootstrap.WaitForExitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(0, status);
        Assert.Equal("forwarded\n", File.ReadAllText(marker));
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

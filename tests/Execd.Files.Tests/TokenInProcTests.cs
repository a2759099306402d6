using System.Text;

namespace Execd.Files.Tests;

/// <summary>
/// Issue 11, finding 2: with <c>--access-token T</c> (or <c>EXECD_ACCESS_TOKEN</c>), a command cannot read T from the
/// daemon's world-readable <c>/proc/$PPID/cmdline</c> (or <c>environ</c>): the daemon overwrites it at start-up.
/// A real <c>execd</c> process, since only a process's own argv is at stake (here, with <see cref="ChildDaemon"/>).
/// </summary>
public sealed class TokenInProcTests : IDisposable
{
    private readonly TestDirectory _dir = TestPaths.NewDirectory("tokenproc");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task AccessTokenFlagAndEnv_AreNotReadableFromProcCmdlineOrEnviron()
    {
        const string flagToken = "flag-token-5be2c9";
        const string envToken = "env-token-0d77aa";
        await using var daemon = await ChildDaemon.StartAsync(new Dictionary<string, string> { ["EXECD_ACCESS_TOKEN"] = envToken },
            _dir.Combine("storage"), "--access-token", flagToken);
        daemon.Client.DefaultRequestHeaders.Add("X-EXECD-ACCESS-TOKEN", flagToken);

        var cmdline = Encoding.UTF8.GetString(await File.ReadAllBytesAsync($"/proc/{daemon.ProcessId}/cmdline"));
        var environ = Encoding.UTF8.GetString(await File.ReadAllBytesAsync($"/proc/{daemon.ProcessId}/environ"));
        var command = await Daemon.RunJsonAsync(daemon.Client,
            "{\"command\":\"tr '\\\\0' ' ' < /proc/$PPID/cmdline; echo; tr '\\\\0' '\\\\n' < /proc/$PPID/environ | grep -c token-\"}");

        Assert.Equal(200, command.Status);
        Assert.DoesNotContain(flagToken, cmdline, StringComparison.Ordinal);
        Assert.Contains("--access-token ****", cmdline.Replace('\0', ' '), StringComparison.Ordinal);
        Assert.DoesNotContain(envToken, environ, StringComparison.Ordinal);
        Assert.DoesNotContain(command.Texts("stdout"), line => line.Contains(flagToken, StringComparison.Ordinal) || line.Contains(envToken, StringComparison.Ordinal));
        Assert.Equal("0", command.Texts("stdout").Last());
    }
}

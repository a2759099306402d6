using Xunit.Abstractions;

namespace Execd.Interop.Tests;

/// <summary>The official OpenSandbox JavaScript SDK (pinned in tests/Interop/package-lock.json) against a real daemon.</summary>
public sealed class JsSdkTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Token = "interop-token";
    private Daemon _daemon = null!;

    public async Task InitializeAsync() => _daemon = await Daemon.StartAsync(token: Token);

    public async Task DisposeAsync() => await _daemon.DisposeAsync();

    [Fact]
    public async Task CommandsSuite_OfficialJsSdk_AllPass() =>
        NodeSuite.AssertPassed(await NodeSuite.RunAsync("commands.test.mjs", _daemon, Token, output), output);

    [Fact]
    public async Task FilesystemSuite_OfficialJsSdk_AllPass()
    {
        using var dir = TestPaths.NewDirectory("interop-files");
        NodeSuite.AssertPassed(await NodeSuite.RunAsync("files.test.mjs", _daemon, Token, output, dir.Path), output);
    }

    [Fact]
    public async Task SessionsSuite_OfficialJsSdk_AllPass() =>
        NodeSuite.AssertPassed(await NodeSuite.RunAsync("sessions.test.mjs", _daemon, Token, output), output);
}

using System.Text.Json.Nodes;

namespace Execd.PowerShell.Tests;

/// <summary>Issue 11, finding 2: an in-process pwsh script cannot read the daemon's access token from <c>$env:</c>.</summary>
public sealed class PowerShellTokenTests : IAsyncLifetime
{
    private const string Secret = "pwsh-tok-7d1e0b44";
    private Daemon _daemon = null!;

    public async Task InitializeAsync()
    {
        // Set as a deployment sets it, before the daemon starts and reads it.
        Environment.SetEnvironmentVariable("EXECD_ACCESS_TOKEN", Secret);
        _daemon = await Daemon.StartAsync(new Dictionary<string, string?> { ["Execd:AccessToken"] = Secret }, token: Secret);
    }

    public async Task DisposeAsync() => await _daemon.DisposeAsync();

    [Fact]
    public async Task Pwsh_EnvAccessToken_IsEmpty_AndNoChildOfTheScriptSeesIt()
    {
        var body = new JsonObject
        {
            ["executor"] = "pwsh",
            ["command"] = "\"T=[$env:EXECD_ACCESS_TOKEN]\"; (Get-ChildItem env: | Where-Object Value -eq '" + Secret + "').Count; bash -c 'echo B=${EXECD_ACCESS_TOKEN-unset}'",
        };

        var r = await _daemon.RunJsonAsync(body.ToJsonString());

        Assert.Equal(["T=[]", "0", "B=unset"], r.Texts("stdout").Select(t => t.TrimEnd()));
        Assert.Equal(0, r.ExitCode);
    }
}

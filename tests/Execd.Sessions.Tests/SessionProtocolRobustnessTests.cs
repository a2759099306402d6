using System.Text.Json.Nodes;

namespace Execd.Sessions.Tests;

/// <summary>
/// Issue 11, finding 5: a run's text cannot break the session protocol. A syntax error is that run's error
/// (exit 2, like <c>bash -c</c>) and the session lives on with its state; closing or reusing the protocol's
/// descriptors cannot hang it. Finding 12: the session limit answers 429 in JSON.
/// </summary>
public sealed class SessionProtocolRobustnessTests : IAsyncLifetime
{
    private Daemon _daemon = null!;

    public async Task InitializeAsync() => _daemon = await Daemon.StartAsync(new Dictionary<string, string?> { ["Execd:Sessions:MaxSessions"] = "3" });

    public async Task DisposeAsync() => await _daemon.DisposeAsync();

    [Theory]
    [InlineData("echo 'abc")]
    [InlineData("echo \"abc")]
    [InlineData("echo `abc")]
    [InlineData("echo $(ls")]
    [InlineData("[[ a ")]
    [InlineData("if true; then echo x")]
    [InlineData("case a in")]
    [InlineData("echo ${x")]
    [InlineData("done")]
    [InlineData("}")]
    public async Task Run_SyntaxError_IsThatRunsExit2AndTheSessionLivesOn(string broken)
    {
        var s = await _daemon.CreateAsync();
        await _daemon.RunInAsync(s, "KEEP=kept; f() { echo f$KEEP; }");

        var bad = await _daemon.RunInAsync(s, broken);
        // Twice: bash's parser state after a failed parse was what broke the next runs.
        var first = await _daemon.RunInAsync(s, "echo still-alive; f");
        var second = await _daemon.RunInAsync(s, "if true; then echo \"$KEEP\"; fi; [[ -n $KEEP ]] && { echo braces; }");

        Assert.Equal(200, bad.Status);
        Assert.Equal(2, bad.ExitCode);
        Assert.Empty(bad.Stdout);
        Assert.NotEmpty(bad.Stderr);
        Assert.DoesNotContain(bad.Stderr, line => line.Contains("__execd", StringComparison.Ordinal));
        Assert.Equal(["still-alive", "fkept"], first.Stdout);
        Assert.Equal(0, first.ExitCode);
        Assert.Equal(["kept", "braces"], second.Stdout);
    }

    [Fact]
    public async Task Run_TrailingBackslash_BehavesAsBashC()
    {
        var s = await _daemon.CreateAsync();

        var run = await _daemon.RunInAsync(s, "echo abc\\");
        var after = await _daemon.RunInAsync(s, "echo still-alive");

        // bash -c 'echo abc\' prints "abc\" and exits 0.
        Assert.Equal(["abc\\"], run.Stdout);
        Assert.Equal(0, run.ExitCode);
        Assert.Equal(["still-alive"], after.Stdout);
    }

    [Fact]
    public async Task Run_SyntaxCheck_UsesTheSessionsOptionsAndRunsNothingTwice()
    {
        var s = await _daemon.CreateAsync();
        await _daemon.RunInAsync(s, "shopt -s extglob; N=0");

        // extglob syntax only parses with the session's own options; the counter shows the text ran exactly once.
        var run = await _daemon.RunInAsync(s, "N=$((N+1)); case x in !(y)) echo extglob-ok;; esac; echo N=$N");

        Assert.Equal(["extglob-ok", "N=1"], run.Stdout);
    }

    // Runs that would leave the run waiting forever for its end markers: closing or reusing the protocol's descriptors,
    // or leaving bash idle reading stdin after it read the whole run line (set -n, a DEBUG trap that reads stdin).
    // The run ends, says why, and the session goes on in a fresh shell.
    [Theory]
    [InlineData("exec 250>&-; echo closed", "descriptors 250/251")]
    [InlineData("exec 251>&-; echo closed", "descriptors 250/251")]
    [InlineData("exec 250>/dev/null; echo closed", "descriptors 250/251")]
    [InlineData("echo closed; set -n", "waits for more input")]
    [InlineData("echo closed; trap 'read -r __x' DEBUG", "waits for more input")]
    public async Task Run_ThatBreaksTheProtocol_EndsTheRunInsteadOfHanging(string command, string why)
    {
        var s = await _daemon.CreateAsync();
        using var bounded = new CancellationTokenSource(TimeSpan.FromSeconds(30));

        var run = await _daemon.RunInAsync(s, command, ct: bounded.Token);
        var after = await _daemon.RunInAsync(s, "echo still-alive", ct: bounded.Token);

        Assert.Equal(["closed"], run.Stdout);
        Assert.Equal(-1, run.ExitCode);
        Assert.Contains(why, run.Traceback);
        Assert.Contains("restarted", run.Traceback);
        Assert.Equal(["still-alive"], after.Stdout);
        Assert.Equal(0, after.ExitCode);
    }

    [Fact]
    public async Task Run_BlockedReadingItsOwnRedirectedInput_IsNotTakenForAStalledShell()
    {
        var s = await _daemon.CreateAsync();
        await _daemon.RunInAsync(s, "KEEP=kept");

        // The shell itself sits in read(0) for 2 s, but fd 0 is the process substitution, not the session's command pipe.
        var run = await _daemon.RunInAsync(s, "read -r x < <(sleep 2; echo late); echo \"got $x $KEEP\"");

        Assert.Equal(["got late kept"], run.Stdout);
        Assert.Equal(0, run.ExitCode);
    }

    [Fact]
    public async Task Create_BeyondMaxSessions_Is429JsonAndDeletingOneMakesRoom()
    {
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add(await _daemon.CreateAsync());
        }

        using var refused = await _daemon.Client.PostAsync("/session", null);
        var body = JsonNode.Parse(await refused.Content.ReadAsStringAsync())!;
        await _daemon.DeleteAsync(ids[0]);
        using var accepted = await _daemon.Client.PostAsync("/session", null);

        Assert.Equal(429, (int)refused.StatusCode);
        Assert.Equal("application/json", refused.Content.Headers.ContentType?.MediaType);
        Assert.Equal("SESSION_LIMIT_REACHED", (string?)body["code"]);
        Assert.Contains("MaxSessions", (string?)body["message"]);
        Assert.Equal(200, (int)accepted.StatusCode);
    }
}

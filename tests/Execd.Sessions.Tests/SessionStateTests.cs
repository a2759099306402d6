using System.Text;

namespace Execd.Sessions.Tests;

/// <summary>One long-lived bash per session: every kind of shell state stays between runs, byte-exact.</summary>
public sealed class SessionStateTests : IAsyncLifetime
{
    private Daemon _daemon = null!;
    private readonly TestDirectory _dir = TestPaths.NewDirectory("state");

    public async Task InitializeAsync() => _daemon = await Daemon.StartAsync();

    public async Task DisposeAsync()
    {
        await _daemon.DisposeAsync();
        _dir.Dispose();
    }

    [Fact]
    public async Task Run_StateOfEveryKind_PersistsToTheNextRun()
    {
        var s = await _daemon.CreateAsync();
        var sub = Directory.CreateDirectory(_dir.Combine("sub dir")).FullName;

        var first = await _daemon.RunInAsync(s, $"""
            cd {SessionClient.SingleQuoted(sub)}
            PLAIN=unexported
            export EXPORTED=yes
            greet() {'{'} echo "hello $1"; {'}'}
            alias say='echo said'
            set -o pipefail
            set -o noglob
            shopt -s extglob
            umask 027
            declare -a ARR=(one 'two words' three)
            declare -A MAP=([k]=v)
            readonly RO=fixed
            """);
        Assert.Equal(0, first.ExitCode);
        Assert.Empty(first.Stderr);

        var second = await _daemon.RunInAsync(s, """
            pwd
            echo "plain=$PLAIN"
            printenv EXPORTED
            printenv PLAIN || echo not-in-env
            greet world
            say it
            shopt -o pipefail | tr -s ' \t' ' '
            shopt -o noglob | tr -s ' \t' ' '
            shopt extglob | tr -s ' \t' ' '
            umask
            echo "${ARR[1]}|${#ARR[@]}|${MAP[k]}|$RO"
            """);

        Assert.Equal(0, second.ExitCode);
        Assert.Equal([sub, "plain=unexported", "yes", "not-in-env", "hello world", "said it", "pipefail on", "noglob on", "extglob on", "0027", "two words|3|v|fixed"], second.Stdout);
        Assert.Empty(second.Stderr);
    }

    [Fact]
    public async Task Run_ValuesWithQuotesDollarBacktickNewlinesUnicode_RoundTripByteExact()
    {
        var s = await _daemon.CreateAsync();
        const string value = "a$b`c`'d\"e\\f\n\ng\tü ☃ 𝄞 $(echo no) ${HOME} \\n end\n";
        var set = await _daemon.RunInAsync(s, $"V={SessionClient.SingleQuoted(value)}; export E=\"$V\"");
        Assert.Equal(0, set.ExitCode);

        var read = await _daemon.RunInAsync(s, "printf %s \"$V\" | base64 -w0; echo; printf %s \"$E\" | base64 -w0; echo; printenv E | base64 -w0");

        var expected = Convert.ToBase64String(Encoding.UTF8.GetBytes(value));
        // printenv adds a newline of its own.
        Assert.Equal([expected, expected, Convert.ToBase64String(Encoding.UTF8.GetBytes(value + "\n"))], read.Stdout);
    }

    [Fact]
    public async Task Run_CommandTextWithEveryKindOfQuoting_RunsAsWritten()
    {
        var s = await _daemon.CreateAsync();

        var run = await _daemon.RunInAsync(s, "echo 'single \"double\" $HOME' \"dq 'sq' \\$x \\`bt\\`\" $'ansi\\tc' ü☃; cat <<'EOF'\nhere $doc `x`\nEOF");

        Assert.Equal(["single \"double\" $HOME dq 'sq' $x `bt` ansi\tc ü☃", "here $doc `x`"], run.Stdout);
    }

    [Fact]
    public async Task Run_UnsetOfInheritedVariable_Sticks()
    {
        var s = await _daemon.CreateAsync();
        await _daemon.RunInAsync(s, "unset PATH_BACKUP_TEST; export KEEP=1; unset HOME");

        var run = await _daemon.RunInAsync(s, "echo \"home=${HOME-unset}\"");

        Assert.Equal(["home=unset"], run.Stdout);
    }

    [Fact]
    public async Task Run_ExportedVariablesChainAcrossRunsWithLargeOutput_AllKept()
    {
        var s = await _daemon.CreateAsync();
        await _daemon.RunInAsync(s, "export A=1; seq 1 80");
        await _daemon.RunInAsync(s, "export B=$((A+1)); seq 1 80");

        var third = await _daemon.RunInAsync(s, "seq 1 70; echo \"A=$A B=$B\"");

        Assert.Equal(71, third.Stdout.Count);
        Assert.Equal("A=1 B=2", third.Stdout[^1]);
    }

    [Fact]
    public async Task Run_CdPersists_AndRequestCwdOverridesAndPersists()
    {
        var a = Directory.CreateDirectory(_dir.Combine("a")).FullName;
        var b = Directory.CreateDirectory(_dir.Combine("b")).FullName;
        var s = await _daemon.CreateAsync(a);

        Assert.Equal([a], (await _daemon.RunInAsync(s, "pwd")).Stdout);
        await _daemon.RunInAsync(s, "cd /");
        Assert.Equal(["/"], (await _daemon.RunInAsync(s, "pwd")).Stdout);
        Assert.Equal([b], (await _daemon.RunInAsync(s, "pwd", cwd: b)).Stdout);
        Assert.Equal([b], (await _daemon.RunInAsync(s, "pwd")).Stdout);
    }

    [Fact]
    public async Task Create_WithMissingCwd_CreatesItLikeUpstream()
    {
        var missing = _dir.Combine("new", "deeper");

        var s = await _daemon.CreateAsync(missing);

        Assert.True(Directory.Exists(missing));
        Assert.Equal([missing], (await _daemon.RunInAsync(s, "pwd")).Stdout);
    }

    [Fact]
    public async Task Run_Xtrace_TracesOnlyTheUsersCommands()
    {
        var s = await _daemon.CreateAsync();

        var on = await _daemon.RunInAsync(s, "set -x; echo traced");
        var next = await _daemon.RunInAsync(s, "echo again; set +x");
        var off = await _daemon.RunInAsync(s, "echo quiet");

        Assert.Equal(["traced"], on.Stdout);
        Assert.Equal(["again"], next.Stdout);
        Assert.Contains(next.Stderr, l => l.EndsWith(" echo again", StringComparison.Ordinal));
        Assert.Contains(next.Stderr, l => l.EndsWith(" set +x", StringComparison.Ordinal));
        Assert.Equal(2, next.Stderr.Count);
        Assert.DoesNotContain(on.Stderr.Concat(next.Stderr).Concat(off.Stderr), l => l.Contains("execd", StringComparison.Ordinal));
        Assert.Empty(off.Stderr);
    }

    [Fact]
    public async Task Run_HeredocWithSetX_RunsAndTheSessionGoesOn()
    {
        var s = await _daemon.CreateAsync();

        var run = await _daemon.RunInAsync(s, "set -x\ncat <<'EOF'\nline one\nline two\nEOF\nset +x");
        var after = await _daemon.RunInAsync(s, "echo still-here");

        Assert.Equal(["line one", "line two"], run.Stdout);
        Assert.Equal(["still-here"], after.Stdout);
    }

    [Fact]
    public async Task Run_OutputWithoutTrailingNewline_IsOneLineWithNothingLeaked()
    {
        var s = await _daemon.CreateAsync();

        var printf = await _daemon.RunInAsync(s, "printf '{\"foo\":1}'");
        var nothing = await _daemon.RunInAsync(s, "true");

        Assert.Equal(["{\"foo\":1}"], printf.Stdout);
        Assert.Empty(printf.Stderr);
        Assert.Empty(nothing.Stdout);
        Assert.Empty(nothing.Stderr);
    }

    [Fact]
    public async Task Run_FakeMarkerInUserOutput_IsJustOutput()
    {
        var s = await _daemon.CreateAsync();
        var fake = "\\037EXECD:" + new string('a', 32) + ":0\\n";

        var run = await _daemon.RunInAsync(s, $"printf '{fake}'; printf '{fake}' >&2; echo after");

        Assert.Equal(["\u001fEXECD:" + new string('a', 32) + ":0", "after"], run.Stdout);
        Assert.Equal("\u001fEXECD:" + new string('a', 32) + ":0", Assert.Single(run.Stderr));
    }

    [Fact]
    public async Task Run_BreakAndContinueAtTopLevel_DoNotBreakTheSession()
    {
        var s = await _daemon.CreateAsync();

        var run = await _daemon.RunInAsync(s, "echo one; break; echo two");
        var cont = await _daemon.RunInAsync(s, "continue; echo three");
        var after = await _daemon.RunInAsync(s, "echo four");

        Assert.Equal(["one"], run.Stdout);
        Assert.Equal(0, cont.ExitCode);
        Assert.Equal(["four"], after.Stdout);
    }

    [Fact]
    public async Task Run_LargeCommandText_RunsWhole()
    {
        var s = await _daemon.CreateAsync();
        var script = new StringBuilder();
        for (var i = 0; i < 5000; i++)
        {
            script.Append("X").Append(i).Append("='").Append(new string('v', 20)).Append("'\n");
        }
        script.Append("echo \"$X0 $X4999\"");

        var run = await _daemon.RunInAsync(s, script.ToString());

        Assert.Equal([new string('v', 20) + " " + new string('v', 20)], run.Stdout);
    }

    [Fact]
    public async Task Run_StdoutAndStderr_StaySeparate()
    {
        var s = await _daemon.CreateAsync();

        var run = await _daemon.RunInAsync(s, "echo out1; echo err1 >&2; echo out2; echo err2 >&2");

        Assert.Equal(["out1", "out2"], run.Stdout);
        Assert.Equal(["err1", "err2"], run.Stderr);
    }

    [Fact]
    public async Task Run_ReadingStdin_GetsEndOfFileAtOnce()
    {
        var s = await _daemon.CreateAsync();

        var run = await _daemon.RunInAsync(s, "read x; echo \"read=$? x=$x\"; cat; echo cat=$?; head -c 10 | wc -c", timeout: 10_000);

        Assert.Equal(["read=1 x=", "cat=0", "0"], run.Stdout);
    }

    [Fact]
    public async Task Run_ExecRedirectThroughProcessSubstitution_SessionSurvives()
    {
        var s = await _daemon.CreateAsync(_dir.Path);

        // tee writes its stdout before its file (unbuffered): once the file has the line, tee's copy is in the pipe ahead of
        // this run's end marker. Without the wait, under load tee's line could come after the marker and land in the next run.
        var juggle = await _daemon.RunInAsync(s,
            "exec 3>&1 > >(tee -a tee.log); echo via-tee; for i in $(seq 1 1000); do [ -s tee.log ] && break; sleep 0.01; done");
        var restore = await _daemon.RunInAsync(s, "exec >&3 3>&-; echo restored");
        var log = await File.ReadAllTextAsync(_dir.Combine("tee.log"));

        Assert.Equal(0, juggle.ExitCode);
        Assert.Equal(["via-tee"], juggle.Stdout);
        Assert.Equal(["restored"], restore.Stdout);
        Assert.Equal("via-tee\n", log);
    }

    [Fact]
    public async Task AdminPlugins_ListsTheSessionExecutorContribution()
    {
        var plugins = System.Text.Json.Nodes.JsonNode.Parse(await _daemon.Client.GetStringAsync("/admin/plugins"))!.AsArray();

        var plugin = plugins.Single(p => (string?)p!["name"] == "Execd.Executors.BashSession")!;

        Assert.Equal("Activated", (string?)plugin["status"]);
        Assert.Contains(plugin["contributes"]!.AsArray(), c => (string?)c == "ISessionExecutor: BashSessionExecutor");
    }
}

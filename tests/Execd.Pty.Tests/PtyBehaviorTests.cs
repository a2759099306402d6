using System.Text;
using System.Text.Json.Nodes;

namespace Execd.Pty.Tests;

/// <summary>The terminal cases and the fixes over upstream, on a real daemon with real PTYs.</summary>
public sealed class PtyBehaviorTests(DaemonFixture fixture) : IClassFixture<DaemonFixture>
{
    private Daemon Daemon => fixture.Daemon;

    [Fact]
    public async Task The_shell_has_a_controlling_terminal_job_control_TERM_and_default_signals()
    {
        var id = await Daemon.CreatePtyAsync();
        await using var client = await PtyClient.AttachAsync(Daemon, id);
        await client.SendStdinAsync("read -r _ _ _ _ _ _ ttynr _ < /proc/$$/stat; [ -t 0 ] && [ \"$ttynr\" != 0 ] && echo ctty_yes; echo term=${TERM:-unset}.; case $- in *m*) echo monitor_on;; esac\n");
        await client.ExpectOutputAsync("ctty_yes\r\n");
        await client.ExpectOutputAsync(Environment.GetEnvironmentVariable("TERM") is { Length: > 0 } inherited ? $"term={inherited}.\r\n" : "term=xterm-256color.\r\n");
        await client.ExpectOutputAsync("monitor_on\r\n");
        // A child of the shell: nothing ignored (the daemon ignores SIGPIPE), nothing blocked.
        await client.SendStdinAsync("grep -E '^Sig(Ign|Blk)' /proc/self/status | tr -d '\\t' | tr '\\n' ' '; echo\n");
        await client.ExpectOutputAsync("SigBlk:0000000000000000 SigIgn:0000000000000000");
    }

    [Fact]
    public async Task Ctrl_C_byte_stops_sleep_30_and_the_shell_lives()
    {
        var id = await Daemon.CreatePtyAsync();
        await using var client = await PtyClient.AttachAsync(Daemon, id);
        await client.SendStdinAsync("sleep 30; echo sleep_status=$?\n");
        await Task.Delay(300);
        var started = DateTime.UtcNow;
        await client.SendStdinAsync([0x03]);
        await client.SendStdinAsync("echo alive_$((1+1))\n");
        await client.ExpectOutputAsync("alive_2\r\n", TimeSpan.FromSeconds(10));
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(10));
        Assert.True((bool)(await Daemon.PtyStatusAsync(id))["running"]!);
    }

    [Fact]
    public async Task Sigint_frame_reaches_the_foreground_job()
    {
        var id = await Daemon.CreatePtyAsync();
        await using var client = await PtyClient.AttachAsync(Daemon, id);
        await client.SendStdinAsync("sleep 30\n");
        await Task.Delay(300);
        await client.SendJsonAsync("""{"type":"signal","signal":"SIGINT"}""");
        await client.SendStdinAsync("echo after_sigint_$((2+3))\n");
        await client.ExpectOutputAsync("after_sigint_5\r\n", TimeSpan.FromSeconds(10));
        Assert.True((bool)(await Daemon.PtyStatusAsync(id))["running"]!);
    }

    [Fact]
    public async Task A_SIGINT_frame_the_moment_the_shell_starts_is_handled_by_bash_not_fatal()
    {
        // The shell starts at the first connect; bash has every signal at its default until it set up its handlers.
        // Several fresh shells, each signalled as soon as `connected` arrives, widen the window a load spike opens.
        for (var i = 0; i < 5; i++)
        {
            var id = await Daemon.CreatePtyAsync();
            await using var client = await PtyClient.AttachAsync(Daemon, id);
            await client.SendJsonAsync("""{"type":"signal","signal":"SIGINT"}""");
            await client.SendStdinAsync($"echo survived_{i}\n");
            await client.ExpectOutputAsync($"survived_{i}\r\n", TimeSpan.FromSeconds(10));
            Assert.True((bool)(await Daemon.PtyStatusAsync(id))["running"]!);
            await Daemon.DeletePtyAsync(id);
        }
    }

    [Fact]
    public async Task An_exited_shell_stays_exited_and_a_reconnect_replays_and_gets_the_exit_frame()
    {
        var id = await Daemon.CreatePtyAsync();
        await using (var client = await PtyClient.AttachAsync(Daemon, id))
        {
            await client.SendStdinAsync("echo last_words; exit 42\n");
            Assert.Equal(42, (int)(await client.ExpectJsonAsync("exit")).Json!["exit_code"]!);
            Assert.Equal(1000, (await client.ExpectCloseAsync()).CloseStatus);
        }
        var status = await Daemon.PtyStatusAsync(id);
        Assert.False((bool)status["running"]!);
        Assert.Equal(42, (int)status["exit_code"]!);
        var offset = (long)status["output_offset"]!;

        await using var again = await PtyClient.ConnectAsync(Daemon, id);
        var replay = await again.ReceiveAsync();
        Assert.Equal("replay", replay.Kind);
        Assert.Contains("last_words", replay.Text);
        Assert.Equal("connected", (await again.ReceiveAsync()).Type);
        Assert.Equal(42, (int)(await again.ExpectJsonAsync("exit")).Json!["exit_code"]!);
        Assert.Equal(1000, (await again.ExpectCloseAsync()).CloseStatus);
        status = await Daemon.PtyStatusAsync(id);
        Assert.False((bool)status["running"]!);
        Assert.Equal(offset, (long)status["output_offset"]!); // no new shell printed a prompt
    }

    [Fact]
    public async Task Reconnect_with_since_replays_exactly_the_missed_bytes_including_output_while_detached()
    {
        var id = await Daemon.CreatePtyAsync();
        long seen;
        string before;
        await using (var client = await PtyClient.ConnectAsync(Daemon, id, "since=0"))
        {
            await client.ExpectJsonAsync("connected");
            // Prints while nobody is attached: we leave right after the marker.
            await client.SendStdinAsync("echo start_mark; sleep 0.5; for i in 1 2 3; do echo detached_$i; done; echo end_mark_$((7*6))\n");
            await client.ExpectOutputAsync("start_mark\r\n");
            seen = client.OutputBytes; // from offset 0: everything received
            before = client.Output;
        }
        await Daemon.WaitStatusAsync(id, s => (long)s["output_offset"]! > seen && !(bool)s["attached"]!);
        await Task.Delay(1500); // the loop and the next prompt
        var total = (long)(await Daemon.PtyStatusAsync(id))["output_offset"]!;

        await using var again = await PtyClient.ConnectAsync(Daemon, id, $"since={seen}");
        var replay = await again.ReceiveAsync();
        Assert.Equal("replay", replay.Kind);
        Assert.Equal(seen, replay.Offset);
        Assert.Equal(total - seen, replay.Data.Length);
        Assert.Contains("detached_3\r\nend_mark_42\r\n", replay.Text);
        Assert.DoesNotContain("start_mark\r\n", replay.Text);
        Assert.Equal("connected", (await again.ReceiveAsync()).Type);

        // The whole scrollback is the first connection's bytes followed by the replayed ones.
        await again.CloseAsync();
        await Daemon.WaitStatusAsync(id, s => !(bool)s["attached"]!);
        await using var all = await PtyClient.ConnectAsync(Daemon, id, "since=0");
        var full = await all.ReceiveAsync();
        Assert.Equal(0, full.Offset);
        Assert.Equal(Encoding.UTF8.GetBytes(before)[..(int)seen].Concat(replay.Data).ToArray(), full.Data[..(int)total]);
    }

    [Fact]
    public async Task A_custom_command_on_a_pty_keeps_its_last_output_before_the_exit_frame()
    {
        var id = await Daemon.CreatePtyAsync("""{"command":"printf 'Q%.0s' $(seq 1 3000); echo; echo final_line_$((5*5)); exit 7"}""");
        await using var client = await PtyClient.ConnectAsync(Daemon, id);
        var exit = await client.ExpectJsonAsync("exit");
        Assert.Equal(7, (int)exit.Json!["exit_code"]!);
        Assert.Contains("final_line_25\r\n", client.Output);
        Assert.Equal(3000, client.Output.Count(c => c == 'Q'));
        Assert.Equal(1000, (await client.ExpectCloseAsync()).CloseStatus);
    }

    [Fact]
    public async Task Delete_while_attached_sends_exit_minus_1_and_close_1000()
    {
        var id = await Daemon.CreatePtyAsync();
        await using var client = await PtyClient.AttachAsync(Daemon, id);
        await client.SendStdinAsync("sleep 60\n");
        await Task.Delay(200);
        Assert.Equal(200, (await Daemon.DeletePtyAsync(id)).Status);
        Assert.Equal(-1, (int)(await client.ExpectJsonAsync("exit")).Json!["exit_code"]!);
        Assert.Equal(1000, (await client.ExpectCloseAsync()).CloseStatus);
        Assert.Equal(404, (await Daemon.GetAsync($"/pty/{id}")).Status);
    }

    [Fact]
    public async Task Five_MB_while_attached_arrive_complete()
    {
        var id = await Daemon.CreatePtyAsync();
        await using var client = await PtyClient.AttachAsync(Daemon, id);
        await client.SendStdinAsync("head -c 5000000 /dev/zero | tr '\\0' '\\170'; echo; echo big_done_$((1+1))\n");
        await client.ExpectOutputAsync("big_done_2\r\n", TimeSpan.FromSeconds(60));
        Assert.Equal(5_000_000, client.Output.Count(c => c == 'x'));
    }

    [Fact]
    public async Task Five_MB_while_detached_are_kept_and_replayed_far_beyond_1_MiB()
    {
        var id = await Daemon.CreatePtyAsync();
        long from;
        await using (var client = await PtyClient.ConnectAsync(Daemon, id, "since=0"))
        {
            await client.ExpectJsonAsync("connected");
            await client.SendStdinAsync("echo go; sleep 0.3; head -c 5000000 /dev/zero | tr '\\0' '\\171'; echo; echo detached_done\n");
            await client.ExpectOutputAsync("go\r\n");
            from = client.OutputBytes;
        }
        await Daemon.WaitStatusAsync(id, s => (long)s["output_offset"]! > from + 5_000_000, TimeSpan.FromSeconds(60));
        await using var again = await PtyClient.ConnectAsync(Daemon, id, $"since={from}");
        var replay = await again.ReceiveAsync(TimeSpan.FromSeconds(60));
        Assert.Equal("replay", replay.Kind);
        Assert.Equal(from, replay.Offset);
        Assert.Equal(5_000_000, replay.Data.Count(b => b == (byte)'y'));
    }

    [Fact]
    public async Task The_terminal_is_a_command_in_the_registry()
    {
        var id = await Daemon.CreatePtyAsync();
        await using var client = await PtyClient.AttachAsync(Daemon, id);
        await client.SendStdinAsync("echo registry_$((3*3))\n");
        await client.ExpectOutputAsync("registry_9\r\n");
        var status = await Daemon.PtyStatusAsync(id);
        var commandId = (string)status["command_id"]!;
        var (code, body) = await Daemon.GetAsync($"/command/status/{commandId}");
        Assert.Equal(200, code);
        Assert.True((bool)JsonNode.Parse(body)!["running"]!);
        using var logs = await Daemon.Client.GetAsync($"/command/{commandId}/logs?cursor=0");
        Assert.Contains("registry_9", await logs.Content.ReadAsStringAsync());
    }
}

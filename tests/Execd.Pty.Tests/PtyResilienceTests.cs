namespace Execd.Pty.Tests;

/// <summary>A client that stops reading, and storage deleted under a running terminal.</summary>
public sealed class PtyResilienceTests
{
    [Fact]
    public async Task A_stalled_client_neither_blocks_its_shell_nor_other_sessions()
    {
        await using var daemon = await Daemon.StartAsync(new Dictionary<string, string?> { ["Execd:Terminals:SendTimeout"] = "00:00:02" });
        var id = await daemon.CreatePtyAsync();
        await using var stalled = await PtyClient.AttachAsync(daemon, id);
        await stalled.SendStdinAsync("head -c 30000000 /dev/zero | tr '\\0' '\\172'; echo; echo stall_done\n");
        // This client never reads again; the shell's output still reaches the log in full.
        await daemon.WaitStatusAsync(id, s => (long)s["output_offset"]! > 30_000_000, TimeSpan.FromSeconds(60));

        var other = await daemon.CreatePtyAsync();
        await using var client = await PtyClient.AttachAsync(daemon, other);
        await client.SendStdinAsync("echo other_ok\n");
        await client.ExpectOutputAsync("other_ok\r\n");
        // The stalled connection is dropped after the send timeout, and the terminal can be attached again.
        await daemon.WaitStatusAsync(id, s => !(bool)s["attached"]!, TimeSpan.FromSeconds(30));
        Assert.True((bool)(await daemon.PtyStatusAsync(id))["running"]!);
    }

    [Fact]
    public async Task Deleting_the_storage_directory_during_a_session_loses_no_scrollback()
    {
        using var dir = TestPaths.NewDirectory("pty-storage");
        await using var daemon = await Daemon.StartAsync(new Dictionary<string, string?>
        {
            [Daemon.FilesDirectoriesKey] = dir.Combine("files"),
            [Daemon.TmpfsDirectoriesKey] = "",
            ["Storage:Files:DeletionCheckInterval"] = "00:00:00.050",
        });
        var id = await daemon.CreatePtyAsync();
        await using (var client = await PtyClient.AttachAsync(daemon, id))
        {
            await client.SendStdinAsync("echo before_delete_$((1+1))\n");
            await client.ExpectOutputAsync("before_delete_2\r\n");
            Directory.Delete(dir.Combine("files"), recursive: true);
            await Task.Delay(500);
            await client.SendStdinAsync("echo after_delete_$((2+2))\n");
            await client.ExpectOutputAsync("after_delete_4\r\n");
        }
        await daemon.WaitStatusAsync(id, s => !(bool)s["attached"]!);
        await using var again = await PtyClient.ConnectAsync(daemon, id, "since=0");
        var replay = await again.ReceiveAsync();
        Assert.Equal("replay", replay.Kind);
        Assert.Contains("before_delete_2\r\n", replay.Text);
        Assert.Contains("after_delete_4\r\n", replay.Text);
    }
}

using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Execd.Server.Tests;

internal static class CommandWait
{
    /// <summary>Polls <c>/command/status/{id}</c> until the command has finished (bounded) and returns that status.</summary>
    public static async Task<JsonNode> WaitFinishedAsync(this Daemon daemon, string id, int seconds = 30)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(seconds))
        {
            var status = JsonNode.Parse(await daemon.Client.GetStringAsync($"/command/status/{id}"))!;
            if (!(bool)status["running"]!)
            {
                return status;
            }
            await Task.Delay(10);
        }
        throw new TimeoutException($"command {id} still running");
    }
}

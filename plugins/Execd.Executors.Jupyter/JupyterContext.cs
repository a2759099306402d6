using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Execd.Executors.Jupyter.Kernels;
using Execd.Executors.Jupyter.Protocol;
using Microsoft.Extensions.Logging;

namespace Execd.Executors.Jupyter;

/// <summary>A code context: one kernel, its runs correlated by their request's <c>msg_id</c>.</summary>
internal sealed class JupyterContext(CodeContextSpec spec, KernelSpec kernelSpec, Kernel kernel, JupyterOptions options, ILogger logger) : ICodeContext
{
    public string Id => spec.Id;
    public string Language => spec.Language;
    public string Kernel => kernelSpec.Name;
    public int? ProcessId => kernel.Exited ? null : kernel.ProcessId;
    public string? DeadReason => kernel.DeadReason;

    public async Task<CodeRunOutcome> RunAsync(string code, ICodeOutput output, CancellationToken stop)
    {
        if (kernel.DeadReason is not null)
        {
            return CodeRunOutcome.KernelDied;
        }
        var msgId = Guid.NewGuid().ToString("N");
        var inbox = Channel.CreateUnbounded<(KernelChannel Channel, WireMessage Message)>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        using var subscription = kernel.Subscribe(msgId, (channel, message) => inbox.Writer.TryWrite((channel, message)));
        kernel.Send(KernelChannel.Shell, "execute_request", msgId, new JsonObject
        {
            ["code"] = code,
            ["silent"] = false,
            ["store_history"] = true,
            ["user_expressions"] = new JsonObject(),
            ["allow_stdin"] = false,
            // Upstream (through Jupyter Server) sends true. That only makes the kernel abort requests queued behind a failed cell, and
            // this daemon never queues cells (one run per context at a time). But a cell sent right after an interrupted or failed one
            // can still land in the kernel's abort window and come back "aborted" with no result (CI: `1 + 1` after a KeyboardInterrupt).
            ["stop_on_error"] = false,
        });

        // Stopping (timeout or interrupt) interrupts the cell, then gives it a bounded grace to finish; a kernel
        // that ignores the interrupt is killed, so the context never stays busy forever.
        using var grace = new CancellationTokenSource();
        using var onStop = stop.Register(() =>
        {
            _ = InterruptAsync(CancellationToken.None);
            grace.CancelAfter(options.InterruptGrace);
        });
        using var wake = CancellationTokenSource.CreateLinkedTokenSource(kernel.Died, grace.Token);

        var idle = false;
        var replied = false;
        var sawError = false;
        var outcome = CodeRunOutcome.Ok;
        JsonElement? replyError = null;
        while (!(idle && replied))
        {
            try
            {
                if (!await inbox.Reader.WaitToReadAsync(wake.Token).ConfigureAwait(false))
                {
                    break;
                }
            }
            catch (OperationCanceledException)
            {
                // Deliver what already arrived before saying the kernel is gone.
                while (inbox.Reader.TryRead(out var late))
                {
                    await HandleAsync(late.Channel, late.Message).ConfigureAwait(false);
                }
                if (kernel.DeadReason is null)
                {
                    await kernel.KillAsync($"the cell did not stop within {options.InterruptGrace.TotalSeconds:0.#} s of an interrupt; the kernel was killed").ConfigureAwait(false);
                }
                return CodeRunOutcome.KernelDied;
            }
            while (inbox.Reader.TryRead(out var item))
            {
                await HandleAsync(item.Channel, item.Message).ConfigureAwait(false);
            }
        }
        if (replyError is { } reply && !sawError)
        {
            // A kernel that reports the error only in its reply: the client still gets it.
            await output.ErrorAsync(Str(reply, "ename"), Str(reply, "evalue"), Traceback(reply)).ConfigureAwait(false);
        }
        return outcome;

        async ValueTask HandleAsync(KernelChannel channel, WireMessage message)
        {
            var content = message.Content;
            switch (channel, message.MsgType)
            {
                case (KernelChannel.IoPub, "stream"):
                    var text = Str(content, "text");
                    if (text.Length > 0)
                    {
                        await output.StreamAsync(Str(content, "name") == "stderr" ? OutputStream.Stderr : OutputStream.Stdout, text).ConfigureAwait(false);
                    }
                    break;
                case (KernelChannel.IoPub, "execute_result"):
                    await output.ResultAsync(content.TryGetProperty("execution_count", out var n) && n.TryGetInt32(out var count) ? count : null,
                        Bundle(content)).ConfigureAwait(false);
                    break;
                case (KernelChannel.IoPub, "display_data" or "update_display_data"):
                    await output.ResultAsync(null, Bundle(content)).ConfigureAwait(false);
                    break;
                case (KernelChannel.IoPub, "error"):
                    sawError = true;
                    outcome = CodeRunOutcome.Error;
                    await output.ErrorAsync(Str(content, "ename"), Str(content, "evalue"), Traceback(content)).ConfigureAwait(false);
                    break;
                case (KernelChannel.IoPub, "status"):
                    idle |= Str(content, "execution_state") == "idle";
                    break;
                case (KernelChannel.Shell, "execute_reply"):
                    replied = true;
                    var status = Str(content, "status");
                    if (status == "error")
                    {
                        // Reported when the run ends, and only if iopub carried no error (the reply can overtake it).
                        outcome = CodeRunOutcome.Error;
                        replyError = content;
                    }
                    else if (status is "abort" or "aborted" && outcome == CodeRunOutcome.Ok)
                    {
                        outcome = CodeRunOutcome.Aborted;
                    }
                    break;
            }
        }
    }

    private static string Str(JsonElement content, string name) =>
        content.ValueKind == JsonValueKind.Object && content.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() ?? "" : "";

    private static IReadOnlyDictionary<string, JsonElement> Bundle(JsonElement content)
    {
        var data = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        if (content.TryGetProperty("data", out var d) && d.ValueKind == JsonValueKind.Object)
        {
            foreach (var p in d.EnumerateObject())
            {
                data[p.Name] = p.Value;
            }
        }
        return data;
    }

    private static IReadOnlyList<string> Traceback(JsonElement content) =>
        content.TryGetProperty("traceback", out var t) && t.ValueKind == JsonValueKind.Array
            ? t.EnumerateArray().Select(l => l.ValueKind == JsonValueKind.String ? l.GetString() ?? "" : l.ToString()).ToList()
            : [];

    /// <summary><c>interrupt_request</c> on the control channel; SIGINT to the kernel's group when it does not answer in time.</summary>
    public async Task InterruptAsync(CancellationToken cancellationToken)
    {
        if (kernel.DeadReason is not null)
        {
            return;
        }
        var msgId = Guid.NewGuid().ToString("N");
        var replied = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (kernel.Subscribe(msgId, (channel, message) =>
        {
            if (message.MsgType == "interrupt_reply")
            {
                replied.TrySetResult();
            }
        }))
        {
            kernel.Send(KernelChannel.Control, "interrupt_request", msgId, []);
            try
            {
                await replied.Task.WaitAsync(TimeSpan.FromSeconds(2), cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (TimeoutException)
            {
                logger.LogInformation("Kernel {Pid} did not answer interrupt_request; sending SIGINT", kernel.ProcessId);
            }
        }
        kernel.Signal(Native.SIGINT);
    }

    public ValueTask DisposeAsync() => kernel.DisposeAsync();
}

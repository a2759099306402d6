using System.Text.Json;

namespace Execd;

/// <summary>A language a code executor can start contexts for, and where that ability comes from.</summary>
/// <param name="Language">The language clients ask for (case-sensitive, as upstream), e.g. <c>python</c>.</param>
/// <param name="Kernel">The kernel (or interpreter) that serves it, e.g. the kernelspec name <c>python3</c>.</param>
/// <param name="Source">Where it was found, e.g. the kernelspec's directory.</param>
public sealed record CodeLanguage(string Language, string Kernel, string Source);

/// <summary>A context as a code executor receives it: validated and resolved by the host.</summary>
public sealed record CodeContextSpec
{
    /// <summary>The context id: a UUID with dashes, as upstream.</summary>
    public required string Id { get; init; }

    /// <summary>One of the executor's <see cref="ICodeExecutor.Languages"/>.</summary>
    public required string Language { get; init; }

    /// <summary>Absolute directory the context starts in (it exists), or <c>null</c> for the daemon's own working directory.</summary>
    public string? WorkingDirectory { get; init; }

    /// <summary>The complete environment the context's process starts with.</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();
}

/// <summary>Where a context is in its life.</summary>
public enum CodeContextState
{
    /// <summary>Ready for a run.</summary>
    Idle,

    /// <summary>A run is in progress.</summary>
    Busy,

    /// <summary>The context's process is gone or stopped answering; it takes no more runs (see <see cref="ICodeContext.DeadReason"/>).</summary>
    Dead,
}

/// <summary>
/// Runs code in language contexts that keep their state between runs (Jupyter kernels, for example).
/// Contributed by plugins; the host asks each executor in turn for a language.
/// </summary>
public interface ICodeExecutor
{
    /// <summary>The name of this executor (shown in status and listings), e.g. <c>jupyter</c>.</summary>
    string Name { get; }

    /// <summary>The languages this executor can start contexts for right now (re-read on each call, so kernels installed later are seen).</summary>
    IReadOnlyList<CodeLanguage> Languages { get; }

    /// <summary>
    /// Starts a context and returns once it is ready for its first run. Throws <see cref="CommandStartException"/>
    /// (with a message for the client) when it cannot be started, for example when the kernel's program fails.
    /// </summary>
    Task<ICodeContext> CreateContextAsync(CodeContextSpec spec, CancellationToken cancellationToken);
}

/// <summary>
/// One live language context. The host serializes runs: <see cref="RunAsync"/> is never called while another
/// run of the same context is in progress, and never after <see cref="IAsyncDisposable.DisposeAsync"/>
/// (which stops the context's process group).
/// </summary>
public interface ICodeContext : IAsyncDisposable
{
    /// <summary>The context id.</summary>
    string Id { get; }

    /// <summary>The language the context runs.</summary>
    string Language { get; }

    /// <summary>The kernel that serves it (kernelspec name).</summary>
    string Kernel { get; }

    /// <summary>The process id of the context's process (also its process group), or <c>null</c> once it has ended.</summary>
    int? ProcessId { get; }

    /// <summary>Why the context can take no more runs, or <c>null</c> while it is alive.</summary>
    string? DeadReason { get; }

    /// <summary>
    /// Runs <paramref name="code"/> and reports what it produces to <paramref name="output"/>, in the order the
    /// kernel produced it, and only what belongs to this run. When <paramref name="stop"/> is cancelled (timeout or
    /// interrupt) the run is interrupted and the method returns once the kernel finished it. A kernel that dies
    /// mid-run ends the run with <see cref="CodeRunOutcome.KernelDied"/> (and <see cref="DeadReason"/> set).
    /// </summary>
    Task<CodeRunOutcome> RunAsync(string code, ICodeOutput output, CancellationToken stop);

    /// <summary>Interrupts what the context is running (also when nothing is running: then it is a no-op for the kernel).</summary>
    Task InterruptAsync(CancellationToken cancellationToken);
}

/// <summary>How a run ended.</summary>
public enum CodeRunOutcome
{
    /// <summary>The code ran to its end without an error.</summary>
    Ok,

    /// <summary>The code raised an error (reported through <see cref="ICodeOutput.ErrorAsync"/>), including an interrupt.</summary>
    Error,

    /// <summary>The kernel aborted the run (for example a kernel that answers an interrupt with <c>abort</c>).</summary>
    Aborted,

    /// <summary>The context's process died or stopped answering before the run ended.</summary>
    KernelDied,
}

/// <summary>Receives what a run produces. Calls come from one thread at a time, in the kernel's order.</summary>
public interface ICodeOutput
{
    /// <summary>Text the code wrote, exactly as the kernel chunked it (not split into lines).</summary>
    ValueTask StreamAsync(OutputStream stream, string text);

    /// <summary>
    /// A rich result: the MIME bundle of an expression's value (<paramref name="executionCount"/> set) or of a
    /// display (<paramref name="executionCount"/> <c>null</c>). Keys are MIME types as the kernel sent them.
    /// </summary>
    ValueTask ResultAsync(int? executionCount, IReadOnlyDictionary<string, JsonElement> data);

    /// <summary>An error raised by the code: name, value and traceback lines as the kernel sent them.</summary>
    ValueTask ErrorAsync(string name, string value, IReadOnlyList<string> traceback);
}

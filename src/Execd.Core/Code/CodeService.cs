using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Execd.Core.Commands;
using Execd.Core.Plugins;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Execd.Core.Code;

/// <summary>Configuration section <c>Execd:Code</c>.</summary>
public sealed class CodeOptions
{
    /// <summary>
    /// How long a request for a language no kernelspec offers waits for one to appear (an image may still be
    /// installing its kernels) before it is refused with the list of languages available.
    /// </summary>
    public TimeSpan LanguageWait { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>A live code context in the registry.</summary>
public sealed class CodeContextEntry(ICodeContext context, string executor, string? cwd, DateTimeOffset createdAt)
{
    private long _lastUsedTicks = createdAt.UtcTicks;
    private int _busy;

    public string Id => Context.Id;
    public ICodeContext Context { get; } = context;
    public string Executor { get; } = executor;
    public string? Cwd { get; } = cwd;
    public DateTimeOffset CreatedAt { get; } = createdAt;
    public DateTimeOffset LastUsedAt => new(Interlocked.Read(ref _lastUsedTicks), TimeSpan.Zero);
    public bool Busy => Volatile.Read(ref _busy) == 1;

    /// <summary>The command id of the run in progress, if any.</summary>
    public string? CurrentRun { get; internal set; }

    public CodeContextState State => Context.DeadReason is not null ? CodeContextState.Dead : Busy ? CodeContextState.Busy : CodeContextState.Idle;

    internal bool TryEnter() => Interlocked.CompareExchange(ref _busy, 1, 0) == 0;

    internal void Leave(DateTimeOffset at)
    {
        CurrentRun = null;
        Interlocked.Exchange(ref _lastUsedTicks, at.UtcTicks);
        Volatile.Write(ref _busy, 0);
    }
}

/// <summary>A language no code executor offers.</summary>
public sealed class UnknownLanguageException(string language, IReadOnlyList<string> available)
    : Exception($"unknown language '{language}'; available: {(available.Count == 0 ? "none (no kernelspec is installed)" : string.Join(", ", available))}")
{
    public string Language { get; } = language;
    public IReadOnlyList<string> Available { get; } = available;
}

/// <summary>
/// The registry of code contexts (one kernel each). Runs go through <see cref="CommandService"/>, so each has a
/// command id, output log, status and logs like any command; a context takes one run at a time (a second is
/// refused, never queued, as upstream), contexts run in parallel. A language-only run uses the language's
/// default context, created once under a per-language lock, and replaced when its kernel died.
/// </summary>
public sealed class CodeService : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, CodeContextEntry> _contexts = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _defaults = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _defaultLocks = new(StringComparer.Ordinal);
    private readonly IReadOnlyList<ICodeExecutor> _executors;
    private readonly Dictionary<ICodeExecutor, string> _pluginOf = new(ReferenceEqualityComparer.Instance);
    private readonly CommandService _commands;
    private readonly EnvironmentBuilder _environment;
    private readonly TimeProvider _time;
    private readonly CodeOptions _options;
    private readonly ILogger<CodeService> _logger;

    public CodeService(IEnumerable<PluginContribution> contributions, IServiceProvider services, CommandService commands,
        EnvironmentBuilder environment, TimeProvider time, IOptions<CodeOptions> options, ILogger<CodeService> logger)
    {
        _commands = commands;
        _environment = environment;
        _time = time;
        _options = options.Value;
        _logger = logger;
        var created = ContributionRegistry.Create<ICodeExecutor>(contributions, services, logger);
        _executors = created.Select(c => c.Instance).ToList();
        foreach (var (executor, plugin) in created)
        {
            _pluginOf[executor] = plugin.Name;
        }
    }

    public IReadOnlyList<string> ExecutorNames => _executors.Select(e => e.Name).ToList();

    /// <summary>Every language on offer, with the executor that serves it (the first executor wins a language).</summary>
    public IReadOnlyList<(CodeLanguage Language, ICodeExecutor Executor)> Languages()
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var list = new List<(CodeLanguage, ICodeExecutor)>();
        foreach (var executor in _executors)
        {
            IReadOnlyList<CodeLanguage> languages;
            try
            {
                languages = executor.Languages;
            }
            catch (Exception ex)
            {
                _logger.LogError(ex, "Code executor {Executor} could not list its languages", executor.Name);
                continue;
            }
            list.AddRange(languages.Where(l => seen.Add(l.Language)).Select(l => (l, executor)));
        }
        return list;
    }

    /// <summary>What the plugin named <paramref name="plugin"/> offers: "language (kernel at source)" per language, or null when it has no code executor.</summary>
    public IReadOnlyList<string>? LanguagesOf(string plugin)
    {
        var mine = _executors.Where(e => _pluginOf.GetValueOrDefault(e) == plugin).ToList();
        return mine.Count == 0 ? null
            : Languages().Where(l => mine.Contains(l.Executor)).Select(l => $"{l.Language.Language} (kernelspec {l.Language.Kernel} at {l.Language.Source})").ToList();
    }

    public IEnumerable<CodeContextEntry> All => _contexts.Values;

    public bool TryGet(string id, out CodeContextEntry entry) => _contexts.TryGetValue(id, out entry!);

    /// <summary>The executor for <paramref name="language"/>, waiting (bounded) for it to appear; throws <see cref="UnknownLanguageException"/>.</summary>
    public async Task<ICodeExecutor> ResolveAsync(string language, CancellationToken cancellationToken)
    {
        var deadline = _time.GetUtcNow() + _options.LanguageWait;
        while (true)
        {
            var languages = Languages();
            var match = languages.FirstOrDefault(l => l.Language.Language == language);
            if (match.Executor is not null)
            {
                return match.Executor;
            }
            if (_time.GetUtcNow() >= deadline)
            {
                throw new UnknownLanguageException(language, languages.Select(l => l.Language.Language).ToList());
            }
            await Task.Delay(TimeSpan.FromMilliseconds(250), _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Starts a context. Throws <see cref="UnknownLanguageException"/> or <see cref="CommandStartException"/>.</summary>
    public async Task<CodeContextEntry> CreateAsync(string language, string? directory, CancellationToken cancellationToken)
    {
        var executor = await ResolveAsync(language, cancellationToken).ConfigureAwait(false);
        var spec = new CodeContextSpec
        {
            Id = Guid.NewGuid().ToString("D"),
            Language = language,
            WorkingDirectory = directory,
            Environment = _environment.Build(null),
        };
        var context = await executor.CreateContextAsync(spec, cancellationToken).ConfigureAwait(false);
        var entry = new CodeContextEntry(context, executor.Name, directory, _time.GetUtcNow());
        _contexts[spec.Id] = entry;
        _logger.LogInformation("Code context {Id} created ({Language}, kernel {Kernel}, pid {Pid})", spec.Id, language, context.Kernel, context.ProcessId);
        return entry;
    }

    /// <summary>The language's default context, created on first use (one per language even under concurrent first runs) or again when it died.</summary>
    public async Task<CodeContextEntry> GetOrCreateDefaultAsync(string language, CancellationToken cancellationToken)
    {
        var gate = _defaultLocks.GetOrAdd(language, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_defaults.TryGetValue(language, out var id) && _contexts.TryGetValue(id, out var existing))
            {
                if (existing.Context.DeadReason is null)
                {
                    return existing;
                }
                await DeleteAsync(id, "replaced: its kernel died").ConfigureAwait(false);
            }
            var entry = await CreateAsync(language, null, cancellationToken).ConfigureAwait(false);
            _defaults[language] = entry.Id;
            return entry;
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Claims the context for one run; false when it is running another.</summary>
    public static bool TryClaim(CodeContextEntry entry) => entry.TryEnter();

    /// <summary>
    /// Starts a run of <paramref name="code"/> on a context claimed with <see cref="TryClaim"/>, as a command: the
    /// kernel's text goes to the command's output log, and everything the run produces also to
    /// <paramref name="output"/> (the caller's live view). The claim is released when the run ends.
    /// </summary>
    public CommandRecord Run(CodeContextEntry entry, string code, TimeSpan? timeout, ICodeOutput output)
    {
        var spec = new CommandSpec { Id = CommandService.NewId(), Command = code, Executor = entry.Executor };
        try
        {
            return _commands.Start(spec, timeout, r => entry.CurrentRun = r.Id, entry.Executor, (record, stop) => RunClaimedAsync(entry, record, output, timeout, stop));
        }
        catch
        {
            entry.Leave(_time.GetUtcNow());
            throw;
        }
    }

    private async Task<CommandExit> RunClaimedAsync(CodeContextEntry entry, CommandRecord record, ICodeOutput output, TimeSpan? timeout, CancellationToken stop)
    {
        var tee = new LoggedOutput(record, output);
        try
        {
            ((ICommandContext)record).ReportStarted(entry.Context.ProcessId);
            var outcome = await entry.Context.RunAsync(record.Spec.Command, tee, stop).ConfigureAwait(false);
            if (record.StopReason == "timeout" && timeout is { } t)
            {
                await tee.ErrorAsync("TimeoutError", $"the cell ran longer than its timeout of {(long)t.TotalMilliseconds} ms and was interrupted", []).ConfigureAwait(false);
            }
            switch (outcome)
            {
                case CodeRunOutcome.Ok:
                    return CommandExit.Success;
                case CodeRunOutcome.KernelDied:
                    var reason = entry.Context.DeadReason ?? "the kernel stopped answering";
                    await tee.ErrorAsync("KernelDied", $"the kernel died: {reason}; context {entry.Id} is dead (delete it and create a new one)", []).ConfigureAwait(false);
                    return CommandExit.FromSignal("killed") with { Error = $"kernel died: {reason}" };
                case CodeRunOutcome.Aborted:
                    return new CommandExit(1, "aborted");
                default:
                    return new CommandExit(1, tee.LastError ?? "error");
            }
        }
        finally
        {
            entry.Leave(_time.GetUtcNow());
        }
    }

    /// <summary>Forwards a run's output to the live view and writes its text to the command's output log.</summary>
    private sealed class LoggedOutput(ICommandContext record, ICodeOutput live) : ICodeOutput
    {
        public string? LastError { get; private set; }

        public async ValueTask StreamAsync(OutputStream stream, string text)
        {
            await record.Output.WriteAsync(stream, Encoding.UTF8.GetBytes(text)).ConfigureAwait(false);
            await live.StreamAsync(stream, text).ConfigureAwait(false);
        }

        public async ValueTask ResultAsync(int? executionCount, IReadOnlyDictionary<string, JsonElement> data)
        {
            if (data.TryGetValue("text/plain", out var text) && text.ValueKind == JsonValueKind.String)
            {
                await record.Output.WriteAsync(OutputStream.Stdout, Encoding.UTF8.GetBytes(text.GetString() + "\n")).ConfigureAwait(false);
            }
            await live.ResultAsync(executionCount, data).ConfigureAwait(false);
        }

        public async ValueTask ErrorAsync(string name, string value, IReadOnlyList<string> traceback)
        {
            LastError = value.Length > 0 ? $"{name}: {value}" : name;
            var text = traceback.Count > 0 ? string.Join("\n", traceback) + "\n" : LastError + "\n";
            await record.Output.WriteAsync(OutputStream.Stderr, Encoding.UTF8.GetBytes(text)).ConfigureAwait(false);
            await live.ErrorAsync(name, value, traceback).ConfigureAwait(false);
        }
    }

    /// <summary>Interrupts what the context runs (control channel, then SIGINT); also stops the run's command record.</summary>
    public async Task InterruptAsync(CodeContextEntry entry, CancellationToken cancellationToken)
    {
        _logger.LogInformation("Interrupting code context {Id}", entry.Id);
        if (entry.CurrentRun is { } run && _commands.TryGet(run, out var record) && record.Running)
        {
            record.Stop("interrupt"); // the run interrupts the kernel itself and bounds how long it may take
            return;
        }
        await entry.Context.InterruptAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Deletes a context: stops its kernel and everything in its process group.</summary>
    public async Task<bool> DeleteAsync(string id, string reason = "deleted")
    {
        if (!_contexts.TryRemove(id, out var entry))
        {
            return false;
        }
        foreach (var (language, defaultId) in _defaults)
        {
            if (defaultId == id)
            {
                _defaults.TryRemove(KeyValuePair.Create(language, defaultId));
            }
        }
        await entry.Context.DisposeAsync().ConfigureAwait(false);
        _logger.LogInformation("Code context {Id} {Reason}", id, reason);
        return true;
    }

    public async ValueTask DisposeAsync() =>
        await Task.WhenAll(_contexts.Keys.ToList().Select(id => DeleteAsync(id, "closed: the daemon stopped"))).ConfigureAwait(false);
}

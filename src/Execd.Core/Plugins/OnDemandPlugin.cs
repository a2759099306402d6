using System.Diagnostics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Execd.Core.Plugins;

/// <summary>Why an on-demand plugin could not be activated (its <see cref="PluginInfo"/> is Failed with the same reason).</summary>
public sealed class PluginActivationException(string message) : Exception(message);

/// <summary>
/// A plugin that declared its command executors by name and is activated by the first command for one of them:
/// loaded, scanned and registered then (once; concurrent first commands share the activation), into a container
/// of its own. That container sees the host's logging, configuration, options and time (not the host's other
/// services: an on-demand plugin declares that it contributes executors only) and is disposed with the host.
/// </summary>
internal sealed class OnDemandPlugin(PluginInfo info, IReadOnlyList<string> executorNames, IConfiguration configuration) : IAsyncDisposable
{
    private readonly Lock _gate = new();
    private Task<IReadOnlyDictionary<string, ICommandExecutor>>? _activation;
    private ServiceProvider? _services;
    private bool _disposed;

    public PluginInfo Info => info;

    /// <summary>The plugin's executors by name, activating it on the first call; faults with <see cref="PluginActivationException"/>.</summary>
    public Task<IReadOnlyDictionary<string, ICommandExecutor>> ActivateAsync(IServiceProvider host)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _activation ??= Task.Run(() => Activate(host));
        }
    }

    private IReadOnlyDictionary<string, ICommandExecutor> Activate(IServiceProvider host)
    {
        var logger = host.GetService<ILoggerFactory>()?.CreateLogger(typeof(PluginHost).FullName!) ?? NullLogger.Instance;
        var clock = Stopwatch.StartNew();
        try
        {
            var activated = PluginHost.Activate(info, configuration)
                ?? throw new PluginActivationException(info.Reason ?? "activation failed");
            var others = activated.Services.Where(d => PluginHost.Contracts.Contains(d.ServiceType) && d.ServiceType != typeof(ICommandExecutor)).ToList();
            if (others.Count > 0)
            {
                throw Fail($"declares only command executors ({string.Join(", ", executorNames)}) but contributes {string.Join(", ", others.Select(d => d.ServiceType.Name))}");
            }
            var own = activated.Services;
            // The host's framework services, registered last so they win over any the plugin added itself.
            own.AddOptions();
            own.AddSingleton(host.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance);
            own.AddSingleton(typeof(ILogger<>), typeof(Logger<>));
            own.AddSingleton(configuration);
            own.AddSingleton(host.GetService<TimeProvider>() ?? TimeProvider.System);
            var services = own.BuildServiceProvider();
            lock (_gate)
            {
                if (_disposed)
                {
                    services.Dispose();
                    throw new PluginActivationException("the daemon is shutting down");
                }
                _services = services;
            }
            var executors = new Dictionary<string, ICommandExecutor>(StringComparer.OrdinalIgnoreCase);
            try
            {
                foreach (var executor in services.GetServices<ICommandExecutor>())
                {
                    executors.TryAdd(executor.Name, executor);
                }
            }
            catch (Exception ex)
            {
                throw Fail($"{nameof(ICommandExecutor)} could not be created: {PluginHost.Describe(ex)}");
            }
            var undeclared = executors.Keys.Where(n => !executorNames.Contains(n, StringComparer.OrdinalIgnoreCase)).ToList();
            var missing = executorNames.Where(n => !executors.ContainsKey(n)).ToList();
            if (undeclared.Count > 0 || missing.Count > 0)
            {
                throw Fail($"declares executors {string.Join(", ", executorNames)} but contributes {(executors.Count == 0 ? "none" : string.Join(", ", executors.Keys))}");
            }
            info.ReplaceContributions(own.Where(d => d.ServiceType == typeof(ICommandExecutor)).Select(d => $"{nameof(ICommandExecutor)}: {PluginHost.ImplementationName(d)}"));
            info.MarkActivated();
            logger.LogInformation("Plugin {Plugin} activated on first use in {Elapsed} ms: {Contributions}", info.Name, clock.ElapsedMilliseconds, string.Join("; ", info.Contributions));
            return executors;
        }
        catch (PluginActivationException ex)
        {
            logger.LogError("Plugin {Plugin} failed on activation: {Reason}", info.Name, ex.Message);
            throw;
        }
        catch (Exception ex)
        {
            var failure = Fail($"activation failed: {PluginHost.Describe(ex)}");
            logger.LogError(ex, "Plugin {Plugin} failed on activation: {Reason}", info.Name, failure.Message);
            throw failure;
        }
    }

    private PluginActivationException Fail(string reason)
    {
        info.MarkFailed(reason);
        return new PluginActivationException(info.Reason ?? reason);
    }

    public async ValueTask DisposeAsync()
    {
        ServiceProvider? services;
        lock (_gate)
        {
            _disposed = true;
            services = _services;
            _services = null;
        }
        if (services is not null)
        {
            await services.DisposeAsync();
        }
    }
}

/// <summary>
/// Stands for an executor of an on-demand plugin under its declared name: the first command activates the plugin,
/// every command runs on the plugin's real executor.
/// </summary>
internal sealed class OnDemandExecutor : ICommandExecutor
{
    private readonly OnDemandPlugin _plugin;
    private readonly IServiceProvider _host;

    public OnDemandExecutor(string name, OnDemandPlugin plugin, IServiceProvider host)
    {
        Name = name;
        _plugin = plugin;
        _host = host;
        // Tracked by the host's activations, which the host container disposes at shutdown (and the plugin's container with it).
        host.GetRequiredService<PluginActivations>().Track(plugin);
    }

    public string Name { get; }

    /// <summary>The real executor, activating the plugin if needed; throws <see cref="PluginActivationException"/>.</summary>
    public async Task<ICommandExecutor> ActivateAsync() => (await _plugin.ActivateAsync(_host).ConfigureAwait(false))[Name];

    public async Task<CommandExit> ExecuteAsync(CommandSpec spec, ICommandContext context, CancellationToken stop)
    {
        ICommandExecutor executor;
        try
        {
            executor = await ActivateAsync().ConfigureAwait(false);
        }
        catch (PluginActivationException ex)
        {
            throw new CommandStartException($"executor '{Name}' is unavailable: plugin {_plugin.Info.Name} failed: {ex.Message}");
        }
        return await executor.ExecuteAsync(spec, context, stop).ConfigureAwait(false);
    }
}

/// <summary>The on-demand plugins of this host; disposing it (the host container does, at shutdown) disposes their containers.</summary>
public sealed class PluginActivations : IAsyncDisposable, IDisposable
{
    private readonly Lock _gate = new();
    private readonly HashSet<OnDemandPlugin> _plugins = [];

    internal void Track(OnDemandPlugin plugin)
    {
        lock (_gate)
        {
            _plugins.Add(plugin);
        }
    }

    public async ValueTask DisposeAsync()
    {
        OnDemandPlugin[] plugins;
        lock (_gate)
        {
            plugins = [.. _plugins];
            _plugins.Clear();
        }
        foreach (var plugin in plugins)
        {
            await plugin.DisposeAsync();
        }
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();
}

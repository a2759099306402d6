using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Execd.Core.Plugins;

/// <summary>
/// Finds <c>plugins/&lt;Name&gt;/&lt;Name&gt;.dll</c>, checks each from its metadata, and activates it: loads it
/// with McMaster.NETCore.Plugins and registers what it contributes — at start-up, or at its first use when the
/// plugin declares its executors by name (<see cref="PluginMetadata.OnDemandExecutorsKey"/>). Every step for a
/// plugin (metadata, load, scan, registrar) is guarded on its own: a plugin that fails is marked Failed with the
/// reason and the host goes on.
/// </summary>
public static class PluginHost
{
    /// <summary>The contracts a plugin can contribute.</summary>
    public static readonly Type[] Contracts = [typeof(ICommandExecutor), typeof(IOutputStorageProvider), typeof(ISessionExecutor), typeof(ITerminalExecutor), typeof(ICodeExecutor)];

    // Types whose identity must be the host's, so that the plugin's services fit the host's container.
    private static readonly Type[] SharedTypes =
    [
        typeof(ICommandExecutor), typeof(IServiceCollection), typeof(IServiceProvider), typeof(ILogger<>),
        typeof(ILoggerFactory), typeof(IConfiguration), typeof(IOptions<>), typeof(IHealthCheck),
        typeof(HealthCheckService), typeof(TimeProvider),
    ];

    /// <summary>
    /// Starts the part of plugin start-up that needs no configuration (finding the plugins, their metadata checks, loading
    /// and scanning those not declared on demand or needing configuration) on the thread pool, so it runs while the host
    /// builds its configuration and services. <see cref="AddExecdPlugins"/> picks it up when it is for the same folder, and
    /// the host's thread takes its share of the plugins not inspected yet.
    /// </summary>
    public static PluginDiscovery Discover(string directory) =>
        new(directory, Task.Run(() => Inspection.Start(directory)));

    public static PluginCatalog AddExecdPlugins(this IServiceCollection services, string directory, IConfiguration configuration, PluginDiscovery? discovery = null)
    {
        var found = discovery is not null && discovery.Directory == directory
            ? discovery.Found.GetAwaiter().GetResult()
            : Inspection.Start(directory);
        found.Help();
        // Registered one after the other in folder order, so the host's container is the same whatever order the
        // discovery finished in.
        for (var i = 0; i < found.Plugins.Count; i++)
        {
            if (found.Inspected[i] is { } inspected)
            {
                var info = found.Plugins[i];
                var clock = System.Diagnostics.Stopwatch.StartNew();
                Register(info, inspected, services, configuration);
                info.StartupMilliseconds += clock.Elapsed.TotalMilliseconds;
            }
        }
        var catalog = new PluginCatalog(found.Plugins, directory);
        services.AddSingleton(catalog);
        services.TryAddSingleton<PluginActivations>();
        return catalog;
    }

    /// <summary>A plugin that passed its metadata checks, loaded and scanned already unless on demand or needing configuration.</summary>
    internal sealed record Inspected(PluginMetadata Metadata, Loaded? Loaded);

    /// <summary>A plugin's assembly in its own load context, its types, and its scanned contributions (registrars not run yet).</summary>
    internal sealed record Loaded(Assembly Assembly, Type[] Types, ServiceCollection Services);

    /// <summary>
    /// The plugins of a folder, inspected side by side (each alone: its metadata, its own load context, a collection of its
    /// own) by every thread that helps: each takes the next plugin no other thread took.
    /// </summary>
    internal sealed class Inspection
    {
        private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _next = -1;
        private int _left;

        private Inspection(List<PluginInfo> plugins)
        {
            Plugins = plugins;
            Inspected = new Inspected?[plugins.Count];
            _left = plugins.Count;
            if (_left == 0)
            {
                _done.SetResult();
            }
        }

        /// <summary>The plugins found, in folder order.</summary>
        public List<PluginInfo> Plugins { get; }

        /// <summary>What was learnt of each plugin (null where it failed, marked so); complete once <see cref="Help"/> returns.</summary>
        public Inspected?[] Inspected { get; }

        /// <summary>
        /// Finds the plugins in <paramref name="directory"/> and starts a thread-pool helper on them per core but one, which is
        /// left to the thread building the host (it takes its share in <see cref="Help"/>).
        /// </summary>
        public static Inspection Start(string directory)
        {
            var inspection = new Inspection(Find(directory));
            for (var i = 0; i < Math.Min(Environment.ProcessorCount - 1, inspection.Plugins.Count); i++)
            {
                _ = Task.Run(inspection.Work);
            }
            return inspection;
        }

        /// <summary>Inspects plugins on this thread until none is left to take, then waits for those other threads took.</summary>
        public void Help()
        {
            Work();
            _done.Task.GetAwaiter().GetResult();
        }

        private void Work()
        {
            for (int i; (i = Interlocked.Increment(ref _next)) < Plugins.Count;)
            {
                var info = Plugins[i];
                try
                {
                    if (info.State != PluginState.Failed)
                    {
                        var clock = System.Diagnostics.Stopwatch.StartNew();
                        Inspected[i] = Inspect(info);
                        info.StartupMilliseconds = clock.Elapsed.TotalMilliseconds;
                    }
                }
                catch (Exception ex)
                {
                    // Inspect reports a plugin's own failures; this is a bug of ours, and it must not leave the host waiting.
                    info.MarkFailed($"inspection failed: {Describe(ex)}");
                }
                finally
                {
                    if (Interlocked.Decrement(ref _left) == 0)
                    {
                        _done.SetResult();
                    }
                }
            }
        }

        private static List<PluginInfo> Find(string directory)
        {
            var plugins = new List<PluginInfo>();
            if (!System.IO.Directory.Exists(directory))
            {
                return plugins;
            }
            foreach (var folder in System.IO.Directory.GetDirectories(directory).Order(StringComparer.Ordinal))
            {
                var name = System.IO.Path.GetFileName(folder);
                var dll = System.IO.Path.Combine(folder, name + ".dll");
                if (name.StartsWith('.'))
                {
                    continue; // hidden (an editor's or a copy tool's folder): never a plugin
                }
                var info = new PluginInfo(name, dll);
                plugins.Add(info);
                if (!File.Exists(dll))
                {
                    // A half-copied or misnamed plugin: the operator meant a plugin here, so say what is missing.
                    var found = System.IO.Directory.GetFiles(folder, "*.dll").Select(System.IO.Path.GetFileName).Order(StringComparer.Ordinal).ToList();
                    info.MarkFailed($"no {name}.dll in plugins/{name}/ (a plugin folder holds <Name>/<Name>.dll; found {(found.Count == 0 ? "no .dll" : string.Join(", ", found))})");
                }
            }
            return plugins;
        }
    }

    /// <summary>The checks from metadata and, unless the plugin is on demand or needs configuration, its loading and scan; null when it fails (marked so).</summary>
    private static Inspected? Inspect(PluginInfo info)
    {
        // Every check that can be made from metadata is made before any of the plugin's code is loaded.
        PluginMetadata metadata;
        try
        {
            metadata = PluginMetadata.Read(info.Path);
        }
        catch (Exception ex)
        {
            info.MarkFailed($"load failed: {Describe(ex)}");
            return null;
        }
        if (Refusal(info, metadata) is { } refused)
        {
            info.MarkFailed(refused);
            return null;
        }
        if (metadata.RequiredConfiguration is not null || metadata.OnDemandExecutors.Count > 0)
        {
            return new Inspected(metadata, null); // decided with the configuration (Register)
        }
        return Load(info) is { } loaded ? new Inspected(metadata, loaded) : null;
    }

    /// <summary>Runs an inspected plugin's registrars and adds what it contributes to the host's services.</summary>
    private static void Register(PluginInfo info, Inspected inspected, IServiceCollection services, IConfiguration configuration)
    {
        if (inspected.Metadata.RequiredConfiguration is { } required && string.IsNullOrWhiteSpace(configuration[required]))
        {
            // Off until configured (say Redis without a connection string), known from metadata: its code and its dependencies
            // (StackExchange.Redis) are never loaded into this daemon.
            info.MarkInactive($"{required} is not set (declared in the plugin's metadata; its code was not loaded)");
            return;
        }
        if (inspected.Metadata.OnDemandExecutors is { Count: > 0 } names)
        {
            // Its executors are known by name: the plugin (and what it depends on, say the PowerShell SDK) is loaded
            // by the first command that asks for one of them.
            info.OnDemand = true;
            var plugin = new OnDemandPlugin(info, names, configuration);
            foreach (var name in names)
            {
                var description = $"{nameof(ICommandExecutor)}: {name} (activated on first use)";
                services.AddSingleton(new PluginContribution(info, typeof(ICommandExecutor), sp => new OnDemandExecutor(name, plugin, sp), description));
                info.AddContribution(description);
            }
            return;
        }

        if ((inspected.Loaded ?? Load(info)) is not { } loaded || RunRegistrars(info, loaded, configuration) is not { } activated)
        {
            return;
        }
        foreach (var descriptor in activated.Services)
        {
            if (descriptor.ServiceType == typeof(PluginInactive))
            {
                // Kept by the catalog only (above); a plugin that contributes something is simply active.
                continue;
            }
            if (Contracts.Contains(descriptor.ServiceType))
            {
                var description = $"{descriptor.ServiceType.Name}: {ImplementationName(descriptor)}";
                services.AddSingleton(new PluginContribution(info, descriptor.ServiceType, Factory(descriptor), description));
                info.AddContribution(description);
            }
            else if (OwnedByPlugin(descriptor.ServiceType, activated.Assembly) || IsConfiguration(descriptor.ServiceType))
            {
                services.Add(descriptor);
            }
            else
            {
                // Framework services (options, health check service, loggers): the host's win.
                services.TryAdd(descriptor);
            }
        }
        info.MarkActivated();
    }

    /// <summary>Why the plugin must not load, judged from its metadata alone (framework, contract major, newer shared assemblies); null when it may.</summary>
    private static string? Refusal(PluginInfo info, PluginMetadata metadata)
    {
        info.Version = metadata.Version?.ToString();
        if (NewerTargetFramework(metadata.TargetFramework) is { } framework)
        {
            return framework;
        }
        // Another major version of the contract would only surface as an unhelpful type-load error.
        // (No reference at all ends as "contributes nothing" at activation.)
        if (ContractVersion.BuiltAgainst(metadata) is { } builtAgainst)
        {
            info.ContractVersion = builtAgainst.ToString();
            if (ContractVersion.Incompatibility(builtAgainst, ContractVersion.Host) is { } incompatible)
            {
                return incompatible;
            }
        }
        return NewerThanHost(metadata.References);
    }

    private static readonly AssemblyName[] SharedAssemblies = SharedTypes.Select(t => t.Assembly).Distinct().Select(a => a.GetName()).ToArray();

    /// <summary>
    /// The plugin's own load context (McMaster's), built directly rather than through <c>PluginLoader</c>:
    /// <list type="bullet">
    /// <item>Every assembly the daemon has is taken from the daemon (the default context), so the plugin's types
    /// fit the host's container. With that, the eager walk McMaster otherwise does (loading every assembly the
    /// shared types' assemblies reference, recursively: System.Private.Xml, System.Net.Http, … at start-up, mapped
    /// for ever) decides nothing: lazy loading skips it.</item>
    /// <item>An assembly only the plugin has (one in its folder that the daemon does not have: Execd.Processes of the shell
    /// plugins, NetMQ, …) is marked the plugin's own, so it is taken from the plugin without asking the default context first:
    /// asked, the default context throws FileNotFoundException, which McMaster swallows — at start-up that was the daemon's first
    /// exception (~7.5 ms for a first exception in a fresh process). Naming the daemon's assemblies instead is no way out: McMaster
    /// loads every assembly named so.</item>
    /// <item><c>PluginLoader</c> also reads the plugin's and the daemon's <c>*.runtimeconfig.json</c> for every
    /// plugin, with reflection-based System.Text.Json (serializer start-up, emitted accessors: over 100 methods
    /// compiled by the JIT before the first plugin loads), only to find <c>additionalProbingPaths</c>, which
    /// only a <c>runtimeconfig.dev.json</c> of a development build (no longer written since .NET 6) holds. A
    /// plugin's dependencies are in its folder, found through its deps.json.</item>
    /// </list>
    /// </summary>
    private static System.Runtime.Loader.AssemblyLoadContext LoadContextFor(string path)
    {
        var builder = new McMaster.NETCore.Plugins.Loader.AssemblyLoadContextBuilder()
            .SetMainAssemblyPath(path)
            .SetDefaultContext(System.Runtime.Loader.AssemblyLoadContext.Default)
            .PreferDefaultLoadContext(true)
            .IsLazyLoaded(true);
        foreach (var shared in SharedAssemblies)
        {
            builder.PreferDefaultLoadContextAssembly(shared);
        }
        try
        {
            foreach (var file in Directory.EnumerateFiles(Path.GetDirectoryName(path)!, "*.dll", SearchOption.AllDirectories))
            {
                var name = Path.GetFileNameWithoutExtension(file);
                if (!HostAssemblies.Value.ContainsKey(name))
                {
                    builder.PreferLoadContextAssembly(new AssemblyName(name));
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A folder that cannot be listed whole: its assemblies are found as before, the default context asked first.
        }
        return builder.Build();
    }

    /// <summary>A plugin's loaded assembly and the services it registered in a collection of its own.</summary>
    internal sealed record Activated(Assembly Assembly, ServiceCollection Services);

    /// <summary>
    /// Loads the plugin's assembly in its own load context, scans it and runs its registrars into a collection of its
    /// own. Null (and the plugin Failed with the reason) when any step fails or it contributes nothing.
    /// </summary>
    internal static Activated? Activate(PluginInfo info, IConfiguration configuration) =>
        Load(info) is { } loaded ? RunRegistrars(info, loaded, configuration) : null;

    /// <summary>Loads the plugin's assembly in its own load context and scans it into a collection of its own; null (and the plugin Failed) when that fails.</summary>
    private static Loaded? Load(PluginInfo info)
    {
        Assembly assembly;
        Type[] types;
        try
        {
            assembly = LoadContextFor(info.Path).LoadFromAssemblyPath(info.Path);
            // Load every type now, so a broken assembly fails here and not at the first request.
            types = assembly.GetTypes();
        }
        catch (Exception ex)
        {
            info.MarkFailed($"load failed: {Describe(ex)}");
            return null;
        }

        // Checked before the scan: with its own copy of the contracts a plugin's types match nothing of the host's.
        if (ReferencesOwnContractCopy(types))
        {
            info.MarkFailed("the plugin ships its own copy of Execd.Abstractions; its types cannot match the host's (reference it with Private=false, ExcludeAssets=runtime)");
            return null;
        }

        var own = new ServiceCollection();
        try
        {
            own.Scan(scan => scan.FromAssemblies(assembly)
                .AddClasses(c => c.AssignableTo<ICommandExecutor>().WithoutAttribute<RegisteredByPluginAttribute>(), publicOnly: false)
                .As<ICommandExecutor>().WithSingletonLifetime()
                .AddClasses(c => c.AssignableTo<IOutputStorageProvider>().WithoutAttribute<RegisteredByPluginAttribute>(), publicOnly: false)
                .As<IOutputStorageProvider>().WithSingletonLifetime()
                .AddClasses(c => c.AssignableTo<ISessionExecutor>().WithoutAttribute<RegisteredByPluginAttribute>(), publicOnly: false)
                .As<ISessionExecutor>().WithSingletonLifetime()
                .AddClasses(c => c.AssignableTo<ITerminalExecutor>().WithoutAttribute<RegisteredByPluginAttribute>(), publicOnly: false)
                .As<ITerminalExecutor>().WithSingletonLifetime()
                .AddClasses(c => c.AssignableTo<ICodeExecutor>().WithoutAttribute<RegisteredByPluginAttribute>(), publicOnly: false)
                .As<ICodeExecutor>().WithSingletonLifetime());
        }
        catch (Exception ex)
        {
            info.MarkFailed($"registration failed: {Describe(ex)}");
            return null;
        }
        return new Loaded(assembly, types, own);
    }

    /// <summary>Runs the loaded plugin's registrars into its collection; null (and the plugin Failed or inactive) when that fails or it contributes nothing.</summary>
    private static Activated? RunRegistrars(PluginInfo info, Loaded loaded, IConfiguration configuration)
    {
        var (assembly, types, own) = loaded;
        try
        {
            foreach (var type in types.Where(t => typeof(IExecdPlugin).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false }))
            {
                var registrar = (IExecdPlugin)Activator.CreateInstance(type, nonPublic: true)!;
                registrar.Register(own, configuration);
            }
        }
        catch (Exception ex)
        {
            info.MarkFailed($"registration failed: {Describe(ex)}");
            return null;
        }
        if (!own.Any(d => Contracts.Contains(d.ServiceType)))
        {
            if (own.Select(d => d.ImplementationInstance).OfType<PluginInactive>().FirstOrDefault() is { } inactive)
            {
                // The plugin's word that it is off until configured (say Redis without a connection string): not a failure.
                info.MarkInactive(inactive.Reason);
                return null;
            }
            info.MarkFailed("contributes nothing: no executor, session executor, terminal executor, code executor or storage provider was found in the assembly");
            return null;
        }
        return new Activated(assembly, own);
    }

    /// <summary>Why a plugin built for a newer .NET than the daemon runs on cannot load, or null (older ones load: .NET runs them).</summary>
    private static string? NewerTargetFramework(string? moniker)
    {
        const string prefix = ".NETCoreApp,Version=v";
        if (moniker is null || !moniker.StartsWith(prefix, StringComparison.Ordinal) || !Version.TryParse(moniker[prefix.Length..], out var version))
        {
            return null;
        }
        var runtime = Environment.Version;
        return version.Major > runtime.Major
            ? $"built for .NET {version.ToString(2)} ({moniker}), but this daemon runs on .NET {runtime.ToString(2)}; rebuild the plugin for net{runtime.Major}.0"
            : null;
    }

    // The daemon's own assemblies by simple name (file name without .dll), as the runtime was started with them.
    private static readonly Lazy<Dictionary<string, string>> HostAssemblies = new(() =>
    {
        // A plain loop: LINQ's grouping over ~200 paths cost ~10 ms of JIT-compiled generic code on the first plugin's path.
        var byName = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var path in ((AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") as string) ?? "").Split(System.IO.Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            byName.TryAdd(System.IO.Path.GetFileNameWithoutExtension(path), path);
        }
        return byName;
    });

    // The version of each of the daemon's assemblies a plugin references, found once (plugins reference mostly the same assemblies):
    // the loaded assembly's when it is loaded, else read from its file's metadata with the reader the plugins' own checks use. Not
    // AssemblyName.GetAssemblyName (its first call cost 16-23 ms), and the name of only the one loaded assembly that matches (asking
    // every loaded assembly for its name cost 7-10 ms).
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Version?> HostVersions = new(StringComparer.OrdinalIgnoreCase);

    private static Version? HostVersion(string name, string path)
    {
        foreach (var assembly in System.Runtime.Loader.AssemblyLoadContext.Default.Assemblies)
        {
            // "Name, Version=…, Culture=…, PublicKeyToken=…"
            if (assembly.FullName is { } full && full.Length > name.Length && full[name.Length] == ',' && full.StartsWith(name, StringComparison.OrdinalIgnoreCase))
            {
                return assembly.GetName().Version;
            }
        }
        return PluginMetadata.AssemblyVersion(path);
    }

    /// <summary>
    /// Why the plugin cannot share the daemon's types: it was compiled against a newer version of an assembly the daemon
    /// itself provides (say Microsoft.Extensions.Logging.Abstractions 11 against the daemon's 10), so the runtime would
    /// load the plugin's private copy and its <c>ILogger&lt;T&gt;</c> would never be the daemon's. Null when none.
    /// </summary>
    private static string? NewerThanHost(IEnumerable<AssemblyName> references)
    {
        var conflicts = new List<string>();
        foreach (var reference in references)
        {
            if (reference.Name is null || reference.Version is not { } wanted || !HostAssemblies.Value.TryGetValue(reference.Name, out var path))
            {
                continue;
            }
            var host = HostVersions.GetOrAdd(reference.Name, static (name, p) => HostVersion(name, p), path);
            if (host is not null && wanted > host)
            {
                conflicts.Add($"{reference.Name} {wanted} (the daemon has {host})");
            }
        }
        return conflicts.Count == 0
            ? null
            : $"built against newer versions of assemblies the daemon provides: {string.Join(", ", conflicts)}; build the plugin against the daemon's versions";
    }

    private static bool OwnedByPlugin(Type type, Assembly assembly) =>
        type.Assembly == assembly || (type.IsGenericType && type.GetGenericArguments().Any(a => a.Assembly == assembly));

    // Option configurators (of health checks, of the plugin's options) add up; they never replace.
    private static bool IsConfiguration(Type type) =>
        type.IsGenericType && (type.GetGenericTypeDefinition() == typeof(IConfigureOptions<>)
            || type.GetGenericTypeDefinition() == typeof(IPostConfigureOptions<>)
            || type.GetGenericTypeDefinition() == typeof(IValidateOptions<>));

    private static bool ReferencesOwnContractCopy(Type[] types)
    {
        var hostContracts = typeof(ICommandExecutor).Assembly;
        return types.SelectMany(t => t.GetInterfaces())
            .Any(i => i.FullName is not null && i.Namespace == "Execd" && i.Assembly != hostContracts && i.Assembly.GetName().Name == hostContracts.GetName().Name);
    }

    private static Func<IServiceProvider, object> Factory(ServiceDescriptor d) =>
        d.ImplementationInstance is { } instance ? _ => instance
        : d.ImplementationFactory is { } factory ? factory
        : sp => ActivatorUtilities.CreateInstance(sp, d.ImplementationType!);

    internal static string ImplementationName(ServiceDescriptor d) =>
        (d.ImplementationType ?? d.ImplementationInstance?.GetType())?.Name ?? "factory";

    internal static string Describe(Exception ex) => ex switch
    {
        ReflectionTypeLoadException r => string.Join("; ", r.LoaderExceptions.Where(e => e is not null).Select(e => e!.Message).Distinct()),
        TargetInvocationException { InnerException: { } inner } => Describe(inner),
        _ => $"{ex.GetType().Name}: {ex.Message}",
    };
}

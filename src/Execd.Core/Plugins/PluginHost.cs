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

    public static PluginCatalog AddExecdPlugins(this IServiceCollection services, string directory, IConfiguration configuration)
    {
        var plugins = new List<PluginInfo>();
        if (System.IO.Directory.Exists(directory))
        {
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
                    continue;
                }
            }
        }
        // Checked and activated side by side (each plugin alone: its metadata, its own load context, its registrars into a
        // collection of its own), then registered with the host one after the other in folder order, so the host's
        // container is the same whatever order the activations finished in.
        var loadable = plugins.Where(p => p.State != PluginState.Failed).ToList();
        var prepared = new Prepared?[loadable.Count];
        Parallel.For(0, loadable.Count, i =>
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            prepared[i] = Prepare(loadable[i], configuration);
            loadable[i].StartupMilliseconds = clock.Elapsed.TotalMilliseconds;
        });
        for (var i = 0; i < loadable.Count; i++)
        {
            if (prepared[i] is { } ready)
            {
                Register(loadable[i], ready, services, configuration);
            }
        }
        var catalog = new PluginCatalog(plugins, directory);
        services.AddSingleton(catalog);
        services.TryAddSingleton<PluginActivations>();
        return catalog;
    }

    /// <summary>What a plugin brings once checked: its executors' names (activated on first use) or its activated services.</summary>
    private sealed record Prepared(IReadOnlyList<string>? OnDemandExecutors, Activated? Activated);

    /// <summary>The checks from metadata and, unless the plugin is on demand, its activation; null when it fails or is inactive (marked so).</summary>
    private static Prepared? Prepare(PluginInfo info, IConfiguration configuration)
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
        if (metadata.RequiredConfiguration is { } required && string.IsNullOrWhiteSpace(configuration[required]))
        {
            // Off until configured (say Redis without a connection string), known from metadata: its code and its dependencies
            // (StackExchange.Redis) are never loaded into this daemon.
            info.MarkInactive($"{required} is not set (declared in the plugin's metadata; its code was not loaded)");
            return null;
        }
        if (metadata.OnDemandExecutors is { Count: > 0 } names)
        {
            // Its executors are known by name: the plugin (and what it depends on, say the PowerShell SDK) is loaded
            // by the first command that asks for one of them.
            return new Prepared(names, null);
        }
        return Activate(info, configuration) is { } activated ? new Prepared(null, activated) : null;
    }

    /// <summary>Adds what a prepared plugin contributes to the host's services.</summary>
    private static void Register(PluginInfo info, Prepared prepared, IServiceCollection services, IConfiguration configuration)
    {
        if (prepared.OnDemandExecutors is { } names)
        {
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

        var activated = prepared.Activated!;
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
        return builder.Build();
    }

    /// <summary>A plugin's loaded assembly and the services it registered in a collection of its own.</summary>
    internal sealed record Activated(Assembly Assembly, ServiceCollection Services);

    /// <summary>
    /// Loads the plugin's assembly in its own load context, scans it and runs its registrars into a collection of its
    /// own. Null (and the plugin Failed with the reason) when any step fails or it contributes nothing.
    /// </summary>
    internal static Activated? Activate(PluginInfo info, IConfiguration configuration)
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
        ((AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") as string) ?? "")
            .Split(System.IO.Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .GroupBy(path => System.IO.Path.GetFileNameWithoutExtension(path) ?? "", StringComparer.OrdinalIgnoreCase)
            .ToDictionary(g => g.Key, g => g.First(), StringComparer.OrdinalIgnoreCase));

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Version?> HostVersions = new(StringComparer.Ordinal);

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
            // Plugins reference mostly the same assemblies: each of the daemon's files is read once.
            var host = HostVersions.GetOrAdd(path, static p => AssemblyName.GetAssemblyName(p).Version);
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

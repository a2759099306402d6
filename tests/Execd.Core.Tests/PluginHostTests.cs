using System.Reflection;
using Execd.Core.Commands;
using Execd.Core.Plugins;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Execd.Core.Tests;

public sealed class PluginHostTests
{
    private static string TestPluginsDir => typeof(PluginHostTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .First(a => a.Key == "TestPluginsDir").Value!;

    /// <summary>A plugins folder with copies of the named built plugins (test ones and shipped ones).</summary>
    private static TestDirectory PluginsFolder(params string[] names)
    {
        var dir = TestPaths.NewDirectory("plugins");
        foreach (var name in names)
        {
            var source = Directory.Exists(Path.Combine(TestPluginsDir, name)) ? Path.Combine(TestPluginsDir, name) : Path.Combine(TestPaths.PluginsDir, name);
            var target = dir.Combine(name);
            Directory.CreateDirectory(target);
            foreach (var file in Directory.GetFiles(source))
            {
                File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
            }
        }
        return dir;
    }

    private static (PluginCatalog Catalog, ServiceProvider Services) Load(string dir)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        var catalog = services.AddExecdPlugins(dir, new ConfigurationBuilder().Build());
        return (catalog, services.BuildServiceProvider());
    }

    [Fact]
    public void Load_GoodPlugin_IsLoadedWithItsExecutor()
    {
        using var dir = PluginsFolder("Execd.TestPlugins.Good");
        var (catalog, services) = Load(dir.Path);

        var plugin = Assert.Single(catalog.Plugins);
        Assert.Equal(PluginState.Activated, plugin.State);
        Assert.Equal(["ICommandExecutor: UpperExecutor"], plugin.Contributions);
        var executors = ContributionRegistry.Create<ICommandExecutor>(services.GetServices<PluginContribution>(), services, NullLogger.Instance);
        Assert.Equal("upper", Assert.Single(executors).Instance.Name);
    }

    [Fact]
    public void Load_PluginWithAPrivateDependency_TakesItFromItsFolder_WithoutAFailedLookupInTheDaemon()
    {
        // The shipped shell plugin carries Execd.Processes, which the daemon does not have.
        using var dir = PluginsFolder("Execd.Executors.Shell");
        var failedLookups = 0;
        void Count(object? sender, System.Runtime.ExceptionServices.FirstChanceExceptionEventArgs e)
        {
            if (e.Exception is FileNotFoundException f && f.Message.Contains("Execd.Processes", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref failedLookups);
            }
        }
        AppDomain.CurrentDomain.FirstChanceException += Count;
        try
        {
            var (catalog, _) = Load(dir.Path);
            Assert.Equal(PluginState.Activated, Assert.Single(catalog.Plugins).State);
            var main = dir.Combine("Execd.Executors.Shell", "Execd.Executors.Shell.dll");
            var context = System.Runtime.Loader.AssemblyLoadContext.All.Single(c => c.Assemblies.Any(a => a.Location == main));

            var processes = context.LoadFromAssemblyName(new AssemblyName("Execd.Processes"));

            Assert.Equal(dir.Combine("Execd.Executors.Shell"), Path.GetDirectoryName(processes.Location));
            Assert.Same(context, System.Runtime.Loader.AssemblyLoadContext.GetLoadContext(processes));
            // An assembly the daemon has still comes from the daemon.
            Assert.Same(typeof(ICommandExecutor).Assembly, context.LoadFromAssemblyName(typeof(ICommandExecutor).Assembly.GetName()));
        }
        finally
        {
            AppDomain.CurrentDomain.FirstChanceException -= Count;
        }
        Assert.Equal(0, failedLookups);
    }

    [Fact]
    public void Load_RegistrarThrows_PluginFailedWithReason_OthersLoad()
    {
        using var dir = PluginsFolder("Execd.TestPlugins.ThrowsOnRegister", "Execd.TestPlugins.Good");
        var (catalog, _) = Load(dir.Path);

        var failed = catalog.Plugins.Single(p => p.Name == "Execd.TestPlugins.ThrowsOnRegister");
        Assert.Equal(PluginState.Failed, failed.State);
        Assert.Contains("registrar exploded on purpose", failed.Reason);
        Assert.Equal(PluginState.Activated, catalog.Plugins.Single(p => p.Name == "Execd.TestPlugins.Good").State);
    }

    [Fact]
    public void Load_PluginContributingNothing_IsFailed()
    {
        using var dir = PluginsFolder("Execd.TestPlugins.Empty");
        var (catalog, _) = Load(dir.Path);

        var plugin = Assert.Single(catalog.Plugins);
        Assert.Equal(PluginState.Failed, plugin.State);
        Assert.StartsWith("contributes nothing", plugin.Reason);
    }

    [Fact]
    public void Load_CorruptAssembly_IsFailedOnLoad()
    {
        using var dir = TestPaths.NewDirectory("plugins");
        Directory.CreateDirectory(dir.Combine("Broken"));
        File.WriteAllBytes(dir.Combine("Broken", "Broken.dll"), [0x4d, 0x5a, 1, 2, 3, 4]);
        var (catalog, _) = Load(dir.Path);

        var plugin = Assert.Single(catalog.Plugins);
        Assert.Equal(PluginState.Failed, plugin.State);
        Assert.StartsWith("load failed", plugin.Reason);
    }

    [Fact]
    public void Create_ConstructorThrows_PluginMarkedFailed_OthersCreated()
    {
        using var dir = PluginsFolder("Execd.TestPlugins.BadConstructor", "Execd.TestPlugins.Good");
        var (catalog, services) = Load(dir.Path);

        var executors = ContributionRegistry.Create<ICommandExecutor>(services.GetServices<PluginContribution>(), services, NullLogger.Instance);

        Assert.Equal("upper", Assert.Single(executors).Instance.Name);
        var bad = catalog.Plugins.Single(p => p.Name == "Execd.TestPlugins.BadConstructor");
        Assert.Equal(PluginState.Failed, bad.State);
        Assert.Contains("constructor exploded on purpose", bad.Reason);
    }

    [Fact]
    public void Load_MissingFolder_NoPluginsNoError()
    {
        var (catalog, _) = Load("/definitely/not/a/plugins/dir");

        Assert.Empty(catalog.Plugins);
    }

    [Fact]
    public async Task Daemon_WithBrokenPlugins_StillStartsAndRunsCommandsOnGoodOnes()
    {
        using var dir = PluginsFolder("Execd.TestPlugins.Good", "Execd.TestPlugins.ThrowsOnRegister", "Execd.TestPlugins.Empty",
            "Execd.TestPlugins.BadConstructor", "Execd.Executors.Shell", "Execd.Storage.Memory");
        await using var daemon = await Daemon.StartAsync(new Dictionary<string, string?> { ["Execd:PluginsDir"] = dir.Path });

        var upper = await daemon.RunAsync("make me loud", new { executor = "upper" });
        Assert.Equal(["MAKE ME LOUD"], upper.Texts("stdout"));
        Assert.Equal(0, upper.ExitCode);
        var failing = await daemon.RunAsync("fail please", new { executor = "UPPER" });
        Assert.Equal(9, failing.ExitCode);
        var shell = await daemon.RunAsync("echo still here");
        Assert.Equal(["still here"], shell.Texts("stdout"));

        var plugins = System.Text.Json.Nodes.JsonNode.Parse(await daemon.Client.GetStringAsync("/admin/plugins"))!.AsArray();
        Assert.Equal(6, plugins.Count);
        Assert.Equal(3, plugins.Count(p => (string?)p!["status"] == "Failed"));
        Assert.All(plugins.Where(p => (string?)p!["status"] == "Failed"), p => Assert.False(string.IsNullOrEmpty((string?)p!["reason"])));
    }
    [Fact]
    public void Load_FolderWithoutItsDll_IsFailedNamingWhatIsMissing_OthersLoad()
    {
        using var dir = PluginsFolder("Execd.TestPlugins.Good");
        Directory.CreateDirectory(dir.Combine("Half.Copied"));
        File.WriteAllText(dir.Combine("Half.Copied", "Other.dll"), "not the plugin");
        Directory.CreateDirectory(dir.Combine(".hidden"));
        var (catalog, _) = Load(dir.Path);

        var half = catalog.Plugins.Single(p => p.Name == "Half.Copied");
        Assert.Equal(PluginState.Failed, half.State);
        Assert.Contains("no Half.Copied.dll", half.Reason);
        Assert.Contains("Other.dll", half.Reason);
        Assert.DoesNotContain(catalog.Plugins, p => p.Name == ".hidden");
        Assert.Equal(PluginState.Activated, catalog.Plugins.Single(p => p.Name == "Execd.TestPlugins.Good").State);
    }

    [Fact]
    public void Load_PluginBuiltForANewerDotnet_IsFailedNamingBothFrameworks()
    {
        using var dir = PluginsFolder("Execd.TestPlugins.FutureFramework", "Execd.TestPlugins.Good");
        var (catalog, _) = Load(dir.Path);

        var future = catalog.Plugins.Single(p => p.Name == "Execd.TestPlugins.FutureFramework");
        Assert.True(future.State == PluginState.Failed, $"{future.State}: {future.Reason} {string.Join(",", future.Contributions)}");
        Assert.Contains(".NET 11.0", future.Reason);
        Assert.Contains($".NET {Environment.Version.Major}.", future.Reason);
        Assert.Empty(future.Contributions);
        Assert.Equal(PluginState.Activated, catalog.Plugins.Single(p => p.Name == "Execd.TestPlugins.Good").State);
    }

    [Fact]
    public void Load_PluginShippingItsOwnContractCopy_UsesTheHostsTypesAndResolvesILoggerOfT()
    {
        using var dir = PluginsFolder("Execd.TestPlugins.OwnContractCopy");
        Assert.True(File.Exists(dir.Combine("Execd.TestPlugins.OwnContractCopy", "Execd.Abstractions.dll")), "the test plugin must ship a private copy");
        var (catalog, services) = Load(dir.Path);

        var plugin = Assert.Single(catalog.Plugins);
        Assert.True(plugin.State == PluginState.Activated, plugin.Reason);
        var executor = Assert.Single(ContributionRegistry.Create<ICommandExecutor>(services.GetServices<PluginContribution>(), services, NullLogger.Instance));
        Assert.Equal("own-copy", executor.Instance.Name);
    }

    [Fact]
    public void Load_PluginBuiltAgainstANewerMicrosoftExtensions_IsFailedNamingBothVersions_OthersLoad()
    {
        using var dir = PluginsFolder("Execd.TestPlugins.NewerDependency", "Execd.TestPlugins.Good");
        var hostVersion = typeof(ILogger<>).Assembly.GetName().Version!;
        var (catalog, services) = Load(dir.Path);

        var newer = catalog.Plugins.Single(p => p.Name == "Execd.TestPlugins.NewerDependency");
        Assert.Equal(PluginState.Failed, newer.State);
        Assert.Contains("Microsoft.Extensions.Logging.Abstractions 11.0.0.0", newer.Reason);
        Assert.Contains($"the daemon has {hostVersion}", newer.Reason);
        Assert.Empty(newer.Contributions);
        var executors = ContributionRegistry.Create<ICommandExecutor>(services.GetServices<PluginContribution>(), services, NullLogger.Instance);
        Assert.Equal("upper", Assert.Single(executors).Instance.Name);
    }

    [Fact]
    public void Load_ShippedPlugins_RecordTheContractVersionTheyWereBuiltAgainst()
    {
        using var dir = PluginsFolder("Execd.TestPlugins.Good");
        var (catalog, _) = Load(dir.Path);

        Assert.Equal(ContractVersion.Host.ToString(), Assert.Single(catalog.Plugins).ContractVersion);
    }

    [Theory]
    [InlineData(1, 0, 1, 0, true)]
    [InlineData(1, 3, 1, 0, true)]    // a newer minor: accepted
    [InlineData(1, 0, 1, 3, true)]    // an older minor: accepted
    [InlineData(2, 0, 1, 0, false)]   // the next major: refused
    [InlineData(0, 9, 1, 0, false)]
    public void ContractVersion_SameMajorLoads_AnotherMajorIsRefusedNamingBoth(int pluginMajor, int pluginMinor, int hostMajor, int hostMinor, bool compatible)
    {
        var reason = ContractVersion.Incompatibility(new ContractVersion(pluginMajor, pluginMinor), new ContractVersion(hostMajor, hostMinor));

        if (compatible)
        {
            Assert.Null(reason);
        }
        else
        {
            Assert.Contains($"{pluginMajor}.{pluginMinor}", reason);
            Assert.Contains($"provides {hostMajor}.{hostMinor}", reason);
        }
    }

    [Fact]
    public void ContractVersion_Host_IsTheContractAssemblysStampedVersion()
    {
        var assembly = typeof(ICommandExecutor).Assembly;

        Assert.Equal(assembly.GetName().Version!.Major, ContractVersion.Host.Major);
        Assert.Equal(0, assembly.GetName().Version!.Minor);   // every minor binds to MAJOR.0.0.0
        Assert.Equal(ContractVersion.Host, ContractVersion.Of(assembly));
    }

    [Fact]
    public async Task Daemon_DuplicateProviderNameAndThrowingHealthCheck_ReportedInAdminAndHealthz_OthersUnaffected()
    {
        using var dir = PluginsFolder("Execd.Executors.Shell", "Execd.Storage.Memory", "Execd.TestPlugins.DuplicateStorage", "Execd.TestPlugins.ThrowingHealthCheck");
        await using var daemon = await Daemon.StartAsync(new Dictionary<string, string?> { ["Execd:PluginsDir"] = dir.Path, ["Storage:Health:Interval"] = "00:00:00.200" });

        var run = await daemon.RunAsync("echo still stored");
        Assert.Equal(["still stored"], run.Texts("stdout"));
        var status = System.Text.Json.Nodes.JsonNode.Parse(await daemon.Client.GetStringAsync($"/command/status/{run.Id}"))!;
        Assert.Equal("memory", (string?)status["output_provider"]);
        Assert.Equal("still stored\n", await daemon.Client.GetStringAsync($"/command/{run.Id}/logs?cursor=0"));

        var plugins = System.Text.Json.Nodes.JsonNode.Parse(await daemon.Client.GetStringAsync("/admin/plugins"))!.AsArray();
        var duplicate = plugins.Single(p => (string?)p!["name"] == "Execd.TestPlugins.DuplicateStorage")!;
        Assert.Equal("Failed", (string?)duplicate["status"]);
        Assert.Contains("'memory' is already taken", (string?)duplicate["reason"]);
        Assert.Equal("Activated", (string?)plugins.Single(p => (string?)p!["name"] == "Execd.Storage.Memory")!["status"]);

        // The throwing check: its provider is Unhealthy with the exception's message, ranked last; the daemon serves on.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        System.Text.Json.Nodes.JsonNode? uncheckable;
        do
        {
            await Task.Delay(100);
            var storage = System.Text.Json.Nodes.JsonNode.Parse(await daemon.Client.GetStringAsync("/admin/storage"))!;
            uncheckable = storage["providers"]!.AsArray().Single(p => (string?)p!["name"] == "uncheckable");
        }
        while ((string?)uncheckable!["status"] != "Unhealthy" && DateTime.UtcNow < deadline);
        Assert.Equal("Unhealthy", (string?)uncheckable["status"]);
        Assert.Contains("exploded on purpose", (string?)uncheckable["reason"]);

        using var health = await daemon.Client.GetAsync("/healthz");
        var body = await health.Content.ReadAsStringAsync();
        Assert.Equal(200, (int)health.StatusCode);
        Assert.Contains("\"Degraded\"", body);
        Assert.Contains("already taken", body);
        Assert.Contains("exploded on purpose", body);
    }

    [Fact]
    public async Task Discover_Early_RegistrarsRunLaterWithTheHostsConfiguration()
    {
        using var dir = PluginsFolder("Execd.TestPlugins.Good", "Execd.TestPlugins.SlowHealthCheck", "Execd.TestPlugins.ThrowsOnRegister");
        using var control = TestPaths.NewDirectory("slow-check");
        var discovery = PluginHost.Discover(dir.Path);
        await discovery.Found.WaitAsync(TimeSpan.FromSeconds(30));

        var services = new ServiceCollection();
        services.AddLogging();
        // SlowHealthCheck's registrar throws unless this key is set: it is only in the configuration given now.
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["SlowHealthCheck:Directory"] = control.Path }).Build();
        var catalog = services.AddExecdPlugins(dir.Path, configuration, discovery);

        Assert.Equal(dir.Path, catalog.Directory);
        Assert.Equal(["Execd.TestPlugins.Good", "Execd.TestPlugins.SlowHealthCheck", "Execd.TestPlugins.ThrowsOnRegister"], catalog.Plugins.Select(p => p.Name));
        Assert.Equal(PluginState.Activated, catalog.Plugins[0].State);
        Assert.Equal(["ICommandExecutor: UpperExecutor"], catalog.Plugins[0].Contributions);
        Assert.Equal(PluginState.Activated, catalog.Plugins[1].State);
        Assert.Equal(PluginState.Failed, catalog.Plugins[2].State);
        Assert.Contains("registrar exploded on purpose", catalog.Plugins[2].Reason);
        using var provider = services.BuildServiceProvider();
        var executors = ContributionRegistry.Create<ICommandExecutor>(provider.GetServices<PluginContribution>(), provider, NullLogger.Instance);
        Assert.Equal("upper", Assert.Single(executors).Instance.Name);
    }

    [Fact]
    public void Discover_HostArrivingAtOnce_TakesItsShare_SameCatalogAsWithoutEarlyDiscovery()
    {
        using var dir = PluginsFolder("Execd.TestPlugins.Empty", "Execd.TestPlugins.FutureFramework", "Execd.TestPlugins.Good", "Execd.TestPlugins.NewerDependency", "Execd.TestPlugins.ThrowsOnRegister");
        var configuration = new ConfigurationBuilder().Build();
        // The host's thread gets to the plugins while the early discovery has barely started: both inspect, each plugin once.
        var early = new ServiceCollection().AddExecdPlugins(dir.Path, configuration, PluginHost.Discover(dir.Path));
        var alone = new ServiceCollection().AddExecdPlugins(dir.Path, configuration);

        Assert.Equal(alone.Plugins.Select(p => p.Name), early.Plugins.Select(p => p.Name));
        Assert.Equal(alone.Plugins.Select(p => (p.State, p.Reason, string.Join("; ", p.Contributions))),
            early.Plugins.Select(p => (p.State, p.Reason, string.Join("; ", p.Contributions))));
        Assert.Contains(early.Plugins, p => p.State == PluginState.Activated);
        Assert.Contains(early.Plugins, p => p.State == PluginState.Failed);
    }

    [Fact]
    public void Discover_ForAnotherFolder_IsNotUsed()
    {
        using var early = PluginsFolder("Execd.TestPlugins.Good");
        using var configured = PluginsFolder("Execd.TestPlugins.Empty");
        var discovery = PluginHost.Discover(early.Path);

        var services = new ServiceCollection();
        services.AddLogging();
        var catalog = services.AddExecdPlugins(configured.Path, new ConfigurationBuilder().Build(), discovery);

        Assert.Equal(configured.Path, catalog.Directory);
        var plugin = Assert.Single(catalog.Plugins);
        Assert.Equal("Execd.TestPlugins.Empty", plugin.Name);
        Assert.StartsWith("contributes nothing", plugin.Reason);
    }
}

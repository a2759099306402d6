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
        Assert.Equal(PluginState.Loaded, plugin.State);
        Assert.Equal(["ICommandExecutor: UpperExecutor"], plugin.Contributions);
        var executors = ContributionRegistry.Create<ICommandExecutor>(services.GetServices<PluginContribution>(), services, NullLogger.Instance);
        Assert.Equal("upper", Assert.Single(executors).Instance.Name);
    }

    [Fact]
    public void Load_RegistrarThrows_PluginFailedWithReason_OthersLoad()
    {
        using var dir = PluginsFolder("Execd.TestPlugins.ThrowsOnRegister", "Execd.TestPlugins.Good");
        var (catalog, _) = Load(dir.Path);

        var failed = catalog.Plugins.Single(p => p.Name == "Execd.TestPlugins.ThrowsOnRegister");
        Assert.Equal(PluginState.Failed, failed.State);
        Assert.Contains("registrar exploded on purpose", failed.Reason);
        Assert.Equal(PluginState.Loaded, catalog.Plugins.Single(p => p.Name == "Execd.TestPlugins.Good").State);
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
}

using System.Net;
using Execd.Core.Commands;
using Execd.Core.Plugins;
using Execd.Core.Storage;
using Execd.Files;
using Execd.Server.Api;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.WebUtilities;

namespace Execd.Server.Hosting;

/// <summary>Builds and runs the daemon: flags, plugins, services, endpoints.</summary>
public static class ExecdApp
{
    public static async Task<int> RunAsync(string[] args)
    {
        var cli = Cli.Parse(args, Environment.GetEnvironmentVariable);
        if (cli.ShowHelp)
        {
            Console.WriteLine(Cli.Usage());
            return 0;
        }
        if (cli.Error is not null)
        {
            Console.Error.WriteLine(cli.Error);
            Console.Error.WriteLine(Cli.Usage());
            return 2;
        }
        // The plugin start-up that needs no configuration (metadata checks, loading, scanning) runs on the thread pool while
        // the host is built; used only if the configuration names the same folder (a flag or EXECD_PLUGINS_DIR, as here).
        var plugins = PluginHost.Discover(new ExecdOptions { PluginsDir = cli.Settings.GetValueOrDefault("Execd:PluginsDir") }.ResolvePluginsDir());
        // Every value a secret had at start (a flag and the environment may both hold one), before Build scrubs the environment.
        var secrets = EnvironmentBuilder.DaemonSecrets.Select(Environment.GetEnvironmentVariable)
            .Append(cli.Settings.GetValueOrDefault("Execd:AccessToken")).OfType<string>().Where(v => v.Length > 0).Distinct().ToList();
        WebApplication app;
        try
        {
            app = Build(cli.Settings, plugins);
        }
        catch (ArgumentException ex)
        {
            Console.Error.WriteLine($"execd: {ex.Message}");
            return 2;
        }
        await using (app)
        {
            if (cli.FlagsGiven?.Contains("access-token") == true)
            {
                app.Logger.LogWarning("--access-token on the command line is readable by every process in /proc/{Pid}/cmdline until it is " +
                    "overwritten; use EXECD_ACCESS_TOKEN or --access-token-file instead", Environment.ProcessId);
            }
            foreach (var secret in secrets)
            {
                // The flag's value in /proc/PID/cmdline, and EXECD_ACCESS_TOKEN in /proc/PID/environ.
                var (overwritten, error) = ProcessArgumentScrubber.Overwrite(secret);
                if (error is not null)
                {
                    app.Logger.LogWarning("Could not overwrite the access token in /proc/{Pid}/cmdline and environ: {Error}", Environment.ProcessId, error);
                }
                else
                {
                    app.Logger.LogDebug("Overwrote the access token in the process's argument and environment blocks ({Count} place(s))", overwritten);
                }
            }
            try
            {
                await app.StartAsync();
            }
            catch (IOException ex)
            {
                app.Logger.LogCritical("Cannot listen: {Error}", ex.Message);
                return 1;
            }
            app.Logger.LogInformation("execd listening on {Addresses}", string.Join(", ", Addresses(app)));
            StartupTrace.Log(app.Logger, "listening");
            await app.WaitForShutdownAsync();
        }
        return 0;
    }

    /// <summary>The addresses the server listens on (with the real port when 0 was asked for).</summary>
    public static IEnumerable<string> Addresses(WebApplication app) =>
        app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];

    /// <summary>The daemon's application; <paramref name="plugins"/>: plugin start-up begun earlier (<see cref="PluginHost.Discover"/>), if any.</summary>
    public static WebApplication Build(IDictionary<string, string?> settings, PluginDiscovery? plugins = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            // The daemon's settings are its flags and the environment; the optional appsettings*.json beside it are read once,
            // not watched (the watcher's set-up, an inotify watch on the folder, was ~20 ms of start-up).
            Args = ["--hostBuilder:reloadConfigOnChange=false"],
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Configuration.AddEnvironmentVariables("EXECD_");
        builder.Configuration.AddInMemoryCollection(settings);
        var options = new ExecdOptions();
        builder.Configuration.GetSection("Execd").Bind(options);
        options.Validate();
        // Read: now no child (command, session, in-process PowerShell) may see the token in its environment.
        EnvironmentBuilder.ScrubDaemonSecrets();

        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(c =>
        {
            c.SingleLine = true;
            c.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            c.UseUtcTimestamp = true;
        });
        builder.Logging.SetMinimumLevel(MapLevel(options.LogLevel));
        builder.Logging.AddFilter("Microsoft.AspNetCore", options.LogLevel >= 7 ? LogLevel.Information : LogLevel.Warning);

        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(IPAddress.Parse(options.Host), options.Port);
            k.AddServerHeader = false;
            // Kestrel answers its own 414/431 with an empty body that no middleware can change; with its limits
            // above ours, RequestLimits answers them in JSON. Only beyond these are Kestrel's empty answers left.
            k.Limits.MaxRequestLineSize = RequestLimits.KestrelLineBytes;
            k.Limits.MaxRequestHeadersTotalSize = RequestLimits.KestrelHeaderBytes;
        });

        var services = builder.Services;
        // The generated endpoint code asks the HTTP JSON options for the metadata of `object` when endpoints are built (at the
        // first request). Answered by the default reflection resolver, that started System.Text.Json's reflection machinery
        // (every built-in converter, emitted accessors: over 60 methods compiled by the JIT) on the first request's path.
        // The reflection resolver stays last in the chain for any type no context knows.
        services.ConfigureHttpJsonOptions(json => json.SerializerOptions.TypeInfoResolverChain.Insert(0, EndpointJson.Default));
        services.Configure<ExecdOptions>(builder.Configuration.GetSection("Execd"));
        services.Configure<Execd.Server.Streaming.StreamOptions>(builder.Configuration.GetSection("Execd:Streams"));
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<EnvironmentBuilder>();
        services.AddSingleton(new UserDatabase());
        services.AddSingleton<CommandRequestValidator>();
        services.AddSingleton<StorageRanking>();
        services.AddSingleton<CommandService>();
        services.AddExecdStorage(builder.Configuration);
        services.Configure<ShutdownOptions>(builder.Configuration.GetSection("Execd:Shutdown"));
        // After the storage services: stopped first, so journals and providers are still there while commands are stopped.
        services.AddHostedService<ShutdownPolicy>();
        services.Configure<Execd.Core.Sessions.SessionOptions>(builder.Configuration.GetSection("Execd:Sessions"));
        services.AddSingleton<Execd.Core.Sessions.SessionService>();
        services.Configure<Execd.Core.Terminals.TerminalOptions>(builder.Configuration.GetSection("Execd:Terminals"));
        services.AddSingleton<Execd.Core.Terminals.TerminalService>();
        services.Configure<Execd.Core.Code.CodeOptions>(builder.Configuration.GetSection("Execd:Code"));
        services.AddSingleton<Execd.Core.Code.CodeService>();
        StartupTrace.Log(null, "configured");
        var catalog = services.AddExecdPlugins(options.ResolvePluginsDir(), builder.Configuration, plugins);
        builder.AddExecdTelemetry();
        var pluginsAt = StartupTrace.Elapsed;

        var app = builder.Build();
        StartupTrace.Log(app.Logger, $"plugins checked and registered ({catalog.Plugins.Count}, until {pluginsAt:0} ms), services built");
        foreach (var plugin in catalog.Plugins)
        {
            app.Logger.LogDebug("Start-up: plugin {Plugin} took {Elapsed:0.0} ms", plugin.Name, plugin.StartupMilliseconds);
            if (plugin.State == PluginState.Activated)
            {
                app.Logger.LogInformation("Plugin {Plugin} loaded: {Contributions}", plugin.Name,
                    plugin.Contributions.Count == 0 ? plugin.Reason : string.Join("; ", plugin.Contributions));
            }
            else if (plugin.State == PluginState.Loaded)
            {
                app.Logger.LogInformation("Plugin {Plugin} registered, activated on first use: {Contributions}", plugin.Name, string.Join("; ", plugin.Contributions));
            }
            else
            {
                app.Logger.LogError("Plugin {Plugin} failed: {Reason}", plugin.Name, plugin.Reason);
            }
        }
        if (catalog.Plugins.Count == 0)
        {
            app.Logger.LogWarning("No plugins found in {Directory}", catalog.Directory);
        }
        // Create the registries now: a broken plugin is reported at start-up, not at the first request.
        var commands = app.Services.GetRequiredService<CommandService>();
        if (commands.ExecutorNames.Count == 0)
        {
            app.Logger.LogError("No executor is available: every command will be rejected");
        }
        StartupTrace.Log(app.Logger, "executors and storage providers created");

        app.UseExecdTelemetry();
        app.UseExceptionHandler(error => error.Run(context =>
        {
            var ex = context.Features.Get<IExceptionHandlerFeature>()?.Error;
            // Kestrel's request errors (a body over the 30 MB limit: 413, a malformed body: 400) keep their status.
            return ex is BadHttpRequestException bad
                ? ApiError.WriteAsync(context, bad.StatusCode, ApiError.InvalidRequestBody, bad.Message)
                : ApiError.WriteAsync(context, 500, ApiError.RuntimeError, ex?.Message ?? "internal error");
        }));
        app.UseStatusCodePages(context =>
        {
            var http = context.HttpContext;
            return http.Response.StatusCode switch
            {
                404 or 405 => ApiError.WriteAsync(http, http.Response.StatusCode, ApiError.NotFound, $"no route for {http.Request.Method} {http.Request.Path}"),
                >= 400 => ApiError.WriteAsync(http, http.Response.StatusCode, http.Response.StatusCode >= 500 ? ApiError.RuntimeError : ApiError.InvalidRequestBody,
                    ReasonPhrases.GetReasonPhrase(http.Response.StatusCode)),
                _ => Task.CompletedTask,
            };
        });
        app.UseMiddleware<RequestLimits>();
        if (!string.IsNullOrEmpty(options.AccessToken))
        {
            app.UseMiddleware<AccessTokenMiddleware>(options.AccessToken);
        }
        // Start-up re-indexing runs beside the server's start: /ping answers at once, every other request waits until the
        // stored commands are registered again (a finished command is never a 404 after a restart).
        var reindexed = app.Services.GetRequiredService<CommandReindexer>().Completion;
        app.Use(async (context, next) =>
        {
            if (!reindexed.IsCompleted && !context.Request.Path.Equals("/ping", StringComparison.OrdinalIgnoreCase))
            {
                await reindexed;
            }
            await next(context);
        });
        app.UseWebSockets();
        app.MapAdmin();
        app.MapCommands();
        app.MapCommandStream();
        app.MapCommandStdin();
        app.MapMetrics();
        app.MapStorage();
        app.MapHealth();
        app.MapFiles();
        app.MapSessions();
        app.MapPty();
        app.MapCode();
        return app;
    }

    /// <summary>
    /// The start-up trace: at debug level, each phase with the milliseconds since the process started (phases before
    /// the logger exists are kept and logged with the first one after).
    /// </summary>
    private static class StartupTrace
    {
        private static readonly DateTime ProcessStart = System.Diagnostics.Process.GetCurrentProcess().StartTime.ToUniversalTime();
        private static readonly List<string> Pending = [];

        public static double Elapsed => (DateTime.UtcNow - ProcessStart).TotalMilliseconds;

        public static void Log(ILogger? logger, string phase)
        {
            // Methods the JIT compiled so far (not precompiled by ReadyToRun, or rejitted at tier 1) and its time.
            var line = $"Start-up: {phase} at {Elapsed:0} ms since process start " +
                $"(JIT: {System.Runtime.JitInfo.GetCompiledMethodCount()} methods, {System.Runtime.JitInfo.GetCompilationTime().TotalMilliseconds:0} ms)";
            lock (Pending)
            {
                if (logger is null)
                {
                    Pending.Add(line);
                    return;
                }
                if (!logger.IsEnabled(LogLevel.Debug))
                {
                    Pending.Clear();
                    return;
                }
                foreach (var earlier in Pending)
                {
                    logger.LogDebug("{Trace}", earlier);
                }
                Pending.Clear();
                logger.LogDebug("{Trace}", line);
            }
        }
    }

    private static LogLevel MapLevel(int level) => level switch
    {
        <= 2 => LogLevel.Critical,
        3 => LogLevel.Error,
        4 => LogLevel.Warning,
        5 or 6 => LogLevel.Information,
        _ => LogLevel.Debug,
    };
}

/// <summary>Metadata the generated endpoint code asks the HTTP JSON options for, known at build time.</summary>
[System.Text.Json.Serialization.JsonSerializable(typeof(object))]
internal sealed partial class EndpointJson : System.Text.Json.Serialization.JsonSerializerContext;

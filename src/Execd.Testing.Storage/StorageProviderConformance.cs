using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Xunit;

namespace Execd.Testing.Storage;

/// <summary>
/// What every output storage provider must do, run against the provider as its plugin registers it (the
/// registrar, the configuration, the health check it adds): the checks the daemon's own providers pass. A
/// provider's xunit test class inherits this and says how to configure it and how to break it; every test
/// here then runs for it.
/// </summary>
public abstract class StorageProviderConformance : IDisposable
{
    private ServiceProvider? _services;

    /// <summary>A fresh directory this test owns (under the test's output folder, never the machine's /tmp), deleted on dispose.</summary>
    protected ConformanceDirectory Dir { get; } = new();

    /// <summary>
    /// Why the provider cannot be tested here (for example "needs root: mounts a tmpfs"), or null. When set,
    /// every conformance test is reported as skipped with this reason instead of failing or silently passing.
    /// </summary>
    protected virtual string? Unavailable => null;

    /// <summary>The plugin's registrar (the <see cref="IExecdPlugin"/> the daemon would call).</summary>
    protected abstract IExecdPlugin CreatePlugin();

    /// <summary>Configuration for the plugin; it must register exactly one provider.</summary>
    protected abstract Dictionary<string, string?> Settings();

    /// <summary>Makes the provider unable to store anything more (open sinks included).</summary>
    protected abstract void Break(IOutputStorageProvider provider);

    /// <summary>The one provider the registrar registered.</summary>
    protected IOutputStorageProvider Provider => Services.GetServices<IOutputStorageProvider>().Single();

    private ServiceProvider Services
    {
        get
        {
            if (_services is null)
            {
                var configuration = new ConfigurationBuilder().AddInMemoryCollection(Settings()).Build();
                var services = new ServiceCollection();
                services.AddLogging();
                CreatePlugin().Register(services, configuration);
                _services = services.BuildServiceProvider();
            }
            return _services;
        }
    }

    /// <summary>The provider's health check registration (named like the provider, tagged <see cref="StorageHealth.Tag"/>).</summary>
    protected HealthCheckRegistration Registration =>
        Services.GetRequiredService<IOptions<HealthCheckServiceOptions>>().Value.Registrations.Single(r => r.Name == Provider.Name);

    /// <summary>Runs the provider's health check as the host does, with <paramref name="failureStatus"/> as the registration's failure status.</summary>
    protected async Task<HealthCheckResult> CheckAsync(HealthStatus failureStatus = HealthStatus.Unhealthy)
    {
        var original = Registration;
        var registration = new HealthCheckRegistration(original.Name, original.Factory, failureStatus, original.Tags);
        return await registration.Factory(Services).CheckHealthAsync(new HealthCheckContext { Registration = registration });
    }

    private static byte[] Bytes(string s) => Encoding.UTF8.GetBytes(s);

    private static string ReadAll(IOutputSink sink, long offset, int bufferSize)
    {
        var buffer = new byte[bufferSize];
        var result = new List<byte>();
        while (true)
        {
            var n = sink.Read(offset, buffer);
            if (n == 0)
            {
                return Encoding.UTF8.GetString([.. result]);
            }
            result.AddRange(buffer.AsSpan(0, n).ToArray());
            offset += n;
        }
    }

    [SkippableFact]
    public void Append_ThenRead_ReturnsBytesAtTheirOffsets()
    {
        SkipWhenUnavailable();
        using var sink = Provider.Open("cmd1");
        sink.Append(Bytes("hello "));
        sink.Append(Bytes("world"));

        Assert.Equal(11, sink.Length);
        Assert.Equal("hello world", ReadAll(sink, 0, 4));
        Assert.Equal("world", ReadAll(sink, 6, 64));
        Assert.Equal("o w", ReadAll(sink, 4, 3)[..3]);
        Assert.Same(Provider, sink.Provider);
    }

    [SkippableFact]
    public void Read_AtOrPastTheEnd_ReturnsZero()
    {
        SkipWhenUnavailable();
        using var sink = Provider.Open("cmd2");
        sink.Append(Bytes("abc"));
        var buffer = new byte[8];

        Assert.Equal(0, sink.Read(3, buffer));
        Assert.Equal(0, sink.Read(100, buffer));
        Assert.Equal(2, sink.Read(1, buffer));
        Assert.Equal("bc", Encoding.UTF8.GetString(buffer, 0, 2));
    }

    [SkippableFact]
    public void Append_ManyChunks_ReadsBackExactly()
    {
        SkipWhenUnavailable();
        var data = new byte[100_000];
        new Random(3).NextBytes(data);
        using var sink = Provider.Open("cmd3");
        for (var i = 0; i < data.Length; i += 997)
        {
            sink.Append(data.AsSpan(i, Math.Min(997, data.Length - i)));
        }

        var back = new byte[data.Length + 10];
        var total = 0;
        while (sink.Read(total, back.AsSpan(total)) is var n and > 0)
        {
            total += n;
        }
        Assert.Equal(data.Length, total);
        Assert.True(data.AsSpan().SequenceEqual(back.AsSpan(0, total)));
    }

    [SkippableFact]
    public void Sinks_OfTheSameCommand_AreIndependent()
    {
        SkipWhenUnavailable();
        using var first = Provider.Open("same");
        using var second = Provider.Open("same");
        first.Append(Bytes("one"));
        second.Append(Bytes("two!"));

        Assert.Equal("one", ReadAll(first, 0, 16));
        Assert.Equal("two!", ReadAll(second, 0, 16));
    }

    [SkippableFact]
    public void Delete_ReleasesTheBytesAndTheSink()
    {
        SkipWhenUnavailable();
        var bytesBefore = Provider.BytesHeld;
        var sinksBefore = Provider.SinksHeld;
        var sink = Provider.Open("cmd4");
        sink.Append(new byte[5000]);
        Assert.True(Provider.BytesHeld >= bytesBefore + 5000);
        Assert.Equal(sinksBefore + 1, Provider.SinksHeld);

        sink.Delete();
        sink.Dispose();

        Assert.Equal(bytesBefore, Provider.BytesHeld);
        Assert.Equal(sinksBefore, Provider.SinksHeld);
    }

    [SkippableFact]
    public void Open_AfterBreak_OpenOrAppendThrows()
    {
        SkipWhenUnavailable();
        Break(Provider);

        var error = Record.Exception(() =>
        {
            using var sink = Provider.Open("after");
            sink.Append(new byte[4096]);
        });

        Assert.IsAssignableFrom<IOException>(error);
    }

    [SkippableFact]
    public void Append_OnASinkOpenedBeforeBreak_Throws()
    {
        SkipWhenUnavailable();
        using var sink = Provider.Open("before");
        sink.Append(Bytes("kept"));
        Break(Provider);

        var error = Record.Exception(() => sink.Append(new byte[4096]));

        Assert.IsAssignableFrom<IOException>(error);
        Assert.Equal(4, sink.Length);
    }

    [SkippableFact]
    public async Task Health_WhenUsable_IsHealthyWithAReasonAndFreeBytes()
    {
        SkipWhenUnavailable();
        var result = await CheckAsync();

        Assert.Equal(HealthStatus.Healthy, result.Status);
        Assert.False(string.IsNullOrWhiteSpace(result.Description));
        Assert.True(Convert.ToInt64(result.Data[StorageHealth.FreeBytesKey], System.Globalization.CultureInfo.InvariantCulture) > 0);
    }

    [SkippableTheory]
    [InlineData(HealthStatus.Unhealthy)]
    [InlineData(HealthStatus.Degraded)]
    public async Task Health_WhenBroken_ReturnsTheRegistrationsFailureStatusAndWhy(HealthStatus failureStatus)
    {
        SkipWhenUnavailable();
        Break(Provider);

        var result = await CheckAsync(failureStatus);

        Assert.Equal(failureStatus, result.Status);
        Assert.False(string.IsNullOrWhiteSpace(result.Description));
    }

    [SkippableFact]
    public void Registration_IsNamedLikeTheProviderAndTaggedStorage()
    {
        SkipWhenUnavailable();
        Assert.Contains(StorageHealth.Tag, Registration.Tags);
        Assert.Equal(Provider.Name, Registration.Name);
        Assert.False(string.IsNullOrEmpty(Provider.Kind));
        Assert.False(string.IsNullOrEmpty(Provider.Location));
    }

    private void SkipWhenUnavailable() => Skip.If(Unavailable is not null, Unavailable);

    /// <summary>Disposes the provider's services and deletes <see cref="Dir"/>.</summary>
    public virtual void Dispose()
    {
        _services?.Dispose();
        Dir.Dispose();
        GC.SuppressFinalize(this);
    }
}

/// <summary>A directory a conformance test owns, under the test assembly's output folder; deleted on dispose.</summary>
public sealed class ConformanceDirectory : IDisposable
{
    public ConformanceDirectory()
    {
        Path = System.IO.Path.Combine(AppContext.BaseDirectory, "conformance-data", Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public void Dispose()
    {
        try
        {
            if (Directory.Exists(Path))
            {
                Directory.Delete(Path, recursive: true);
            }
        }
        catch (IOException)
        {
            // A mount or a file another process holds: left under bin/, harmless.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}

using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Execd.Storage.Tests;

/// <summary>
/// What every output storage provider must do, run against the provider as its plugin registers it (the
/// registrar, the configuration, the health check it adds). A provider's test class inherits this and says
/// how to configure it and how to break it.
/// </summary>
public abstract class StorageProviderConformance : IDisposable
{
    private ServiceProvider? _services;

    protected TestDirectory Dir { get; } = TestPaths.NewDirectory("conf");

    /// <summary>The plugin's registrar.</summary>
    protected abstract IExecdPlugin CreatePlugin();

    /// <summary>Configuration for the plugin; it must register exactly one provider.</summary>
    protected abstract Dictionary<string, string?> Settings();

    /// <summary>Makes the provider unable to store anything more (open sinks included).</summary>
    protected abstract void Break(IOutputStorageProvider provider);

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

    protected HealthCheckRegistration Registration =>
        Services.GetRequiredService<IOptions<HealthCheckServiceOptions>>().Value.Registrations.Single(r => r.Name == Provider.Name);

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

    [Fact]
    public void Append_ThenRead_ReturnsBytesAtTheirOffsets()
    {
        using var sink = Provider.Open("cmd1");
        sink.Append(Bytes("hello "));
        sink.Append(Bytes("world"));

        Assert.Equal(11, sink.Length);
        Assert.Equal("hello world", ReadAll(sink, 0, 4));
        Assert.Equal("world", ReadAll(sink, 6, 64));
        Assert.Equal("o w", ReadAll(sink, 4, 3)[..3]);
        Assert.Same(Provider, sink.Provider);
    }

    [Fact]
    public void Read_AtOrPastTheEnd_ReturnsZero()
    {
        using var sink = Provider.Open("cmd2");
        sink.Append(Bytes("abc"));
        var buffer = new byte[8];

        Assert.Equal(0, sink.Read(3, buffer));
        Assert.Equal(0, sink.Read(100, buffer));
        Assert.Equal(2, sink.Read(1, buffer));
        Assert.Equal("bc", Encoding.UTF8.GetString(buffer, 0, 2));
    }

    [Fact]
    public void Append_ManyChunks_ReadsBackExactly()
    {
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

    [Fact]
    public void Sinks_OfTheSameCommand_AreIndependent()
    {
        using var first = Provider.Open("same");
        using var second = Provider.Open("same");
        first.Append(Bytes("one"));
        second.Append(Bytes("two!"));

        Assert.Equal("one", ReadAll(first, 0, 16));
        Assert.Equal("two!", ReadAll(second, 0, 16));
    }

    [Fact]
    public void Delete_ReleasesTheBytesAndTheSink()
    {
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

    [Fact]
    public void Open_AfterBreak_OpenOrAppendThrows()
    {
        Break(Provider);

        var error = Record.Exception(() =>
        {
            using var sink = Provider.Open("after");
            sink.Append(new byte[4096]);
        });

        Assert.IsAssignableFrom<IOException>(error);
    }

    [Fact]
    public void Append_OnASinkOpenedBeforeBreak_Throws()
    {
        using var sink = Provider.Open("before");
        sink.Append(Bytes("kept"));
        Break(Provider);

        var error = Record.Exception(() => sink.Append(new byte[4096]));

        Assert.IsAssignableFrom<IOException>(error);
        Assert.Equal(4, sink.Length);
    }

    [Fact]
    public async Task Health_WhenUsable_IsHealthyWithAReasonAndFreeBytes()
    {
        var result = await CheckAsync();

        Assert.Equal(HealthStatus.Healthy, result.Status);
        Assert.False(string.IsNullOrWhiteSpace(result.Description));
        Assert.True(Convert.ToInt64(result.Data[StorageHealth.FreeBytesKey], System.Globalization.CultureInfo.InvariantCulture) > 0);
    }

    [Theory]
    [InlineData(HealthStatus.Unhealthy)]
    [InlineData(HealthStatus.Degraded)]
    public async Task Health_WhenBroken_ReturnsTheRegistrationsFailureStatusAndWhy(HealthStatus failureStatus)
    {
        Break(Provider);

        var result = await CheckAsync(failureStatus);

        Assert.Equal(failureStatus, result.Status);
        Assert.False(string.IsNullOrWhiteSpace(result.Description));
    }

    [Fact]
    public void Registration_IsNamedLikeTheProviderAndTaggedStorage()
    {
        Assert.Contains(StorageHealth.Tag, Registration.Tags);
        Assert.Equal(Provider.Name, Registration.Name);
        Assert.False(string.IsNullOrEmpty(Provider.Kind));
        Assert.False(string.IsNullOrEmpty(Provider.Location));
    }

    public virtual void Dispose()
    {
        _services?.Dispose();
        Dir.Dispose();
        GC.SuppressFinalize(this);
    }
}

using Execd.Core.Storage;
using Execd.Storage.Redis;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging.Abstractions;

namespace Execd.Redis.Tests;

/// <summary>Redis over TLS (a real redis-server with a certificate from the test's own CA), and where Redis ranks by default.</summary>
public sealed class RedisTlsAndRankTests : IDisposable
{
    private readonly TestDirectory _dir = TestPaths.NewDirectory("redis-tls");

    private IConfiguration Settings(string configuration, params (string Key, string Value)[] extra)
    {
        var settings = RedisProviderTests.RedisSettings(configuration, _dir.Combine("spool"));
        foreach (var (key, value) in extra)
        {
            settings[key] = value;
        }
        return new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
    }

    private RedisStorageProvider Create(string configuration, params (string Key, string Value)[] extra) =>
        new(RedisStorageOptions.Bind(Settings(configuration, extra), _ => null), NullLogger<RedisStorageProvider>.Instance);

    [Fact]
    public void Tls_TrustingTheServersCa_StoresOverTls()
    {
        using var redis = RedisServer.Start(tls: true);
        using var provider = Create(redis.Configuration, ("Storage:Redis:TrustIssuer", redis.CaPath));
        RedisProviderTests.Wait(() => provider.IsConnected, "the TLS connection");

        using (var sink = provider.Open("tls"))
        {
            sink.Append("over tls\n"u8);
            sink.Complete();
        }

        Assert.Equal($"127.0.0.1:{redis.Port} (tls)", provider.Location);
        Assert.Contains("over tls", redis.Cli("XRANGE", $"execd:{RedisProviderTests.Sandbox}:cmd:tls:out:1", "-", "+"));
    }

    [Fact]
    public async Task Tls_ServerCertificateFromAnUntrustedCa_IsUnhealthyWithTheReason_AndOpenThrows()
    {
        using var redis = RedisServer.Start(tls: true);
        using var provider = Create(redis.Configuration);
        RedisProviderTests.Wait(() => provider.Multiplexer is not null, "the first connection attempt");

        var result = await new RedisHealthCheck(provider).CheckHealthAsync(new HealthCheckContext());

        Assert.Equal(HealthStatus.Unhealthy, result.Status);
        Assert.True(result.Description!.Contains("not connected", StringComparison.Ordinal), result.Description);
        Assert.ThrowsAny<IOException>(() => provider.Open("x"));
    }

    [Fact]
    public void TrustIssuer_FileMissing_RegisteringThePluginFailsNamingTheKeyAndPath()
    {
        var missing = _dir.Combine("no-such-ca.pem");

        var error = Assert.Throws<FileNotFoundException>(() =>
            new RedisStoragePlugin().Register(new ServiceCollection(), Settings("127.0.0.1:1", ("Storage:Redis:TrustIssuer", missing))));

        Assert.Contains("Storage:Redis:TrustIssuer", error.Message);
        Assert.Contains(missing, error.Message);
    }

    [Fact]
    public void Priority_IsHostConfiguration_RedisKindDefaultsAboveFiles_AndCanBeConfigured()
    {
        using var provider = Create("127.0.0.1:1,connectTimeout=200");
        var files = StoragePriorities.Of(new NamedProvider("files:/x", "files"), null, out _);

        var byDefault = StoragePriorities.Of(provider, null, out var noError);
        var configured = StoragePriorities.Of(provider, new ConfigurationBuilder().AddInMemoryCollection(
            new Dictionary<string, string?> { ["Storage:Priorities:redis"] = "150" }).Build(), out _);

        Assert.Equal(50, byDefault);
        Assert.True(byDefault < files, $"redis {byDefault} should rank before files {files}");
        Assert.Null(noError);
        Assert.Equal(150, configured);
    }

    private sealed class NamedProvider(string name, string kind) : IOutputStorageProvider
    {
        public string Name => name;
        public string Kind => kind;
        public string Location => name;
        public long BytesHeld => 0;
        public int SinksHeld => 0;
        public IOutputSink Open(string commandId) => throw new NotSupportedException();
    }

    public void Dispose() => _dir.Dispose();
}

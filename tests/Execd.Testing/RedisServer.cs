using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Execd.Testing;

/// <summary>
/// A real <c>redis-server</c> on a free loopback port, in a directory the test owns, without persistence. It can be
/// killed and started again on the same port; disposing stops it and removes the directory.
/// </summary>
public sealed class RedisServer : IDisposable
{
    private readonly TestDirectory _dir = TestPaths.NewDirectory("redis");
    private readonly string? _password;
    private readonly bool _tls;
    private Process? _process;

    private RedisServer(string? password, bool tls)
    {
        _password = password;
        _tls = tls;
        Port = FreePort();
        if (tls)
        {
            WriteCertificates();
        }
    }

    public int Port { get; }

    /// <summary>With TLS: the PEM file of the test's own certificate authority, which signed the server's certificate.</summary>
    public string CaPath => _dir.Combine("ca.pem");

    /// <summary>A StackExchange.Redis connection string for this server (with its password, if any; TLS without trusting the CA).</summary>
    public string Configuration => $"127.0.0.1:{Port},connectTimeout=2000,syncTimeout=3000,asyncTimeout=3000"
        + (_password is null ? "" : $",password={_password}") + (_tls ? ",ssl=true,sslHost=localhost" : "");

    public static string ServerPath =>
        new[] { "/usr/bin/redis-server", "/usr/local/bin/redis-server" }.FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException("redis-server is not installed (apt-get install redis-server; .ci/run installs it)");

    /// <summary>Starts a server; with <paramref name="tls"/>, it listens with TLS only, its certificate signed by <see cref="CaPath"/>.</summary>
    public static RedisServer Start(string? password = null, bool tls = false)
    {
        var server = new RedisServer(password, tls);
        server.StartAgain();
        return server;
    }

    /// <summary>Starts the server (again) on its port and waits until it answers.</summary>
    public void StartAgain()
    {
        var args = new List<string>
        {
            // With TLS the plain port is off (0): only the TLS port listens.
            "--port", _tls ? "0" : Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1",
            "--dir", _dir.Path, "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", "",
        };
        if (_password is not null)
        {
            args.AddRange(["--requirepass", _password]);
        }
        if (_tls)
        {
            args.AddRange(["--tls-port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--tls-cert-file", _dir.Combine("server.pem"),
                "--tls-key-file", _dir.Combine("server.key"), "--tls-ca-cert-file", CaPath, "--tls-auth-clients", "no"]);
        }
        var info = new ProcessStartInfo(ServerPath) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        args.ForEach(info.ArgumentList.Add);
        _process = Process.Start(info)!;
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        for (var i = 0; i < 200; i++)
        {
            try
            {
                using var client = new TcpClient();
                client.Connect(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException)
            {
                if (_process.HasExited)
                {
                    throw new InvalidOperationException($"redis-server exited with {_process.ExitCode}");
                }
                Thread.Sleep(25);
            }
        }
        throw new TimeoutException($"redis-server did not listen on {Port}");
    }

    /// <summary>Kills the server at once (SIGKILL): no shutdown, connections drop.</summary>
    public void Kill()
    {
        if (_process is { HasExited: false } p)
        {
            p.Kill();
            p.WaitForExit(5000);
        }
        _process?.Dispose();
        _process = null;
    }

    /// <summary>
    /// Settings for a daemon whose Redis provider uses <paramref name="configuration"/> for sandbox <paramref name="sandboxId"/>,
    /// with its files, tmpfs and spool directories under <paramref name="dir"/> and health checked every second.
    /// </summary>
    public static Dictionary<string, string?> DaemonSettings(string configuration, TestDirectory dir, string sandboxId) => new()
    {
        [Daemon.FilesDirectoriesKey] = dir.Combine("files"),
        [Daemon.TmpfsDirectoriesKey] = dir.Combine("tmpfs"),
        ["Storage:Health:Interval"] = "00:00:01",
        ["Storage:Redis:Configuration"] = configuration,
        ["Storage:Redis:SandboxId"] = sandboxId,
        ["Storage:Redis:SpoolDirectory"] = dir.Combine("spool"),
        // Latency on a loaded 2-core machine says nothing about the provider: only its state counts in tests.
        ["Storage:Redis:SlowPing"] = "00:00:05",
    };

    /// <summary>Runs <c>redis-cli</c> against this server (a plain client, outside .NET) and returns its standard output.</summary>
    public string Cli(params string[] args)
    {
        var info = new ProcessStartInfo(Path.Combine(Path.GetDirectoryName(ServerPath)!, "redis-cli")) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in (string[])["-h", "127.0.0.1", "-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), .. _password is null ? [] : new[] { "--no-auth-warning", "-a", _password },
            .. _tls ? new[] { "--tls", "--cacert", CaPath } : [], .. args])
        {
            info.ArgumentList.Add(a);
        }
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(10_000))
        {
            p.Kill();
            throw new TimeoutException("redis-cli did not finish");
        }
        return stdout.Result + stderr.Result;
    }

    /// <summary>A certificate authority and a server certificate for localhost/127.0.0.1 it signed, as PEM files (no openssl needed).</summary>
    private void WriteCertificates()
    {
        using var caKey = RSA.Create(2048);
        var caRequest = new CertificateRequest("CN=execd test CA", caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        using var ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));

        using var serverKey = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", serverKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var server = request.Create(ca, DateTimeOffset.UtcNow.AddMinutes(-4), DateTimeOffset.UtcNow.AddHours(23), [1, 2, 3, 4]);

        File.WriteAllText(CaPath, ca.ExportCertificatePem());
        File.WriteAllText(_dir.Combine("server.pem"), server.ExportCertificatePem());
        File.WriteAllText(_dir.Combine("server.key"), serverKey.ExportPkcs8PrivateKeyPem());
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        Kill();
        _dir.Dispose();
    }
}

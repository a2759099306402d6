using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Execd.Testing;

/// <summary>
/// A real <c>redis-server</c> on a free loopback port, in a directory the test owns, without persistence. It can be
/// killed and started again on the same port; disposing stops it and removes the directory.
/// </summary>
public sealed class RedisServer : IDisposable
{
    private readonly TestDirectory _dir = TestPaths.NewDirectory("redis");
    private readonly string? _password;
    private Process? _process;

    private RedisServer(string? password)
    {
        _password = password;
        Port = FreePort();
    }

    public int Port { get; }

    /// <summary>A StackExchange.Redis connection string for this server (with its password, if any).</summary>
    public string Configuration => $"127.0.0.1:{Port},connectTimeout=2000,syncTimeout=3000,asyncTimeout=3000{(_password is null ? "" : $",password={_password}")}";

    public static string ServerPath =>
        new[] { "/usr/bin/redis-server", "/usr/local/bin/redis-server" }.FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException("redis-server is not installed (apt-get install redis-server; .ci/run installs it)");

    public static RedisServer Start(string? password = null)
    {
        var server = new RedisServer(password);
        server.StartAgain();
        return server;
    }

    /// <summary>Starts the server (again) on its port and waits until it answers.</summary>
    public void StartAgain()
    {
        var args = new List<string>
        {
            "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1",
            "--dir", _dir.Path, "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", "",
        };
        if (_password is not null)
        {
            args.AddRange(["--requirepass", _password]);
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

    /// <summary>Runs <c>redis-cli</c> against this server (a plain client, outside .NET) and returns its standard output.</summary>
    public string Cli(params string[] args)
    {
        var info = new ProcessStartInfo(Path.Combine(Path.GetDirectoryName(ServerPath)!, "redis-cli")) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in (string[])["-h", "127.0.0.1", "-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), .. _password is null ? [] : new[] { "--no-auth-warning", "-a", _password }, .. args])
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

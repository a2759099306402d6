using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;

namespace Execd.Deploy.Tests;

/// <summary>
/// A process started with exactly the given environment, in a session (and process group) of its own so that
/// everything it leaves behind — a daemon that bootstrap.sh started and did not wait for — is killed with it.
/// </summary>
internal sealed partial class Launched : IAsyncDisposable
{
    private const int SigTerm = 15;
    private const int SigKill = 9;

    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly Lock _gate = new();
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _openStreams = 2;

    private Launched(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Pid => _process.Id;

    /// <summary>stdout and stderr so far, interleaved by line.</summary>
    public string Output
    {
        get
        {
            lock (_gate)
            {
                return _output.ToString();
            }
        }
    }

    public static Launched Start(string file, IEnumerable<string> args, IReadOnlyDictionary<string, string> environment, string workingDirectory)
    {
        // setsid execs in place (the child of Process.Start is no group leader): the pid is the group id.
        var psi = new ProcessStartInfo(Setsid)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            WorkingDirectory = workingDirectory,
        };
        psi.ArgumentList.Add(file);
        foreach (var arg in args)
        {
            psi.ArgumentList.Add(arg);
        }
        psi.Environment.Clear();
        foreach (var (key, value) in environment)
        {
            psi.Environment[key] = value;
        }
        var process = Process.Start(psi)!;
        process.StandardInput.Close();
        return new Launched(process);
    }

    /// <summary>Waits (bounded) for an output line matching <paramref name="pattern"/>; returns the match.</summary>
    public async Task<Match> WaitForLineAsync(Regex pattern, TimeSpan timeout)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < timeout)
        {
            var match = pattern.Match(Output);
            if (match.Success)
            {
                return match;
            }
            if (_process.HasExited && _closed.Task.IsCompleted)
            {
                break;
            }
            await Task.Delay(20);
        }
        throw new TimeoutException($"no line matching {pattern} within {timeout}; exited: {_process.HasExited}; output:\n{Output}");
    }

    /// <summary>
    /// Waits (bounded) for the process to exit; returns the exit code. Not for EOF on its output: a daemon that
    /// bootstrap.sh started keeps the pipes open after bootstrap is gone, so EOF is awaited only briefly.
    /// </summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        var watch = Stopwatch.StartNew();
        while (!_process.HasExited)
        {
            if (watch.Elapsed > timeout)
            {
                throw new TimeoutException($"process {Pid} still running after {timeout}; output:\n{Output}");
            }
            await Task.Delay(20);
        }
        await Task.WhenAny(_closed.Task, Task.Delay(TimeSpan.FromMilliseconds(500)));
        return _process.ExitCode;
    }

    /// <summary>Sends SIGTERM to the process itself (not its group).</summary>
    public void Terminate() => Kill(Pid, SigTerm);

    public async ValueTask DisposeAsync()
    {
        Kill(-Pid, SigTerm);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
        }
        Kill(-Pid, SigKill);   // the group: also a daemon whose parent has already exited
        _process.Dispose();
    }

    private static string Setsid => new[] { "/usr/bin/setsid", "/bin/setsid" }.First(File.Exists);

    private void Append(string? line)
    {
        lock (_gate)
        {
            if (line is null)
            {
                if (--_openStreams == 0)
                {
                    _closed.TrySetResult();
                }
                return;
            }
            _output.Append(line).Append('\n');
        }
    }

    // ESRCH (nothing left to signal) is the normal case after a clean exit.
    private static void Kill(int pid, int signal) => _ = kill(pid, signal);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int signal);
}

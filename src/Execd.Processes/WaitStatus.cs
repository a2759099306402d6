namespace Execd.Processes;

/// <summary>How a child ended, from its real wait status: an exit code, or the signal that killed it.</summary>
public readonly record struct WaitStatus(int? ExitCode, int? Signal)
{
    public static WaitStatus Exited(int code) => new(code, null);

    public static WaitStatus Killed(int signal) => new(null, signal);

    /// <summary>Go's text for a signal (<c>killed</c>, <c>terminated</c>), as upstream's <c>signal: …</c> wait errors print it.</summary>
    public static string SignalName(int signal) => signal switch
    {
        1 => "hangup",
        2 => "interrupt",
        3 => "quit",
        4 => "illegal instruction",
        5 => "trace/breakpoint trap",
        6 => "aborted",
        7 => "bus error",
        8 => "floating point exception",
        9 => "killed",
        10 => "user defined signal 1",
        11 => "segmentation fault",
        12 => "user defined signal 2",
        13 => "broken pipe",
        14 => "alarm clock",
        15 => "terminated",
        _ => "signal " + signal.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}

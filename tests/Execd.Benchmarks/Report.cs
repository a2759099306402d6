using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Execd.Benchmarks;

/// <summary>One measured line: the daemon's number, the baseline measured in the same run, and the target.</summary>
internal sealed record Row(string Section, string Measure, string Execd, string Baseline = "", string Ratio = "", string Target = "", string Met = "");

internal sealed class Report
{
    private readonly List<Row> _rows = [];
    private readonly List<string> _notes = [];

    public void Add(Row row)
    {
        _rows.Add(row);
        Console.WriteLine($"  {row.Section} | {row.Measure} | {row.Execd} | {row.Baseline} | {row.Ratio} | {row.Target} {row.Met}");
    }

    public void Note(string note)
    {
        _notes.Add(note);
        Console.WriteLine("  note: " + note);
    }

    public static string F(double v, int digits = 2) => double.IsNaN(v) ? "n/a" : v.ToString("F" + digits, CultureInfo.InvariantCulture);

    public static string N(double v) => v.ToString("N0", CultureInfo.InvariantCulture);

    public static string Met(bool ok) => ok ? "yes" : "**no**";

    public string Markdown(string commandLine)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# Benchmark results").AppendLine();
        sb.AppendLine("Produced by `tests/Execd.Benchmarks` (the numbers below are from one run; rerun it to get yours).").AppendLine();
        sb.AppendLine($"- Date: {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
        sb.AppendLine($"- Commit: {Git("rev-parse --short HEAD")}{(Git("status --porcelain --untracked-files=no").Length > 0 ? " (with uncommitted changes)" : "")}");
        sb.AppendLine($"- Machine: {Machine()}");
        // Absolute times depend on what else runs; the baselines beside each number ran under the same load.
        sb.AppendLine($"- Load average when the table was written (1, 5, 15 min): {string.Join(", ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3))}");
        sb.AppendLine($"- Daemon: the built binary `{Path.GetRelativePath(DaemonProcess.Root, DaemonProcess.Binary)}` ({DaemonProcess.Configuration}) as a child process, default log level, all plugins loaded");
        sb.AppendLine($"- Rerun: `{commandLine}`").AppendLine();
        sb.AppendLine("| section | measure | execd | baseline (same run) | ratio | target | met |");
        sb.AppendLine("|---|---|---|---|---|---|---|");
        foreach (var r in _rows)
        {
            sb.AppendLine($"| {r.Section} | {r.Measure} | {r.Execd} | {r.Baseline} | {r.Ratio} | {r.Target} | {r.Met} |");
        }
        if (_notes.Count > 0)
        {
            sb.AppendLine().AppendLine("Notes:").AppendLine();
            foreach (var n in _notes)
            {
                sb.AppendLine("- " + n);
            }
        }
        return sb.ToString();
    }

    private static string Machine()
    {
        var cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "?";
        var mem = File.ReadLines("/proc/meminfo").First().Split(':', 2)[1].Trim();
        return $"{cpu}, {Environment.ProcessorCount} cores, {mem} RAM, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}";
    }

    private static string Git(string args)
    {
        try
        {
            var start = new ProcessStartInfo("git", $"-C \"{DaemonProcess.Root}\" {args}") { RedirectStandardOutput = true, RedirectStandardError = true };
            using var p = Process.Start(start)!;
            var text = p.StandardOutput.ReadToEnd().Trim();
            p.WaitForExit();
            return text;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "unknown";
        }
    }
}

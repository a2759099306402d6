using Execd.Benchmarks;

// Usage: dotnet run -c Release --project tests/Execd.Benchmarks [-- [--quick] [--only a,b] [--write]]
//   --quick   smaller counts (a smoke run, minutes less); --write   also write RESULTS.md beside the project.
var quick = args.Contains("--quick");
var write = args.Contains("--write");
var onlyArg = args.SkipWhile(a => a != "--only").Skip(1).FirstOrDefault();
var only = onlyArg?.Split(',', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.OrdinalIgnoreCase);

if (!File.Exists(DaemonProcess.Binary))
{
    Console.Error.WriteLine($"daemon binary not found: {DaemonProcess.Binary} (build with -c {DaemonProcess.Configuration})");
    return 2;
}
var report = new Report();
var sizes = quick ? Sizes.Quick : Sizes.Full;
var suite = new Suite(report, sizes);
foreach (var (name, run) in suite.Sections())
{
    if (only is not null && !only.Contains(name))
    {
        continue;
    }
    Console.WriteLine($"== {name}");
    try
    {
        await run();
    }
    catch (Exception ex) when (ex is not OutOfMemoryException)
    {
        report.Note($"{name}: failed: {ex.GetType().Name}: {ex.Message}");
    }
}
var command = "dotnet run -c Release --project tests/Execd.Benchmarks -- --write" + (quick ? " --quick" : "") + (onlyArg is null ? "" : " --only " + onlyArg);
var markdown = report.Markdown(command);
Console.WriteLine();
Console.WriteLine(markdown);
if (write)
{
    var path = Path.Combine(DaemonProcess.Root, "tests", "Execd.Benchmarks", "RESULTS.md");
    await File.WriteAllTextAsync(path, markdown);
    Console.WriteLine("written to " + path);
}
return 0;

using Xunit;

namespace Execd.Testing;

/// <summary>
/// A test that needs root (mounts, chown, namespaces). As root it runs like any <see cref="FactAttribute"/>;
/// otherwise xunit reports it as skipped with <c>needs root: </c> and the reason, so a non-root run lists what
/// it did not check instead of silently passing.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class RootFactAttribute : FactAttribute
{
    /// <param name="reason">What the test does that only root may do, e.g. "mounts a tmpfs".</param>
    public RootFactAttribute(string reason)
    {
        Reason = reason;
        if (!IsRoot)
        {
            Skip = $"needs root: {reason} (run the tests as root, as CI does, to include it)";
        }
    }

    public string Reason { get; }

    /// <summary>Whether this process runs with root's privileges (effective uid 0).</summary>
    public static bool IsRoot => Environment.IsPrivilegedProcess;
}

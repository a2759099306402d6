using Execd.Core.Commands;

namespace Execd.Server.Api;

/// <summary>Validates a <see cref="RunCommandRequest"/> and turns it into a <see cref="CommandSpec"/>, or an upstream-style validation error.</summary>
public sealed class CommandRequestValidator(EnvironmentBuilder environment, UserDatabase users)
{
    public const string Prefix = "invalid request, validation error ";

    /// <summary>Highest uid/gid accepted: larger values wrap to root (uid_t is 32-bit and 4294967295 means "unchanged" to the kernel).</summary>
    public const uint MaxId = int.MaxValue;

    /// <summary>Longest timeout in milliseconds: the largest period a .NET timer accepts (about 49.7 days).</summary>
    public const long MaxTimeoutMs = uint.MaxValue - 1L;

    /// <summary>Validates in upstream's order: required fields, timeout, gid without uid, then ids, environment and the working directory.</summary>
    public (CommandSpec? Spec, TimeSpan? Timeout, string? Error) Build(RunCommandRequest request, string defaultExecutor = "shell")
    {
        if (string.IsNullOrEmpty(request.Command))
        {
            return Fail("Key: 'RunCommandRequest.Command' Error:Field validation for 'Command' failed on the 'required' tag");
        }
        if (request.Timeout < 0)
        {
            return Fail("Key: 'RunCommandRequest.TimeoutMs' Error:Field validation for 'TimeoutMs' failed on the 'gte' tag");
        }
        if (TimeoutError(request.Timeout) is { } timeoutError)
        {
            return Fail(timeoutError);
        }
        if (request.Gid is not null && request.Uid is null)
        {
            return Fail("uid is required when gid is provided");
        }
        if (request.Uid > MaxId || request.Gid > MaxId)
        {
            return Fail($"uid and gid must be between 0 and {MaxId} (uid {request.Uid}, gid {request.Gid?.ToString() ?? "unset"})");
        }
        if (EnvError(request.Envs) is { } envError)
        {
            return Fail(envError);
        }
        var env = environment.Build(request.Envs);
        uint? gid = request.Gid;
        IReadOnlyList<uint> groups = [];
        if (request.Uid is { } uid)
        {
            var user = users.FindUser(uid);
            if (user is not null)
            {
                gid ??= user.Gid;
                groups = users.GroupsOf(user);
                // The child is that user: give it that user's home and name unless the request set them.
                foreach (var (key, value) in new[] { ("HOME", user.Home), ("USER", user.Name), ("LOGNAME", user.Name) })
                {
                    if (request.Envs?.ContainsKey(key) != true)
                    {
                        env[key] = value;
                    }
                }
            }
            else
            {
                gid ??= UserDatabase.NoGroup;
            }
        }
        // Validated against the same environment the command runs with (upstream used two different ones).
        var (cwd, cwdError) = WorkingDirectory.Resolve(request.Cwd, env);
        if (cwdError is not null)
        {
            return Fail(cwdError);
        }
        var spec = new CommandSpec
        {
            Id = CommandService.NewId(),
            Command = request.Command,
            WorkingDirectory = cwd,
            Environment = env,
            Uid = request.Uid,
            Gid = request.Uid is null ? null : gid,
            Groups = groups,
            Background = request.Background,
            Executor = string.IsNullOrEmpty(request.Executor) ? defaultExecutor : request.Executor,
            KeepStdinOpen = request.Stdin,
        };
        TimeSpan? timeout = request.Timeout is > 0 ? TimeSpan.FromMilliseconds(request.Timeout.Value) : null;
        return (spec, timeout, null);
    }

    /// <summary>Why a timeout in milliseconds is too large, or null (sessions use the same limit).</summary>
    public static string? TimeoutError(long? timeoutMs) => timeoutMs > MaxTimeoutMs
        ? $"timeout must be at most {MaxTimeoutMs} ms (about 49 days), not {timeoutMs}"
        : null;

    /// <summary>
    /// Why the request's environment cannot be given to a process, or null: a name must be non-empty and hold no
    /// <c>=</c> or NUL (either would set a different variable), a value no NUL (it would be cut there).
    /// </summary>
    public static string? EnvError(IReadOnlyDictionary<string, string>? envs)
    {
        foreach (var (name, value) in envs ?? new Dictionary<string, string>())
        {
            if (name.Length == 0)
            {
                return "envs: a variable name must not be empty";
            }
            if (name.Contains('=', StringComparison.Ordinal) || name.Contains('\0', StringComparison.Ordinal))
            {
                return $"envs: variable name \"{name.Replace("\0", "\\0", StringComparison.Ordinal)}\" must not contain '=' or NUL";
            }
            if (value.Contains('\0', StringComparison.Ordinal))
            {
                return $"envs: the value of {name} must not contain NUL";
            }
        }
        return null;
    }

    private static (CommandSpec?, TimeSpan?, string?) Fail(string message) => (null, null, Prefix + message);
}

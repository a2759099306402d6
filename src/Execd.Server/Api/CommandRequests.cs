using Execd.Core.Commands;

namespace Execd.Server.Api;

/// <summary>Turns a <see cref="RunCommandRequest"/> into a <see cref="CommandSpec"/>, or an upstream-style validation error.</summary>
public sealed class CommandRequests(EnvironmentBuilder environment, UserDatabase users)
{
    public const string Prefix = "invalid request, validation error ";

    /// <summary>Validates in upstream's order: required fields, timeout, gid without uid, then the working directory.</summary>
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
        if (request.Gid is not null && request.Uid is null)
        {
            return Fail("uid is required when gid is provided");
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
        string? cwd = null;
        if (!string.IsNullOrEmpty(request.Cwd))
        {
            // Validated against the same environment the command runs with (upstream used two different ones).
            try
            {
                cwd = Path.GetFullPath(PathExpander.ExpandPath(request.Cwd, env));
            }
            catch (ArgumentException ex)
            {
                return Fail($"cannot resolve working directory \"{request.Cwd}\": {ex.Message}");
            }
            if (!Directory.Exists(cwd))
            {
                return File.Exists(cwd)
                    ? Fail($"working directory path is not a directory: {request.Cwd}")
                    : Fail($"working directory does not exist: {request.Cwd}: stat {cwd}: no such file or directory");
            }
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

    private static (CommandSpec?, TimeSpan?, string?) Fail(string message) => (null, null, Prefix + message);
}

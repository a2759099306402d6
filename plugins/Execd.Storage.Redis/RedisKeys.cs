namespace Execd.Storage.Redis;

/// <summary>
/// The key schema, readable by any Redis client (P = key prefix, S = sandbox id, C = command id):
/// <list type="bullet">
/// <item><c>P:sandboxes</c> — sorted set of sandbox ids, scored by the last time one opened a sink (Unix ms).</item>
/// <item><c>P:S:commands</c> — sorted set of the sandbox's command ids, scored by when their first sink opened (Unix ms).</item>
/// <item><c>P:S:cmd:C</c> — hash, the command's record: <c>sandbox_id</c>, <c>command_id</c>, <c>created_at</c>,
/// <c>sinks</c> (count), <c>state</c> (<c>running</c>/<c>completed</c>), <c>completed_at</c>, <c>length</c> (bytes of the last completed sink).</item>
/// <item><c>P:S:cmd:C:sinks</c> — list of the command's stream keys, in the order they were opened.</item>
/// <item><c>P:S:cmd:C:out:N</c> — stream, one per sink (N = 1, 2, ...): each entry has <c>o</c> (offset of its first byte,
/// decimal) and <c>d</c> (the bytes); the first entry is <c>o 0 d ""</c> (creates the stream), the last one after
/// completion is <c>o LENGTH end 1</c>.</item>
/// </list>
/// A command whose output never moved or was capped has one sink, whose offsets are the command's absolute offsets.
/// </summary>
internal sealed record RedisKeys(string Prefix, string SandboxId)
{
    public string Sandboxes => $"{Prefix}:sandboxes";
    public string Commands => $"{Prefix}:{SandboxId}:commands";
    public string Record(string commandId) => $"{Prefix}:{SandboxId}:cmd:{commandId}";
    public string Sinks(string commandId) => $"{Record(commandId)}:sinks";
    public string Stream(string commandId, long n) => $"{Record(commandId)}:out:{n}";
    public string Probe => $"{Prefix}:{SandboxId}:probe";
}

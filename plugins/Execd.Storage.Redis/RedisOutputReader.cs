using StackExchange.Redis;

namespace Execd.Storage.Redis;

/// <summary>One sink's stream read back: its bytes, whether it was completed, and where offsets did not line up.</summary>
internal sealed record FleetSink(string StreamKey, byte[] Data, bool Completed, long Gaps);

/// <summary>A command's output read straight from Redis, without a daemon (schema: <see cref="RedisKeys"/>).</summary>
internal sealed record FleetOutput(IReadOnlyDictionary<string, string> Record, IReadOnlyList<FleetSink> Sinks)
{
    /// <summary>The newest sink's bytes: for a command that never moved or was capped, its whole output at absolute offsets.</summary>
    public byte[] Data => Sinks.Count == 0 ? [] : Sinks[^1].Data;

    /// <summary>Reads the record and every stream of <paramref name="commandId"/>; null when Redis has no record of it.</summary>
    public static async Task<FleetOutput?> ReadAsync(IDatabase db, RedisKeys keys, string commandId)
    {
        var record = await db.HashGetAllAsync(keys.Record(commandId)).ConfigureAwait(false);
        if (record.Length == 0)
        {
            return null;
        }
        var sinks = new List<FleetSink>();
        foreach (var stream in await db.ListRangeAsync(keys.Sinks(commandId)).ConfigureAwait(false))
        {
            sinks.Add(await ReadStreamAsync(db, (string)stream!).ConfigureAwait(false));
        }
        return new FleetOutput(record.ToDictionary(e => (string)e.Name!, e => (string?)e.Value ?? ""), sinks);
    }

    /// <summary>Reads a stream in pages of entries; each entry's <c>o</c> says where its bytes go.</summary>
    private static async Task<FleetSink> ReadStreamAsync(IDatabase db, string key)
    {
        using var data = new MemoryStream();
        var completed = false;
        long gaps = 0;
        RedisValue from = "-";
        while (true)
        {
            var entries = await db.StreamRangeAsync(key, from, "+", count: 256).ConfigureAwait(false);
            var fresh = from == "-" ? entries : entries.Skip(1).ToArray();
            if (fresh.Length == 0)
            {
                break;
            }
            foreach (var entry in fresh)
            {
                var offset = (long)entry["o"];
                if (!entry["end"].IsNull)
                {
                    completed = true;
                    continue;
                }
                var bytes = (byte[]?)entry["d"] ?? [];
                if (bytes.Length == 0)
                {
                    continue;
                }
                if (offset != data.Length)
                {
                    // Entries are written in order; a mismatch means entries were removed from outside. Keep offsets true.
                    gaps++;
                    data.SetLength(Math.Max(data.Length, offset));
                    data.Position = offset;
                }
                data.Write(bytes);
            }
            from = entries[^1].Id;
        }
        return new FleetSink(key, data.ToArray(), completed, gaps);
    }
}

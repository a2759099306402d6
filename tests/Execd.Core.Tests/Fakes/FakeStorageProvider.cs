namespace Execd.Core.Tests.Fakes;

/// <summary>An in-memory provider whose sinks can be told to fail on append, on read, or on open.</summary>
public sealed class FakeStorageProvider(string name, int priority = 0) : IOutputStorageProvider
{
    public string Name => name;
    public string Kind => "fake";
    public string Location => "nowhere";
    public int Priority => priority;
    public long BytesHeld => Sinks.Sum(s => s.Length);
    public int SinksHeld => Sinks.Count(s => !s.Deleted);
    public List<FakeSink> Sinks { get; } = [];
    public bool FailOpen { get; set; }
    public bool FailAppend { get; set; }
    public bool FailRead { get; set; }
    /// <summary>When set, sink reads wait for it (a slow device under a failover copy).</summary>
    public ManualResetEventSlim? ReadGate { get; set; }

    public IOutputSink Open(string commandId)
    {
        if (FailOpen)
        {
            throw new IOException($"{name}: open failed");
        }
        var sink = new FakeSink(this);
        Sinks.Add(sink);
        return sink;
    }

    public sealed class FakeSink(FakeStorageProvider provider) : IOutputSink
    {
        private readonly MemoryStream _data = new();
        public IOutputStorageProvider Provider => provider;
        public long Length => _data.Length;
        public bool Deleted { get; private set; }
        public bool Completed { get; private set; }
        public byte[] Bytes => _data.ToArray();

        public void Append(ReadOnlySpan<byte> data)
        {
            if (provider.FailAppend)
            {
                throw new IOException($"{provider.Name}: disk full");
            }
            _data.Write(data);
        }

        public int Read(long offset, Span<byte> buffer)
        {
            provider.ReadGate?.Wait(TimeSpan.FromSeconds(30));
            if (provider.FailRead)
            {
                throw new IOException($"{provider.Name}: read failed");
            }
            if (offset >= _data.Length)
            {
                return 0;
            }
            var n = (int)Math.Min(buffer.Length, _data.Length - offset);
            _data.GetBuffer().AsSpan((int)offset, n).CopyTo(buffer);
            return n;
        }

        public void Complete() => Completed = true;
        public void Delete() => Deleted = true;
        public void Dispose() { }
    }
}

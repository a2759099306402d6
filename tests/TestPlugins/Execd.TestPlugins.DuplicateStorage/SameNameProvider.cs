namespace Execd.TestPlugins.DuplicateStorage;

/// <summary>A provider whose name collides with the shipped memory provider's; the host must refuse it, not replace the other.</summary>
internal sealed class SameNameProvider : IOutputStorageProvider
{
    public string Name => "memory";
    public string Kind => "duplicate";
    public string Location => "nowhere";
    public long BytesHeld => 0;
    public int SinksHeld => 0;

    public IOutputSink Open(string commandId) => throw new IOException("the duplicate provider must never be used");
}

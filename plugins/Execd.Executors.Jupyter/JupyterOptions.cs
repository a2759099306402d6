namespace Execd.Executors.Jupyter;

/// <summary>Configuration section <c>Jupyter</c> (<c>--config Jupyter:StartTimeout=00:01:00</c>, <c>EXECD_Jupyter__…</c>).</summary>
internal sealed class JupyterOptions
{
    /// <summary>
    /// Candidate directories for connection files, kernel runtime files and <c>IPYTHONDIR</c>, best first. Each
    /// context takes the first one that is healthy right then (it can be created and written); empty means the
    /// defaults: <c>$XDG_RUNTIME_DIR/execd-jupyter</c>, <c>$TMPDIR/execd-jupyter-UID</c>,
    /// <c>/var/tmp/execd-jupyter-UID</c>, <c>~/.local/state/execd-jupyter</c>.
    /// </summary>
    public List<string> Directories { get; set; } = [];

    /// <summary>Extra kernelspec data directories, searched before <c>JUPYTER_PATH</c> and the standard ones.</summary>
    public List<string> KernelPaths { get; set; } = [];

    /// <summary>Whether the system data directories (<c>/usr/local/share/jupyter</c>, <c>/usr/share/jupyter</c>) are searched.</summary>
    public bool SystemPaths { get; set; } = true;

    /// <summary>How long a kernel may take to answer its first <c>kernel_info_request</c>.</summary>
    public TimeSpan StartTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How often the heartbeat channel is pinged.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How many heartbeats in a row may go unanswered before the kernel is declared dead.</summary>
    public int HeartbeatMisses { get; set; } = 5;

    /// <summary>How long an interrupted run may take to finish before its kernel is killed (so the context never wedges).</summary>
    public TimeSpan InterruptGrace { get; set; } = TimeSpan.FromSeconds(10);
}

using Execd.Core.Storage;

namespace Execd.Core.Tests;

public sealed class WakeSignalTests
{
    [Fact]
    public async Task Set_WakesTheNextWait_SeveralSetsCoalesceIntoOne()
    {
        var wake = new WakeSignal();
        wake.Set();
        wake.Set();
        wake.Set();

        // The first wait is woken at once (an hour would fail the test by its timeout); the coalesced sets left nothing more.
        Assert.True(await wake.WaitAsync(TimeSpan.FromHours(1), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30)));
        var second = wake.WaitAsync(TimeSpan.FromHours(1), CancellationToken.None);
        await Task.Delay(200);
        Assert.False(second.IsCompleted, "three sets before one wait woke two waits");
        wake.Set();
        Assert.True(await second.WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task Wait_EndsAfterTheInterval_AndReportsStopping()
    {
        var wake = new WakeSignal();
        Assert.True(await wake.WaitAsync(TimeSpan.FromMilliseconds(50), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30)));

        using var stopping = new CancellationTokenSource();
        var waiting = wake.WaitAsync(TimeSpan.FromHours(1), stopping.Token);
        await stopping.CancelAsync();
        Assert.False(await waiting.WaitAsync(TimeSpan.FromSeconds(30)));
    }
}

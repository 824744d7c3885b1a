using InpaintSuite.Pipelines;
using Spectre.Console;

namespace InpaintSuite.Cli;

/// <summary>
/// Progress for work over a second: a Spectre.Console bar on stderr when it is a terminal, nothing
/// otherwise (stdout stays clean for --json). Reports arrive on worker threads; rendering is Spectre's.
/// </summary>
internal sealed class CliProgress : IProgress<OperationProgress>, IDisposable
{
    private static readonly TimeSpan ShowAfter = TimeSpan.FromSeconds(1);
    private readonly bool _enabled;
    private readonly DateTime _start = DateTime.UtcNow;
    private readonly CancellationTokenSource _stop = new();
    private Task? _render;
    private volatile ProgressState? _latest;

    private sealed record ProgressState(int Step, int Total, string Stage);

    public CliProgress(CliIo io, bool json)
    {
        _enabled = !json && ReferenceEquals(io.Err, Console.Error) && !Console.IsErrorRedirected;
    }

    public void Report(OperationProgress value)
    {
        _latest = new ProgressState(value.Step, Math.Max(1, value.Total), value.Stage);
        if (_enabled && _render == null && DateTime.UtcNow - _start >= ShowAfter)
        {
            lock (_stop)
            {
                _render ??= Task.Run(RenderAsync);
            }
        }
    }

    private async Task RenderAsync()
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        await console.Progress().AutoClear(true).StartAsync(async ctx =>
        {
            var task = ctx.AddTask("working");
            while (!_stop.IsCancellationRequested)
            {
                if (_latest is { } s)
                {
                    task.Description = s.Stage;
                    task.MaxValue = s.Total;
                    task.Value = s.Step;
                }
                try { await Task.Delay(100, _stop.Token); } catch (OperationCanceledException) { }
            }
            task.StopTask();
        });
    }

    public void Dispose()
    {
        _stop.Cancel();
        try { _render?.Wait(TimeSpan.FromSeconds(2)); } catch (AggregateException) { }
        _stop.Dispose();
    }
}

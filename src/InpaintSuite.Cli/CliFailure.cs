using InpaintSuite.Pipelines;
using Grpc.Core;

namespace InpaintSuite.Cli;

/// <summary>Maps what can go wrong to one line and an exit code; never a stack trace.</summary>
internal sealed record CliFailure(string Message, int ExitCode)
{
    public static CliFailure? Classify(Exception e) => e switch
    {
        UsageException u => new(u.Message, ExitCodes.Usage),
        Daemon.DaemonConfigurationException c => new(c.Message, ExitCodes.Usage),
        Runtime.Models.Install.ModelInstallException m => new(m.Message, ExitCodes.Failed),
        InvalidRequestException r => new(r.Message, ExitCodes.Usage),
        EngineNotFoundException n => new($"{n.Message} (see 'inpaintsuite models')", ExitCodes.Usage),
        InvalidDataException d => new($"bad input: {d.Message}", ExitCodes.Usage),
        FileNotFoundException f => new($"file not found: {f.FileName ?? f.Message}", ExitCodes.Usage),
        RpcException g when g.StatusCode is StatusCode.InvalidArgument or StatusCode.NotFound or StatusCode.OutOfRange or StatusCode.FailedPrecondition
            => new($"daemon: {g.StatusCode}: {g.Status.Detail}", ExitCodes.Usage),
        RpcException g => new($"daemon: {g.StatusCode}: {g.Status.Detail}{CliTls.Hint(g)}", ExitCodes.Failed),
        HttpRequestException h => new($"cannot reach the daemon: {h.Message}", ExitCodes.Failed),
        AggregateException { InnerExceptions.Count: 1 } a => Classify(a.InnerException!),
        _ => new($"{e.GetType().Name}: {e.Message}", ExitCodes.Failed),
    };
}

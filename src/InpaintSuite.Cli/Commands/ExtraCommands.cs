using System.CommandLine;

namespace InpaintSuite.Cli.Commands;

/// <summary>Diagnostics and management commands beyond the operations (tokenize, schedule, ...).</summary>
internal static class ExtraCommands
{
    public static IEnumerable<Command> Create(CliIo io)
    {
        yield return DiagnosticsCommands.Tokenize(io);
        yield return DiagnosticsCommands.Schedule(io);
    }
}

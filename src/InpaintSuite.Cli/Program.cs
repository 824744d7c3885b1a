using System.CommandLine;
using InpaintSuite.Cli.Commands;

namespace InpaintSuite.Cli;

/// <summary>
/// `inpaintsuite`: runs operations in-process or against a daemon (--daemon URL), serves the daemon,
/// and answers diagnostics. Exit 0 = success, 1 = failed while running, 2 = bad usage or input
/// (one line on stderr, never a stack trace), 130 = cancelled.
/// </summary>
public static class Program
{
    public static int Main(string[] args) => RunAsync(args, Console.Out, Console.Error, CancellationToken.None).GetAwaiter().GetResult();

    /// <summary>The whole CLI as a call, so tests can run it in-process with captured output.</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        var io = new CliIo(stdout, stderr);
        var root = BuildRoot(io);
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            // One line naming the problem; full help stays available through --help.
            stderr.WriteLine($"inpaintsuite: {parse.Errors[0].Message} (see 'inpaintsuite {string.Join(' ', CommandPath(parse))} --help')");
            return ExitCodes.Usage;
        }

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cts.Cancel(); };
        bool hookConsole = ReferenceEquals(stdout, Console.Out);
        if (hookConsole) Console.CancelKeyPress += onCancel;
        try
        {
            return await parse.InvokeAsync(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false }, cts.Token);
        }
        catch (UsageException e)
        {
            stderr.WriteLine($"inpaintsuite: {e.Message}");
            return ExitCodes.Usage;
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            stderr.WriteLine("inpaintsuite: cancelled");
            return ExitCodes.Cancelled;
        }
        catch (Exception e) when (CliFailure.Classify(e) is { } failure)
        {
            stderr.WriteLine($"inpaintsuite: {failure.Message}");
            return failure.ExitCode;
        }
        finally
        {
            if (hookConsole) Console.CancelKeyPress -= onCancel;
        }
    }

    internal static RootCommand BuildRoot(CliIo io)
    {
        var root = new RootCommand("InpaintSuite: inpaint, outpaint, img2img and depth-to-image for image editors.");
        foreach (var c in OperationCommands.Create(io)) root.Subcommands.Add(c);
        root.Subcommands.Add(ServeCommand.Create(io));
        root.Subcommands.Add(HealthCommand.Create(io));
        root.Subcommands.Add(ModelsCommand.Create(io));
        root.Subcommands.Add(LorasCommand.Create(io));
        foreach (var c in ExtraCommands.Create(io)) root.Subcommands.Add(c);
        return root;
    }

    private static IEnumerable<string> CommandPath(ParseResult parse)
    {
        var names = new List<string>();
        for (var r = parse.CommandResult; r != null; r = r.Parent as System.CommandLine.Parsing.CommandResult)
            if (r.Command is not RootCommand) names.Insert(0, r.Command.Name);
        return names;
    }
}

/// <summary>The CLI's output streams (stdout for results and --json, stderr for messages and progress).</summary>
public sealed record CliIo(TextWriter Out, TextWriter Err);

namespace InpaintSuite.Cli.Tests;

/// <summary>Runs the CLI in-process with captured output, as a user's shell would see it (exit code, stdout, stderr).</summary>
internal static class CliHarness
{
    public static async Task<(int Code, string Out, string Err)> RunAsync(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = await Program.RunAsync(args, o, e, CancellationToken.None);
        return (code, o.ToString(), e.ToString());
    }
}

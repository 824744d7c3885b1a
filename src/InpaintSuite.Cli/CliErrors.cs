namespace InpaintSuite.Cli;

/// <summary>Bad usage or bad input: printed as one line, exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);

public static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>A failure while running (engine error, daemon error).</summary>
    public const int Failed = 1;
    /// <summary>Bad usage or bad input (missing file, size mismatch, not an image).</summary>
    public const int Usage = 2;
    /// <summary>Cancelled by the user (Ctrl+C).</summary>
    public const int Cancelled = 130;
}

using System.Security.Cryptography.X509Certificates;


namespace InpaintSuite.Protocol;

/// <summary>
/// What a client sends and trusts by default, the same for the CLI and the editor plugins: the bearer token from
/// INPAINTSUITE_TOKEN or the user's token file (the one a daemon creates on this machine, or a copy of a studio
/// daemon's), and for https:// daemons the certificates in INPAINTSUITE_TLS_CA (else the system trust store).
/// </summary>
public static class ClientCredentials
{
    public const string TokenVariable = "INPAINTSUITE_TOKEN";
    public const string TrustVariable = "INPAINTSUITE_TLS_CA";

    /// <summary>%APPDATA%\inpaintsuite on Windows, $XDG_CONFIG_HOME/inpaintsuite or ~/.config/inpaintsuite elsewhere.</summary>
    public static string ConfigDirectory()
    {
        string dir;
        if (OperatingSystem.IsWindows()) dir = Environment.GetFolderPath(Environment.SpecialFolder.ApplicationData);
        else
        {
            var xdg = Environment.GetEnvironmentVariable("XDG_CONFIG_HOME");
            dir = !string.IsNullOrEmpty(xdg) ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".config");
        }
        return Path.Combine(dir, "inpaintsuite");
    }

    /// <summary>The token file in <see cref="ConfigDirectory"/>.</summary>
    public static string TokenFile() => Path.Combine(ConfigDirectory(), "token");

    /// <summary>INPAINTSUITE_TOKEN, else the token file's content, else null (a loopback daemon needs none).</summary>
    public static string? DefaultToken()
    {
        if (Environment.GetEnvironmentVariable(TokenVariable) is { Length: > 0 } t) return t.Trim();
        string path = TokenFile();
        try
        {
            return File.Exists(path) ? File.ReadAllText(path).Trim() : null;
        }
        catch (UnauthorizedAccessException)
        {
            return null; // another user's daemon: the call will say UNAUTHENTICATED, which is the truth
        }
    }

    /// <summary>
    /// The certificates named by INPAINTSUITE_TLS_CA (PEM or DER: a CA or the daemon's own certificate), else null =
    /// the system trust store. Throws <see cref="FileNotFoundException"/> or a cryptographic exception with the path.
    /// </summary>
    public static X509Certificate2Collection? DefaultTrust() =>
        Environment.GetEnvironmentVariable(TrustVariable) is { Length: > 0 } path ? LoadTrust(path) : null;

    public static X509Certificate2Collection LoadTrust(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"certificate file not found: {path}", path);
        return ServerTrust.LoadCertificates(path);
    }

    /// <summary>Channel options carrying the default token and trust.</summary>
    public static DaemonClientOptions DefaultChannelOptions() => new() { BearerToken = DefaultToken(), TrustedCertificates = DefaultTrust() };
}

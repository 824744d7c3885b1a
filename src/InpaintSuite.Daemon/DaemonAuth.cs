using System.Net;
using System.Security.Cryptography;

namespace InpaintSuite.Daemon;

/// <summary>
/// Bearer-token policy: loopback (127.0.0.1, ::1) needs none; any other bind address requires one,
/// read from (or created in) the user's config folder with mode 0600.
/// </summary>
public static class DaemonAuth
{
    public static bool IsLoopbackHost(string host)
    {
        var a = DaemonHost.ParseHost(host);
        // Only the two canonical loopback addresses: 127.0.0.2 is reachable by other local users' setups too.
        return a.Equals(IPAddress.Loopback) || a.Equals(IPAddress.IPv6Loopback);
    }

    /// <summary>%APPDATA%\inpaintsuite\token on Windows, $XDG_CONFIG_HOME/inpaintsuite/token or ~/.config/inpaintsuite/token elsewhere.</summary>
    public static string DefaultTokenFile() => Protocol.ClientCredentials.TokenFile();

    /// <summary>%APPDATA%\inpaintsuite on Windows, $XDG_CONFIG_HOME/inpaintsuite or ~/.config/inpaintsuite elsewhere (token, appsettings.json).</summary>
    public static string ConfigDirectory() => Protocol.ClientCredentials.ConfigDirectory();

    public static (string? Token, string? TokenFile) Resolve(DaemonOptions options)
    {
        if (options.AuthToken != null) return (options.AuthToken, null);
        if (IsLoopbackHost(options.Host)) return (null, null);
        var file = options.TokenFile ?? DefaultTokenFile();
        return (LoadOrCreate(file), file);
    }

    public static string LoadOrCreate(string file)
    {
        if (File.Exists(file))
        {
            var existing = File.ReadAllText(file).Trim();
            if (existing.Length >= 16) return existing;
        }
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        var token = Convert.ToHexString(RandomNumberGenerator.GetBytes(32)).ToLowerInvariant();
        var tmp = file + ".tmp";
        if (OperatingSystem.IsWindows())
        {
            File.WriteAllText(tmp, token + "\n");
        }
        else
        {
            // Created 0600 from the start, never world-readable even briefly.
            using var fs = new FileStream(tmp, new FileStreamOptions
            {
                Mode = FileMode.Create, Access = FileAccess.Write,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            });
            using var w = new StreamWriter(fs);
            w.Write(token + "\n");
        }
        File.Move(tmp, file, overwrite: true);
        return token;
    }
}

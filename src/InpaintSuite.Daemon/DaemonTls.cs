using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace InpaintSuite.Daemon;

/// <summary>The server certificate from <see cref="DaemonOptions.TlsCertificate"/> (PEM or PFX).</summary>
public static class DaemonTls
{
    public sealed record ServerCertificate(X509Certificate2 Certificate, X509Certificate2Collection Chain);

    /// <summary>Null when TLS is off; a problem is a <see cref="DaemonConfigurationException"/> naming the key.</summary>
    public static ServerCertificate? Load(DaemonOptions options)
    {
        foreach (var (name, problem) in DaemonOptionsCheck.Problems(options))
            throw new DaemonConfigurationException($"configuration: {DaemonConfiguration.Section}:{name} {problem}");
        return options.TlsCertificate is { Length: > 0 } ? LoadUnchecked(options) : null;
    }

    internal static ServerCertificate LoadUnchecked(DaemonOptions options)
    {
        var path = options.TlsCertificate!;
        var password = string.IsNullOrEmpty(options.TlsPassword) ? null : options.TlsPassword;
        if (!IsPem(path))
        {
            var all = X509CertificateLoader.LoadPkcs12CollectionFromFile(path, password);
            var leaf = all.FirstOrDefault(c => c.HasPrivateKey) ?? throw new CryptographicException("the PFX file holds no certificate with a private key");
            var chain = new X509Certificate2Collection();
            foreach (var c in all) if (!ReferenceEquals(c, leaf)) chain.Add(c);
            return new ServerCertificate(leaf, chain);
        }
        var keyPath = string.IsNullOrEmpty(options.TlsKey) ? null : options.TlsKey;
        var cert = password != null
            ? X509Certificate2.CreateFromEncryptedPemFile(path, password, keyPath)
            : X509Certificate2.CreateFromPemFile(path, keyPath);
        // SChannel cannot use a PEM-loaded ephemeral key; a PKCS#12 round trip gives it a usable one.
        if (OperatingSystem.IsWindows())
            cert = X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pkcs12), null);
        var pemChain = new X509Certificate2Collection();
        pemChain.ImportFromPemFile(path);
        var intermediates = new X509Certificate2Collection();
        foreach (var c in pemChain) if (c.Thumbprint != cert.Thumbprint) intermediates.Add(c);
        return new ServerCertificate(cert, intermediates);
    }

    private static bool IsPem(string path)
    {
        using var f = File.OpenRead(path);
        var head = new byte[Math.Min(4096, (int)Math.Min(int.MaxValue, f.Length))];
        f.ReadExactly(head);
        return System.Text.Encoding.ASCII.GetString(head).Contains("-----BEGIN", StringComparison.Ordinal);
    }
}

/// <summary>Checks on <see cref="DaemonOptions"/> beyond a single value's type and range.</summary>
public static class DaemonOptionsCheck
{
    /// <summary>Each problem as (property name, what is wrong); empty when the options can start.</summary>
    public static IEnumerable<(string Name, string Problem)> Problems(DaemonOptions o)
    {
        if (o.TlsCertificate is not { Length: > 0 })
        {
            if (o.TlsKey is { Length: > 0 }) yield return (nameof(DaemonOptions.TlsKey), "is set but Daemon:TlsCertificate is not");
            yield break;
        }
        if (!File.Exists(o.TlsCertificate))
        {
            yield return (nameof(DaemonOptions.TlsCertificate), $"file not found: {Path.GetFullPath(o.TlsCertificate)}");
            yield break;
        }
        if (o.TlsKey is { Length: > 0 } && !File.Exists(o.TlsKey))
        {
            yield return (nameof(DaemonOptions.TlsKey), $"file not found: {Path.GetFullPath(o.TlsKey)}");
            yield break;
        }
        string? problem = null;
        try
        {
            var loaded = DaemonTls.LoadUnchecked(o);
            if (!loaded.Certificate.HasPrivateKey) problem = "has no private key (give Daemon:TlsKey)";
            loaded.Certificate.Dispose();
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException or IOException or UnauthorizedAccessException)
        {
            problem = $"cannot be loaded ({o.TlsCertificate}): {e.Message.ReplaceLineEndings(" ").Trim()}";
        }
        if (problem != null) yield return (nameof(DaemonOptions.TlsCertificate), problem);
    }
}

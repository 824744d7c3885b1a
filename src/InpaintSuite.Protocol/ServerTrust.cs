using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace InpaintSuite.Protocol;

/// <summary>
/// Server-certificate checks for https:// daemons: the system trust store by default, or only the
/// given certificates (CA roots, or the server's own certificate pinned). The last rejection's reason
/// is kept so a failed call can say why instead of "the SSL connection could not be established".
/// </summary>
public sealed class ServerTrust
{
    private readonly X509Certificate2Collection? _trusted;
    private volatile string? _lastRejection;

    public ServerTrust(X509Certificate2Collection? trusted) => _trusted = trusted is { Count: > 0 } ? trusted : null;

    /// <summary>Why the last server certificate was rejected (null if none was).</summary>
    public string? LastRejection => _lastRejection;

    /// <summary>For <see cref="SslClientAuthenticationOptions.RemoteCertificateValidationCallback"/> (HttpClient's SocketsHttpHandler.SslOptions).</summary>
    public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        var reason = Check(certificate, chain, errors);
        _lastRejection = reason;
        return reason == null;
    }

    private string? Check(X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificate == null) return "the server sent no certificate";
        using var owned = certificate as X509Certificate2 == null ? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()) : null;
        var leaf = owned ?? (X509Certificate2)certificate;
        if (_trusted == null)
        {
            if (errors == SslPolicyErrors.None) return null;
            return Describe(errors, chain) + " (the system trust store does not accept it; give the daemon's CA or certificate to trust)";
        }
        // Pinned: exactly this certificate was given, so its name and issuer do not matter.
        foreach (var t in _trusted)
            if (t.RawDataMemory.Span.SequenceEqual(leaf.RawDataMemory.Span)) return null;
        if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
            return $"the certificate ({leaf.Subject}) does not name this host";
        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        custom.ChainPolicy.CustomTrustStore.AddRange(_trusted);
        if (chain != null)
            foreach (var element in chain.ChainElements)
                if (!element.Certificate.RawDataMemory.Span.SequenceEqual(leaf.RawDataMemory.Span)) custom.ChainPolicy.ExtraStore.Add(element.Certificate);
        if (custom.Build(leaf)) return null;
        var status = string.Join(", ", custom.ChainStatus.Select(s => s.Status.ToString()).Distinct());
        return $"the certificate ({leaf.Subject}, issued by {leaf.Issuer}) does not chain to the trusted certificate(s) given ({status})";
    }

    private static string Describe(SslPolicyErrors errors, X509Chain? chain)
    {
        var parts = new List<string>();
        if ((errors & SslPolicyErrors.RemoteCertificateNotAvailable) != 0) parts.Add("no certificate");
        if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0) parts.Add("the certificate does not name this host");
        if ((errors & SslPolicyErrors.RemoteCertificateChainErrors) != 0)
            parts.Add("untrusted chain" + (chain is { ChainStatus.Length: > 0 } ? " (" + string.Join(", ", chain.ChainStatus.Select(s => s.Status.ToString()).Distinct()) + ")" : ""));
        return string.Join("; ", parts);
    }

    /// <summary>Certificates from a PEM file (one or more) or a single DER file: CA roots or a server certificate to pin.</summary>
    public static X509Certificate2Collection LoadCertificates(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var collection = new X509Certificate2Collection();
        if (System.Text.Encoding.ASCII.GetString(bytes, 0, Math.Min(bytes.Length, 4096)).Contains("-----BEGIN", StringComparison.Ordinal))
            collection.ImportFromPemFile(path);
        else
            collection.Add(X509CertificateLoader.LoadCertificate(bytes));
        if (collection.Count == 0) throw new CryptographicException($"no certificate in {path}");
        return collection;
    }
}

using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace InpaintSuite.TestSupport;

/// <summary>
/// A throwaway CA and a server certificate it issued (SANs 127.0.0.2, 127.0.0.1, localhost), written
/// as PEM and PFX into a temp folder; plus a second, unrelated CA. Generated per test run, never committed.
/// </summary>
public sealed class TestCertificates : IDisposable
{
    public const string PfxPassword = "test-pfx-password";
    public const string KeyPassword = "test-key-password";

    public TestCertificates()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("inpaintsuite-tls-").FullName;
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var ca = CreateCa("CN=InpaintSuite Test CA", caKey);
        using var otherKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var other = CreateCa("CN=Some Other CA", otherKey);

        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=inpaintsuite test daemon", leafKey, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Parse("127.0.0.2"));
        san.AddIpAddress(IPAddress.Loopback);
        san.AddDnsName("localhost");
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        var now = DateTimeOffset.UtcNow;
        using var issued = request.Create(ca, now.AddDays(-1), now.AddDays(7), RandomNumberGenerator.GetBytes(16));
        using var leaf = issued.CopyWithPrivateKey(leafKey);

        File.WriteAllText(CaPem, ca.ExportCertificatePem() + "\n");
        File.WriteAllText(OtherCaPem, other.ExportCertificatePem() + "\n");
        File.WriteAllText(CertPem, leaf.ExportCertificatePem() + "\n");
        File.WriteAllText(KeyPem, leafKey.ExportPkcs8PrivateKeyPem() + "\n");
        File.WriteAllText(CombinedPem, leaf.ExportCertificatePem() + "\n" + leafKey.ExportPkcs8PrivateKeyPem() + "\n");
        File.WriteAllText(EncryptedKeyPem, leafKey.ExportEncryptedPkcs8PrivateKeyPem(KeyPassword,
            new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 1000)) + "\n");
        File.WriteAllBytes(Pfx, leaf.Export(X509ContentType.Pkcs12, PfxPassword));
    }

    public string Directory { get; }

    /// <summary>The issuing CA's certificate (what a client trusts).</summary>
    public string CaPem => Path.Combine(Directory, "ca.pem");

    /// <summary>A CA that did not issue the server certificate.</summary>
    public string OtherCaPem => Path.Combine(Directory, "other-ca.pem");

    public string CertPem => Path.Combine(Directory, "server.pem");

    public string KeyPem => Path.Combine(Directory, "server.key");

    /// <summary>Certificate and key in one PEM file.</summary>
    public string CombinedPem => Path.Combine(Directory, "server-with-key.pem");

    /// <summary>The key as encrypted PKCS#8 (password <see cref="KeyPassword"/>).</summary>
    public string EncryptedKeyPem => Path.Combine(Directory, "server-encrypted.key");

    /// <summary>Certificate and key as PKCS#12 (password <see cref="PfxPassword"/>).</summary>
    public string Pfx => Path.Combine(Directory, "server.pfx");

    private static X509Certificate2 CreateCa(string subject, ECDsa key)
    {
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = DateTimeOffset.UtcNow;
        return request.CreateSelfSigned(now.AddDays(-1), now.AddDays(30));
    }

    public void Dispose()
    {
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}

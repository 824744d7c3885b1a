using Grpc.Core;
using Microsoft.Extensions.Logging;
using Xunit;

namespace InpaintSuite.Daemon.Tests;

/// <summary>Layering defaults &lt; files &lt; --config &lt; environment &lt; command line, friendly values, and one-line errors.</summary>
public sealed class ConfigurationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("inpaintsuite-config-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private string Json(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    private static DaemonOptions Load(DaemonConfigInputs inputs, out Dictionary<string, ConfigEntry> entries)
    {
        var options = DaemonConfiguration.Load(inputs, out var list);
        entries = list.ToDictionary(e => e.Key["Daemon:".Length..]);
        return options;
    }

    private static string Error(DaemonConfigInputs inputs) =>
        Assert.Throws<DaemonConfigurationException>(() => DaemonConfiguration.Load(inputs, out _)).Message;

    [Fact]
    public void EachLayerOverridesTheOneBelowAndIsNamedAsTheSource()
    {
        var beside = Json("beside.json", """{"Daemon": {"MaxBatch": 2, "Workers": 2, "MaxPixels": 100, "GrpcPort": 1000, "BridgePort": 1001}}""");
        var user = Json("user.json", """{"Daemon": {"Workers": 3, "MaxPixels": 200, "GrpcPort": 2000, "BridgePort": 2001}}""");
        var named = Json("named.json", """{"Daemon": {"MaxPixels": 300, "GrpcPort": 3000, "BridgePort": 3001}}""");
        var inputs = new DaemonConfigInputs
        {
            OptionalFiles = [beside, user, Path.Combine(_dir, "absent.json")],
            RequiredFile = named,
            Environment = new Dictionary<string, string?>
            {
                ["INPAINTSUITE_Daemon__GrpcPort"] = "4000",
                ["INPAINTSUITE_DAEMON__BRIDGEPORT"] = "4001",
                ["INPAINTSUITE_TOKEN"] = "client-side, not a daemon key",
                ["OTHER_Daemon__Workers"] = "99",
            },
            CommandLine = [("BridgePort", "5001", "--bridge-port")],
        };
        var o = Load(inputs, out var e);
        Assert.Equal((2, 3, 300L, 4000, 5001), (o.MaxBatch, o.Workers, o.MaxPixels, o.GrpcPort, o.BridgePort));
        Assert.Equal("file " + beside, e["MaxBatch"].Source);
        Assert.Equal("file " + user, e["Workers"].Source);
        Assert.Equal("--config " + named, e["MaxPixels"].Source);
        Assert.Equal("env INPAINTSUITE_Daemon__GrpcPort", e["GrpcPort"].Source);
        Assert.Equal("command line --bridge-port", e["BridgePort"].Source);
        Assert.Equal("default", e["Host"].Source);
        Assert.Equal("127.0.0.1", e["Host"].Value);
    }

    [Fact]
    public void INPAINTSUITEMODELSStillSetsTheModelsFolderBelowTheNewStyleVariable()
    {
        var env = new Dictionary<string, string?> { ["INPAINTSUITE_MODELS"] = "/old/models" };
        var o = Load(new DaemonConfigInputs { Environment = env }, out var e);
        Assert.Equal("/old/models", o.ModelsDirectory);
        Assert.Equal("env INPAINTSUITE_MODELS", e["ModelsDirectory"].Source);

        env["INPAINTSUITE_Daemon__ModelsDirectory"] = "/new/models";
        Assert.Equal("/new/models", Load(new DaemonConfigInputs { Environment = env }, out _).ModelsDirectory);
        var cli = new DaemonConfigInputs { Environment = env, CommandLine = [("ModelsDirectory", "/flag/models", "--models")] };
        Assert.Equal("/flag/models", Load(cli, out _).ModelsDirectory);
    }

    [Fact]
    public void SizesDurationsAndNamesInFriendlyForms()
    {
        var file = Json("friendly.json", """
            {"Daemon": {"MaxMessageBytes": "96MiB", "MaxPixels": "4096x2048", "ShutdownGrace": "250ms",
                        "MinimumLogLevel": "warning", "Host": "::1"}}
            """);
        var o = Load(new DaemonConfigInputs { RequiredFile = file }, out var e);
        Assert.Equal(96 * 1024 * 1024, o.MaxMessageBytes);
        Assert.Equal(4096L * 2048, o.MaxPixels);
        Assert.Equal(TimeSpan.FromMilliseconds(250), o.ShutdownGrace);
        Assert.Equal(LogLevel.Warning, o.MinimumLogLevel);
        Assert.Equal("::1", o.Host);
        Assert.Equal("250ms", e["ShutdownGrace"].Value);

        Assert.Equal(1_500_000_000m, ConfigValueParser.ParseInteger("1.5GB"));
        Assert.Equal(2048m, ConfigValueParser.ParseInteger("2K"));
        Assert.Equal(TimeSpan.FromMinutes(2), ConfigValueParser.ParseDuration("2m"));
        Assert.Equal(TimeSpan.FromSeconds(7), ConfigValueParser.ParseDuration("00:00:07"));
        Assert.Equal(TimeSpan.FromSeconds(3), ConfigValueParser.ParseDuration("3"));
        Assert.Equal(true, ConfigValueParser.Parse("yes", typeof(bool)));
        Assert.Null(ConfigValueParser.Parse("", typeof(int?)));
    }

    [Fact]
    public void EveryBindablePropertyRoundTripsThroughItsPrintedForm()
    {
        // Generic over DaemonOptions: a property someone adds later is covered without touching this test.
        var defaults = new DaemonOptions { AuthToken = "t0ken", TlsPassword = "pw" };
        var env = new Dictionary<string, string?>();
        foreach (var p in DaemonConfiguration.Properties)
        {
            var text = ConfigValueParser.Format(p.GetValue(defaults));
            if (text.Length > 0 && p.Name is not nameof(DaemonOptions.TlsCertificate) and not nameof(DaemonOptions.TlsKey))
                env["INPAINTSUITE_Daemon__" + p.Name] = text;
        }
        Assert.Contains("INPAINTSUITE_Daemon__ShutdownGrace", env.Keys);
        var o = Load(new DaemonConfigInputs { Environment = env }, out var e);
        foreach (var p in DaemonConfiguration.Properties)
        {
            Assert.Equal(p.GetValue(defaults), p.GetValue(o));
            if (env.ContainsKey("INPAINTSUITE_Daemon__" + p.Name)) Assert.Equal("env INPAINTSUITE_Daemon__" + p.Name, e[p.Name].Source);
        }
        Assert.DoesNotContain(nameof(DaemonOptions.Runner), DaemonConfiguration.Properties.Select(p => p.Name));
        Assert.True(e["AuthToken"].Secret);
        Assert.True(e["TlsPassword"].Secret);
        Assert.False(e["TokenFile"].Secret);
    }

    [Fact]
    public void PrintFormRedactsSecretsAndListsTheFiles()
    {
        var file = Json("secret.json", """{"Daemon": {"AuthToken": "s3cr3t-token-value", "TlsPassword": "hunter2"}}""");
        var inputs = new DaemonConfigInputs { OptionalFiles = [Path.Combine(_dir, "absent.json")], RequiredFile = file };
        DaemonConfiguration.Load(inputs, out var entries);
        var text = DaemonConfiguration.Describe(entries, inputs);
        Assert.DoesNotContain("s3cr3t", text);
        Assert.DoesNotContain("hunter2", text);
        Assert.Contains("Daemon:AuthToken = (set, redacted)", text);
        Assert.Contains("absent.json  (absent)", text);
        Assert.Matches(@"Daemon:MaxBatch = 8\s+# default", text);
        Assert.Matches(@"Daemon:MaxMessageBytes = \d+\s+# default; = 324 MiB", text);
    }

    [Theory]
    [InlineData("MaxBatch", "lots", "is not an integer")]
    [InlineData("MaxBatch", "0", "is out of range: must be 1..16")]
    [InlineData("GrpcPort", "65536", "is out of range: must be 0..65535")]
    [InlineData("MaxMessageBytes", "3GiB", "does not fit a Int32")]
    [InlineData("MaxPixels", "12 parsecs", "unknown unit")]
    [InlineData("ShutdownGrace", "soon", "is not a duration")]
    [InlineData("ShutdownGrace", "2h", "is out of range")]
    [InlineData("MinimumLogLevel", "loud", "is not one of Trace, Debug")]
    [InlineData("Host", "example.com", "is not an IP address")]
    [InlineData("TlsCertificate", "/no/such/cert.pem", "file not found")]
    public void ABadValueNamesItsKeyAndSource(string key, string value, string problem)
    {
        var fromEnv = Error(new DaemonConfigInputs { Environment = new Dictionary<string, string?> { ["INPAINTSUITE_Daemon__" + key] = value } });
        Assert.StartsWith($"configuration: Daemon:{key}", fromEnv);
        Assert.Contains($"(env INPAINTSUITE_Daemon__{key})", fromEnv);
        Assert.Contains(problem, fromEnv);
        Assert.DoesNotContain("\n", fromEnv);

        var file = Json("bad.json", "{\"Daemon\": {\"" + key + "\": \"" + value + "\"}}");
        var fromFile = Error(new DaemonConfigInputs { OptionalFiles = [file] });
        Assert.Contains($"Daemon:{key}", fromFile);
        Assert.Contains("file " + file, fromFile);

        var fromFlag = Error(new DaemonConfigInputs { CommandLine = [(key, value, "--some-flag")] });
        Assert.Contains("(command line --some-flag)", fromFlag);
    }

    [Fact]
    public void UnknownKeysSectionsUnsettablePropertiesBadJsonAndMissingFilesFail()
    {
        var typo = Error(new DaemonConfigInputs { OptionalFiles = [Json("u.json", """{"Daemon": {"MaxPixel": 5}, "Logging": {"Anything": 1}}""")] });
        Assert.StartsWith("configuration: Daemon:MaxPixel (file ", typo);
        Assert.EndsWith("is not a known setting (did you mean MaxPixels?)", typo);
        Assert.Contains("Daemon:grpc_port (env INPAINTSUITE_Daemon__grpc_port) is not a known setting (did you mean GrpcPort?)",
            Error(new DaemonConfigInputs { Environment = new Dictionary<string, string?> { ["INPAINTSUITE_Daemon__grpc_port"] = "1" } }));
        var unknown = Error(new DaemonConfigInputs { CommandLine = [("Colour", "blue", "--set Colour")] });
        Assert.Contains("is not a known setting (known: Host, GrpcPort", unknown);

        Assert.Contains("Daemon:Workers (env INPAINTSUITE_Daemon__Workers__Count) must be a single value",
            Error(new DaemonConfigInputs { Environment = new Dictionary<string, string?> { ["INPAINTSUITE_Daemon__Workers__Count"] = "2" } }));
        Assert.Contains("Daemon:Runner (command line --set Runner) cannot be set from configuration",
            Error(new DaemonConfigInputs { CommandLine = [("Runner", "x", "--set Runner")] }));
        Assert.Contains("Could not parse the JSON file", Error(new DaemonConfigInputs { OptionalFiles = [Json("broken.json", """{"Daemon": {""")] }));
        Assert.Contains("--config file not found", Error(new DaemonConfigInputs { RequiredFile = Path.Combine(_dir, "nope.json") }));
        Assert.Contains("Daemon:TlsKey (command line --tls-key) is set but Daemon:TlsCertificate is not",
            Error(new DaemonConfigInputs { CommandLine = [("TlsKey", "/k.pem", "--tls-key")] }));
    }

    [Fact]
    public async Task ConfiguredLimitsReachTheRunningDaemon()
    {
        var inputs = new DaemonConfigInputs
        {
            RequiredFile = Json("limits.json", """{"Daemon": {"MaxBatch": 3, "GrpcPort": 0, "BridgePort": -1}}"""),
            Environment = new Dictionary<string, string?> { ["INPAINTSUITE_Daemon__MaxPixels"] = "64x64" },
        };
        var options = DaemonConfiguration.Load(inputs, out _);
        options.Runner = new FakeRunner();
        options.MinimumLogLevel = LogLevel.Warning;
        await using var host = await DaemonHost.StartAsync(options);
        using var client = new Protocol.InpainterClient(host.GrpcAddress);
        var caps = await client.GetCapabilitiesAsync();
        Assert.Equal((4096UL, 3U), (caps.MaxPixels, caps.MaxBatch));
        var e = await Assert.ThrowsAsync<RpcException>(() => Protocol.InpainterClient.RunToResultAsync(client.Inpaint(TestDaemon.Inpaint(65, 64))));
        Assert.Contains("more than the limit 4096", e.Message);
    }
}

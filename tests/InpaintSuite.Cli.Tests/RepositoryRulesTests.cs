using System.Text.RegularExpressions;
using System.Xml.Linq;
using InpaintSuite.TestSupport;
using Xunit;

namespace InpaintSuite.Cli.Tests;

/// <summary>
/// The house rules a contributor can break without noticing, read from the repository itself: the one-way project
/// layering (docs/architecture.md) and one naming style for test methods.
/// </summary>
public class RepositoryRulesTests
{
    /// <summary>
    /// What each shipped project may reference directly. Imaging and Runtime never see each other; Protocol has no
    /// ASP.NET; nothing below the Daemon knows the Daemon; the Paint.NET plugin is a thin client (Protocol, Imaging).
    /// </summary>
    private static readonly Dictionary<string, string[]> AllowedReferences = new()
    {
        ["InpaintSuite.Protocol"] = [],
        ["InpaintSuite.Imaging"] = [],
        ["InpaintSuite.Runtime"] = [],
        ["InpaintSuite.Pipelines"] = ["InpaintSuite.Imaging", "InpaintSuite.Runtime"],
        ["InpaintSuite.Daemon"] = ["InpaintSuite.Protocol", "InpaintSuite.Pipelines", "InpaintSuite.Imaging", "InpaintSuite.Runtime"],
        ["InpaintSuite.Cli"] = ["InpaintSuite.Daemon", "InpaintSuite.Protocol", "InpaintSuite.Pipelines", "InpaintSuite.Imaging", "InpaintSuite.Runtime"],
        ["InpaintSuite.PaintDotNet.Core"] = ["InpaintSuite.Protocol", "InpaintSuite.Imaging"],
        ["InpaintSuite.PaintDotNet"] = ["InpaintSuite.PaintDotNet.Core", "InpaintSuite.Protocol", "InpaintSuite.Imaging"],
    };

    /// <summary>
    /// Framework and package references that would pull ASP.NET into a client-side project. (Grpc.HealthCheck is not
    /// one: it holds the health messages and client on Grpc.Core.Api, which the Protocol's health calls use.)
    /// </summary>
    private static readonly string[] ServerOnly = ["Microsoft.AspNetCore.App", "Grpc.AspNetCore", "Grpc.AspNetCore.Server", "Grpc.AspNetCore.Server.Reflection", "Grpc.AspNetCore.Server.ClientFactory"];

    private static readonly string[] ClientSide = ["InpaintSuite.Protocol", "InpaintSuite.Imaging", "InpaintSuite.Runtime", "InpaintSuite.Pipelines", "InpaintSuite.PaintDotNet.Core"];

    [Fact]
    public void ShippedProjectsReferenceOnlyTheLayersBelowThem()
    {
        var projects = ShippedProjects();
        Assert.Equal(AllowedReferences.Keys.Order(), projects.Keys.Order());
        var violations = LayeringViolations(projects.ToDictionary(p => p.Key, p => p.Value.References));
        Assert.True(violations.Count == 0, string.Join("\n", violations));
    }

    [Fact]
    public void ClientSideProjectsHaveNoAspNetCore()
    {
        var bad = ShippedProjects()
            .Where(p => ClientSide.Contains(p.Key))
            .SelectMany(p => p.Value.Frameworks.Concat(p.Value.Packages).Intersect(ServerOnly).Select(r => $"{p.Key} references {r}"))
            .ToList();
        Assert.True(bad.Count == 0, string.Join("\n", bad));
    }

    [Fact]
    public void LayeringCheckReportsAReferenceThatBreaksTheLayers()
    {
        var graph = AllowedReferences.ToDictionary(p => p.Key, p => p.Value.ToList());
        Assert.Empty(LayeringViolations(graph));
        graph["InpaintSuite.Imaging"].Add("InpaintSuite.Runtime");
        graph["InpaintSuite.Protocol"].Add("InpaintSuite.Daemon");
        var violations = LayeringViolations(graph);
        Assert.Contains(violations, v => v.Contains("InpaintSuite.Imaging -> InpaintSuite.Runtime", StringComparison.Ordinal));
        Assert.Contains(violations, v => v.Contains("InpaintSuite.Protocol -> InpaintSuite.Daemon", StringComparison.Ordinal));
    }

    [Fact]
    public void TestMethodsAreNamedInPascalCase()
    {
        var bad = TestMethodNames().Where(n => !IsPascalCase(n.Name)).Select(n => $"{n.File}: {n.Name}").ToList();
        Assert.True(bad.Count == 0, $"{bad.Count} test methods are not PascalCase (docs/contributing.md):\n" + string.Join("\n", bad.Take(40)));
    }

    [Theory]
    [InlineData("CancelledJobIsNeverFollowedByAResult", true)]
    [InlineData("Fp16WeightsMergeInFp32", true)]
    [InlineData("A_cancelled_job_is_never_followed_by_a_result", false)]
    [InlineData("decodesPng", false)]
    public void PascalCaseCheckTellsTheStylesApart(string name, bool expected) => Assert.Equal(expected, IsPascalCase(name));

    private static bool IsPascalCase(string name) => Regex.IsMatch(name, "^[A-Z][A-Za-z0-9]*$");

    /// <summary>Project name -> its direct project, framework and package references, from the .csproj files.</summary>
    private static Dictionary<string, (List<string> References, List<string> Frameworks, List<string> Packages)> ShippedProjects()
    {
        var files = Directory.GetFiles(Path.Combine(TestPaths.RepoRoot, "src"), "*.csproj", SearchOption.AllDirectories)
            .Concat(Directory.GetFiles(Path.Combine(TestPaths.RepoRoot, "plugins"), "*.csproj", SearchOption.AllDirectories));
        var result = new Dictionary<string, (List<string>, List<string>, List<string>)>();
        foreach (var file in files)
        {
            var doc = XDocument.Load(file);
            List<string> Items(string kind) => doc.Descendants(kind).Select(e => (string?)e.Attribute("Include")).OfType<string>().ToList();
            var refs = Items("ProjectReference").Select(r => Path.GetFileNameWithoutExtension(r.Replace('\\', '/'))).ToList();
            result[Path.GetFileNameWithoutExtension(file)] = (refs, Items("FrameworkReference"), Items("PackageReference"));
        }
        return result;
    }

    /// <summary>Each direct reference outside the allowed set, and each cycle.</summary>
    private static List<string> LayeringViolations(Dictionary<string, List<string>> graph)
    {
        var violations = new List<string>();
        foreach (var (project, refs) in graph)
        {
            var allowed = AllowedReferences.GetValueOrDefault(project, []);
            foreach (var r in refs.Where(r => !allowed.Contains(r)))
                violations.Add($"{project} -> {r} is not allowed (allowed: {(allowed.Length == 0 ? "nothing" : string.Join(", ", allowed))})");
        }
        foreach (var project in graph.Keys)
            if (Reaches(graph, project, project, [])) violations.Add($"{project} references itself through a cycle");
        return violations;
    }

    private static bool Reaches(Dictionary<string, List<string>> graph, string from, string target, HashSet<string> seen)
    {
        foreach (var r in graph.GetValueOrDefault(from, []))
        {
            if (r == target) return true;
            if (seen.Add(r) && Reaches(graph, r, target, seen)) return true;
        }
        return false;
    }

    /// <summary>Methods carrying [Fact] or [Theory] in every test source file of the repository.</summary>
    private static IEnumerable<(string File, string Name)> TestMethodNames()
    {
        var attribute = new Regex(@"^\s*\[(Fact|Theory|SkippableFact)\b", RegexOptions.Compiled);
        var method = new Regex(@"^\s*(public|internal|private)?\s*(static\s+)?(async\s+)?[\w<>\[\],?]+\s+(\w+)\s*\(", RegexOptions.Compiled);
        foreach (var file in Directory.GetFiles(Path.Combine(TestPaths.RepoRoot, "tests"), "*.cs", SearchOption.AllDirectories))
        {
            if (file.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                || file.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal)) continue;
            var lines = File.ReadAllLines(file);
            for (int i = 0; i < lines.Length; i++)
            {
                if (!attribute.IsMatch(lines[i])) continue;
                for (int j = i + 1; j < Math.Min(lines.Length, i + 12); j++)
                {
                    var m = method.Match(lines[j]);
                    if (m.Success && !lines[j].TrimStart().StartsWith('[')) { yield return (Path.GetRelativePath(TestPaths.RepoRoot, file), m.Groups[4].Value); break; }
                }
            }
        }
    }
}

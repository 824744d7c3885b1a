using System.Reflection;
using BenchmarkDotNet.Running;

namespace InpaintSuite.Benchmarks;

/// <summary>
/// A command-line tool hosted by the benchmarks executable (eval runners, side-by-side bench drivers):
/// `dotnet run --project tests/InpaintSuite.Benchmarks -c Release -- NAME args...`.
/// Anything else goes to BenchmarkDotNet's switcher.
/// </summary>
public interface IBenchTool
{
    string Name { get; }
    string Description { get; }
    int Run(string[] args);
}

public static class Program
{
    public static int Main(string[] args)
    {
        var tools = typeof(Program).Assembly.GetTypes()
            .Where(t => typeof(IBenchTool).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false })
            .Select(t => (IBenchTool)Activator.CreateInstance(t)!)
            .ToDictionary(t => t.Name, StringComparer.Ordinal);
        if (args.Length > 0 && tools.TryGetValue(args[0], out var tool)) return tool.Run(args[1..]);
        if (args.Length > 0 && args[0] == "tools")
        {
            foreach (var t in tools.Values.OrderBy(t => t.Name)) Console.WriteLine($"{t.Name,-24} {t.Description}");
            return 0;
        }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}

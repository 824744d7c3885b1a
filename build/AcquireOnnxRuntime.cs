// Compiled by MSBuild's RoslynCodeTaskFactory (see OnnxRuntime.targets); not part of any project.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.IO.Compression;
using System.Security.Cryptography;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

namespace InpaintSuite.Build
{
    /// <summary>
    /// npm pack -> SHA-512 check -> extract native libraries to CacheDir/Version/runtimes/RID/native.
    /// Every step writes to a unique temp name and then moves it into place, so concurrent builds never see
    /// half-written files; whoever loses a race simply discards its own copy.
    /// </summary>
    public class AcquireOnnxRuntime : Task
    {
        [Required] public string PackageName { get; set; } = "";
        [Required] public string Version { get; set; } = "";
        [Required] public string Sha512 { get; set; } = "";
        [Required] public string CacheDir { get; set; } = "";

        // Package path -> RID folder. Only what a .NET process needs to load the CPU/DirectML runtime.
        private static readonly Dictionary<string, string> NativeFiles = new Dictionary<string, string>
        {
            ["package/bin/napi-v6/linux/x64/libonnxruntime.so.1"] = "linux-x64",
            ["package/bin/napi-v6/linux/arm64/libonnxruntime.so.1"] = "linux-arm64",
            ["package/bin/napi-v6/win32/x64/onnxruntime.dll"] = "win-x64",
            ["package/bin/napi-v6/win32/x64/DirectML.dll"] = "win-x64",
            ["package/bin/napi-v6/win32/arm64/onnxruntime.dll"] = "win-arm64",
            ["package/bin/napi-v6/win32/arm64/DirectML.dll"] = "win-arm64",
            ["package/bin/napi-v6/darwin/arm64/libonnxruntime.1.30.0.dylib"] = "osx-arm64",
            ["package/bin/napi-v6/darwin/arm64/libonnxruntime.1.dylib"] = "osx-arm64",
        };

        public override bool Execute()
        {
            try
            {
                Directory.CreateDirectory(CacheDir);
                string tarball = Path.Combine(CacheDir, PackageName + "-" + Version + ".tgz");
                if (!File.Exists(tarball) || !HashMatches(tarball))
                {
                    if (File.Exists(tarball))
                        Log.LogMessage(MessageImportance.High, "InpaintSuite: cached " + tarball + " fails the pinned SHA-512; fetching again");
                    Fetch(tarball);
                }
                Extract(tarball);
                return !Log.HasLoggedErrors;
            }
            catch (Exception e)
            {
                Log.LogError("InpaintSuite: could not obtain the ONNX Runtime native library (" + PackageName + "@" + Version +
                    " via npm pack): " + e.Message + ". Install npm, or build with -p:InpaintSuiteOrtSkip=true and set INPAINTSUITE_ORT_LIBRARY " +
                    "to an onnxruntime shared library at run time.");
                return false;
            }
        }

        private bool HashMatches(string file)
        {
            using (var s = File.OpenRead(file))
            using (var sha = SHA512.Create())
            {
                string actual = BitConverter.ToString(sha.ComputeHash(s)).Replace("-", "").ToLowerInvariant();
                if (actual == Sha512.ToLowerInvariant()) return true;
                Log.LogMessage(MessageImportance.High, "InpaintSuite: " + file + " has SHA-512 " + actual + ", expected " + Sha512);
                return false;
            }
        }

        private void Fetch(string tarball)
        {
            string temp = Path.Combine(CacheDir, "tmp-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(temp);
            try
            {
                Log.LogMessage(MessageImportance.High, "InpaintSuite: npm pack " + PackageName + "@" + Version + " (first build only; cached in " + CacheDir + ")");
                bool windows = Path.DirectorySeparatorChar == '\\';
                var psi = new ProcessStartInfo(windows ? "cmd.exe" : "npm")
                {
                    UseShellExecute = false,
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                    WorkingDirectory = temp,
                };
                // Built from pinned properties and a GUID folder name: nothing here needs shell quoting beyond the path.
                psi.Arguments = (windows ? "/c npm " : "") + "pack " + PackageName + "@" + Version + " --ignore-scripts --silent --pack-destination \"" + temp + "\"";
                using (var p = Process.Start(psi))
                {
                    var err = p.StandardError.ReadToEndAsync();
                    p.StandardOutput.ReadToEnd();
                    p.WaitForExit();
                    if (p.ExitCode != 0) throw new InvalidOperationException("npm pack exited with " + p.ExitCode + ": " + err.Result.Trim());
                }
                string packed = Path.Combine(temp, PackageName + "-" + Version + ".tgz");
                if (!File.Exists(packed)) throw new FileNotFoundException("npm pack produced no " + packed);
                if (!HashMatches(packed)) throw new InvalidOperationException("the downloaded tarball does not match the pinned SHA-512; refusing to use it");
                try { File.Move(packed, tarball); }
                catch (IOException) when (File.Exists(tarball)) { } // another build won the race with the same verified bytes
                if (!HashMatches(tarball)) { File.Delete(tarball); File.Move(packed, tarball); }
            }
            finally { TryDelete(temp); }
        }

        private void Extract(string tarball)
        {
            string final = Path.Combine(CacheDir, Version);
            if (File.Exists(Path.Combine(final, ".complete"))) return;
            string temp = Path.Combine(CacheDir, "tmp-" + Guid.NewGuid().ToString("N"));
            try
            {
                int count = 0;
                using (var file = File.OpenRead(tarball))
                using (var gz = new GZipStream(file, CompressionMode.Decompress))
                {
                    // Minimal ustar reader (the task compiles against netstandard, which has no System.Formats.Tar).
                    var header = new byte[512];
                    string longName = null;
                    while (ReadFull(gz, header) && header[0] != 0)
                    {
                        string prefix = CString(header, 345, 155);
                        string name = longName ?? (prefix.Length > 0 ? prefix + "/" : "") + CString(header, 0, 100);
                        longName = null;
                        long size = Convert.ToInt64(CString(header, 124, 12).Trim(' ', '\0').PadLeft(1, '0'), 8);
                        char type = (char)header[156];
                        long padded = (size + 511) / 512 * 512;
                        string rid;
                        if (type == 'x' || type == 'L')
                        {
                            var meta = new byte[padded];
                            ReadFull(gz, meta);
                            string text = System.Text.Encoding.UTF8.GetString(meta, 0, (int)size);
                            if (type == 'L') longName = text.TrimEnd('\0');
                            else foreach (var line in text.Split('\n'))
                            {
                                int eq = line.IndexOf(" path=", StringComparison.Ordinal);
                                if (eq >= 0) longName = line.Substring(eq + 6);
                            }
                        }
                        else if ((type == '0' || type == '\0') && NativeFiles.TryGetValue(name, out rid))
                        {
                            string dir = Path.Combine(temp, "runtimes", rid, "native");
                            Directory.CreateDirectory(dir);
                            using (var output = File.Create(Path.Combine(dir, Path.GetFileName(name))))
                                Copy(gz, output, size);
                            Skip(gz, padded - size);
                            count++;
                        }
                        else Skip(gz, padded);
                    }
                }
                if (count != NativeFiles.Count)
                    throw new InvalidOperationException("expected " + NativeFiles.Count + " native files in " + tarball + ", found " + count);
                File.WriteAllText(Path.Combine(temp, ".complete"), PackageName + "@" + Version + " sha512 " + Sha512 + "\n");
                try
                {
                    // A folder without the marker can only be left from a manual edit; a complete one is never removed.
                    if (Directory.Exists(final) && !File.Exists(Path.Combine(final, ".complete"))) Directory.Delete(final, recursive: true);
                    Directory.Move(temp, final);
                    Log.LogMessage(MessageImportance.High, "InpaintSuite: ONNX Runtime " + Version + " native libraries extracted to " + final);
                }
                catch (IOException) when (File.Exists(Path.Combine(final, ".complete"))) { } // a concurrent build finished first
            }
            finally { TryDelete(temp); }
        }

        private static string CString(byte[] b, int offset, int length)
        {
            int end = offset;
            while (end < offset + length && b[end] != 0) end++;
            return System.Text.Encoding.UTF8.GetString(b, offset, end - offset);
        }

        private static bool ReadFull(Stream s, byte[] buffer)
        {
            int read = 0;
            while (read < buffer.Length)
            {
                int n = s.Read(buffer, read, buffer.Length - read);
                if (n == 0) return false;
                read += n;
            }
            return true;
        }

        private static void Copy(Stream from, Stream to, long count)
        {
            var buffer = new byte[1 << 20];
            while (count > 0)
            {
                int n = from.Read(buffer, 0, (int)Math.Min(buffer.Length, count));
                if (n == 0) throw new EndOfStreamException("truncated tarball");
                to.Write(buffer, 0, n);
                count -= n;
            }
        }

        private static void Skip(Stream s, long count) => Copy(s, Stream.Null, count);

        private static void TryDelete(string dir)
        {
            try { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}

using System.Globalization;
using System.Windows.Forms;
using InpaintSuite.PaintDotNet.Core;
using PaintDotNet.AppModel;
using PaintDotNet.Effects;

namespace InpaintSuite.PaintDotNet;

/// <summary>
/// The effect dialog. Generate runs the job on a background task (the UI stays live, progress shows in
/// the status line); Stop or closing the dialog cancels it (the daemon job too). A finished result goes
/// into the token, and Paint.NET re-renders the canvas preview from it.
/// The last settings are kept in %APPDATA%\InpaintSuite\paintdotnet.json (the token's serialized form).
/// </summary>
internal sealed class InpaintSuiteConfigForm : EffectConfigForm<InpaintSuiteEffect, InpaintSuiteConfigToken>
{
    private readonly TextBox prompt = new() { Multiline = true, Height = 60, Dock = DockStyle.Fill, ScrollBars = ScrollBars.Vertical };
    private readonly TextBox negativePrompt = new() { Dock = DockStyle.Fill };
    private readonly ComboBox engine = new() { Dock = DockStyle.Fill, DropDownStyle = ComboBoxStyle.DropDown };
    private readonly NumericUpDown strength = new() { Minimum = 0, Maximum = 1, DecimalPlaces = 2, Increment = 0.05m, Value = 1 };
    private readonly NumericUpDown steps = new() { Minimum = 0, Maximum = 150, Value = 0 };
    private readonly ComboBox scheduler = new() { Dock = DockStyle.Fill, DropDownStyle = ComboBoxStyle.DropDownList };
    private readonly TextBox seed = new() { PlaceholderText = "random" };
    private readonly NumericUpDown grow = new() { Minimum = -256, Maximum = 256, Value = 0 };
    private readonly NumericUpDown feather = new() { Minimum = 0, Maximum = 256, DecimalPlaces = 1, Value = 4 };
    private readonly TextBox daemon = new() { Dock = DockStyle.Fill };
    private readonly Button generate = new() { Text = "Generate", AutoSize = true };
    private readonly Button stop = new() { Text = "Stop", AutoSize = true, Enabled = false };
    private readonly Button ok = new() { Text = "OK", AutoSize = true, DialogResult = DialogResult.OK };
    private readonly Button cancel = new() { Text = "Cancel", AutoSize = true, DialogResult = DialogResult.Cancel };
    private readonly ProgressBar progressBar = new() { Dock = DockStyle.Fill, Style = ProgressBarStyle.Continuous };
    private readonly Label status = new() { Dock = DockStyle.Fill, AutoEllipsis = true, Text = "Ready." };

    private CancellationTokenSource? running;
    private Task? job;
    private InpaintRenderer? result;

    private static readonly string SettingsFile = Path.Combine(
        Environment.GetFolderPath(Environment.SpecialFolder.ApplicationData), "InpaintSuite", "paintdotnet.json");

    public InpaintSuiteConfigForm()
    {
        Text = "InpaintSuite Generative Fill";
        AutoSize = true;
        AutoSizeMode = AutoSizeMode.GrowAndShrink;
        engine.Items.AddRange(["auto", "content-aware", "fill"]);
        scheduler.Items.Add("model default");
        foreach (var name in InpaintSettings.Schedulers) scheduler.Items.Add(name);
        scheduler.SelectedIndex = 0;

        var grid = new TableLayoutPanel { ColumnCount = 2, AutoSize = true, Dock = DockStyle.Fill, Padding = new Padding(8) };
        void Row(string label, Control c) { grid.Controls.Add(new Label { Text = label, AutoSize = true, Anchor = AnchorStyles.Left }); grid.Controls.Add(c); }
        Row("Prompt", prompt);
        Row("Negative prompt", negativePrompt);
        Row("Engine", engine);
        Row("Strength", strength);
        Row("Steps (0 = default)", steps);
        Row("Scheduler", scheduler);
        Row("Seed", seed);
        Row("Grow selection (px)", grow);
        Row("Feather (px)", feather);
        Row("Daemon", daemon);
        var buttons = new FlowLayoutPanel { AutoSize = true, Dock = DockStyle.Fill };
        buttons.Controls.AddRange([generate, stop, ok, cancel]);
        grid.Controls.Add(progressBar); grid.SetColumnSpan(progressBar, 2);
        grid.Controls.Add(status); grid.SetColumnSpan(status, 2);
        grid.Controls.Add(buttons); grid.SetColumnSpan(buttons, 2);
        Controls.Add(grid);
        AcceptButton = ok;
        CancelButton = cancel;

        generate.Click += (_, _) => StartJob();
        stop.Click += (_, _) => running?.Cancel();
    }

    protected override EffectConfigToken OnCreateInitialToken()
    {
        InpaintSettings settings = new();
        try { if (File.Exists(SettingsFile)) settings = InpaintSettings.Parse(File.ReadAllText(SettingsFile)); }
        catch (Exception e) when (e is FormatException or IOException or UnauthorizedAccessException) { /* start from defaults */ }
        return new InpaintSuiteConfigToken(settings, null);
    }

    protected override void OnUpdateDialogFromToken(InpaintSuiteConfigToken token)
    {
        var s = token.Settings;
        prompt.Text = s.Prompt;
        negativePrompt.Text = s.NegativePrompt;
        engine.Text = s.Engine;
        strength.Value = (decimal)s.Strength;
        steps.Value = Math.Clamp(s.Steps, 0, 150);
        scheduler.SelectedIndex = Math.Max(0, scheduler.Items.IndexOf(s.Scheduler.Length > 0 ? s.Scheduler : "model default"));
        seed.Text = s.Seed?.ToString(CultureInfo.InvariantCulture) ?? "";
        grow.Value = s.Grow;
        feather.Value = (decimal)s.Feather;
        daemon.Text = s.DaemonAddress;
        result = token.Result;
    }

    protected override void OnUpdateTokenFromDialog(InpaintSuiteConfigToken token)
    {
        token.Settings = ReadSettings();
        token.Result = result;
    }

    private InpaintSettings ReadSettings() => new()
    {
        Prompt = prompt.Text,
        NegativePrompt = negativePrompt.Text,
        Engine = string.IsNullOrWhiteSpace(engine.Text) ? "auto" : engine.Text.Trim(),
        Strength = (float)strength.Value,
        Steps = (int)steps.Value,
        Scheduler = scheduler.SelectedIndex > 0 ? (string)scheduler.SelectedItem! : "",
        Seed = ulong.TryParse(seed.Text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var sd) ? sd : null,
        Grow = (int)grow.Value,
        Feather = (float)feather.Value,
        DaemonAddress = string.IsNullOrWhiteSpace(daemon.Text) ? InpaintSettings.DefaultDaemonAddress : daemon.Text.Trim(),
    };

    private void StartJob()
    {
        running?.Cancel();
        var settings = ReadSettings();
        if (settings.Validate() is { } problem) { status.Text = problem; return; }
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(SettingsFile)!);
            File.WriteAllText(SettingsFile, settings.Serialize());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* not fatal */ }

        var cts = new CancellationTokenSource();
        running = cts;
        generate.Enabled = false;
        stop.Enabled = true;
        status.Text = "Reading the layer…";
        progressBar.Value = 0;
        var source = PdnBridge.ReadSource(Environment);
        var selection = PdnBridge.ReadSelection(Environment);
        var progress = new Progress<InpaintProgress>(p =>
        {
            status.Text = p.ToString();
            progressBar.Value = p.Total > 0 ? Math.Clamp(100 * p.Step / p.Total, 0, 100) : 0;
        });
        job = RunAsync(source, selection, settings, progress, cts);
    }

    private async Task RunAsync(Bgra32Surface source, SelectionMask selection, InpaintSettings settings, IProgress<InpaintProgress> progress, CancellationTokenSource cts)
    {
        try
        {
            using var service = DaemonInpaintService.ForSettings(settings);
            // Task.Run: planning copies the layer; keep that off the UI thread too.
            var r = await Task.Run(() => InpaintJob.RunAsync(service, source, selection, settings, progress, cts.Token), cts.Token);
            result = r;
            status.Text = $"Done ({r.Engine}, seed {r.Seed}).";
            progressBar.Value = 100;
            UpdateTokenFromDialog();
        }
        catch (OperationCanceledException)
        {
            status.Text = "Stopped. The image is unchanged.";
        }
        catch (InpaintServiceException e)
        {
            status.Text = e.Message;
            Services.GetService<IExceptionDialogService>()!.ShowErrorDialog(this, e.Message, e.ToString());
        }
        finally
        {
            if (ReferenceEquals(running, cts)) { running = null; generate.Enabled = true; stop.Enabled = false; }
            cts.Dispose();
        }
    }

    protected override void OnFormClosing(FormClosingEventArgs e)
    {
        // Closing (OK or Cancel) stops a job still running; OK keeps the last finished result.
        running?.Cancel();
        base.OnFormClosing(e);
    }
}

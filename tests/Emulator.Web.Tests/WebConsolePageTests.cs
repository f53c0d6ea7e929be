using System.Text.RegularExpressions;
using Emulator.Service.Client;
using Emulator.Service.Hosting;
using Emulator.Service.Machines;
using Emulator.Service.V1;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace Emulator.Web.Tests;

/// <summary>
/// The web console in a real browser: headless Chromium from Debian driven by Playwright against
/// a node's control plane (as `emu serve` builds it, with a token) running the default guest.
/// </summary>
public sealed class WebConsolePageTests(ITestOutputHelper output)
{
    private const string Token = "page-s3cret";
    private const string MachineId = "web-guest";

    /// <summary>How long a step may take on a loaded 2-core machine: generous, so only a broken step fails.</summary>
    private const float StepMs = 180_000;

    [ChromiumFact]
    public async Task The_page_refuses_without_the_token_then_lists_the_machine_runs_uname_in_its_terminal_and_pauses_it()
    {
        var snapshots = Directory.CreateTempSubdirectory("emu-web-test-");
        await using var host = await ControlPlaneHost.StartAsync(new ControlPlaneOptions
        {
            BearerToken = Token,
            Machines = new MachineServiceOptions
            {
                AllowedDirectories = [DefaultGuest.ImageDirectory],
                SnapshotDirectory = snapshots.FullName,
            },
        });
        try
        {
            using var channel = ControlPlaneChannel.Open(host.Address, Token);
            var machines = new Emulator.Service.V1.MachineService.MachineServiceClient(channel);
            await machines.CreateMachineAsync(new CreateMachineRequest
            {
                Id = MachineId,
                Vcpus = 1,
                MemoryMib = 256,
                Kernel = DefaultGuest.Kernel,
                Initrd = DefaultGuest.Initrd,
                CommandLine = "console=ttyS0",
            });
            await machines.StartMachineAsync(new MachineRef { Id = MachineId });

            using var playwright = await Playwright.CreateAsync();
            await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = ChromiumFactAttribute.Executable,
                Headless = true,
                // Root needs --no-sandbox; the rest keep Chromium off the (closed) network.
                Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
            });
            var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
            page.SetDefaultTimeout(StepMs);
            await page.GotoAsync(host.Address);

            // Without the token: a clear refusal, and no machine shown.
            await Assertions.Expect(page.Locator("#login")).ToBeVisibleAsync();
            await Assertions.Expect(page.Locator("#login-reason")).ToContainTextAsync("refuses calls without its token");
            await Assertions.Expect(page.Locator("#machines-view")).ToBeHiddenAsync();
            await Assertions.Expect(page.GetByText(MachineId)).ToHaveCountAsync(0);

            // A wrong token is refused as such.
            await page.FillAsync("#token", "not-the-token");
            await page.ClickAsync("#login-form button[type=submit]");
            await Assertions.Expect(page.Locator("#login-reason")).ToContainTextAsync("refused this token");

            // The token: the machine is listed, running.
            await page.FillAsync("#token", Token);
            await page.ClickAsync("#login-form button[type=submit]");
            var row = page.Locator($"tr[data-machine='{MachineId}']");
            await Assertions.Expect(row.Locator("td.state")).ToHaveTextAsync("RUNNING");

            // Its terminal: wait for the shell (Enter until a prompt shows), then ask the kernel.
            await row.Locator("button[data-action=console]").ClickAsync();
            await Assertions.Expect(page.Locator("#console-status")).ToContainTextAsync("attached");
            var screen = page.Locator("#terminal .xterm-rows");
            await page.Locator("#terminal").ClickAsync();
            await WaitForPrompt(page, screen);
            await page.Keyboard.TypeAsync("uname -a\n");
            string release = File.ReadAllLines(DefaultGuest.Manifest).First(l => l.StartsWith("kernel_release=", StringComparison.Ordinal))["kernel_release=".Length..];
            await Assertions.Expect(screen).ToContainTextAsync(new Regex($"Linux emu-guest {Regex.Escape(release)} .* x86_64"));
            output.WriteLine(await screen.InnerTextAsync());

            // Pause with the button: the page shows it, and the service agrees.
            await row.Locator("button[data-action=pause]").ClickAsync();
            await Assertions.Expect(row.Locator("td.state")).ToHaveTextAsync("PAUSED");
            Assert.Equal(MachineState.Paused, (await machines.GetMachineAsync(new MachineRef { Id = MachineId })).State);
            await Assertions.Expect(row.Locator("button[data-action=resume]")).ToBeEnabledAsync();

            string shot = Path.Combine(Repository.Root, "tests", "Emulator.Web.Tests", "TestResults", "web-console.png");
            Directory.CreateDirectory(Path.GetDirectoryName(shot)!);
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = shot, FullPage = true });
            output.WriteLine($"screenshot: {shot}");
        }
        finally
        {
            await host.StopAsync();
            snapshots.Delete(recursive: true);
        }
    }

    /// <summary>The console shows only what the guest prints after it is attached: press Enter until the shell's prompt (PS1, images/README.md) appears.</summary>
    private static async Task WaitForPrompt(IPage page, ILocator screen)
    {
        for (int attempt = 0; ; attempt++)
        {
            await page.Keyboard.PressAsync("Enter");
            try
            {
                await Assertions.Expect(screen).ToContainTextAsync("emu-guest:~#", new LocatorAssertionsToContainTextOptions { Timeout = 5_000 });
                return;
            }
            catch (PlaywrightException) when (attempt < StepMs / 5_000)
            {
                // still booting
            }
        }
    }
}

/// <summary>A test that needs Debian's chromium (apt-get install chromium).</summary>
public sealed class ChromiumFactAttribute() : DependencyFactAttribute(File.Exists(Executable) ? null : $"{Executable} is missing (apt-get install chromium)")
{
    public const string Executable = "/usr/bin/chromium";
}

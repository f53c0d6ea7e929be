using System.CommandLine;
using Emulator.Cli;
using Emulator.Cli.Bench;

// `emu`: QEMU's flags where QEMU users look for them. Without -kernel it boots the default guest.
if (Environment.GetEnvironmentVariable("EMU_TRACE") == "events")
{
    Emulator.X86.Cpu.EventTrace = line => Console.Error.WriteLine($"[trace] {line}");
}

var kernel = new Option<string?>("-kernel") { Description = "Linux kernel to boot (bzImage or uncompressed ELF vmlinux)" };
var initrd = new Option<string?>("-initrd") { Description = "initial RAM disk" };
var append = new Option<string?>("-append") { Description = "kernel command line" };
var memory = new Option<string>("-m") { Description = "RAM size (512, 512M, 2G)", DefaultValueFactory = _ => "512M" };
var smp = new Option<string>("-smp") { Description = "number of vCPUs (N or cpus=N)", DefaultValueFactory = _ => "1" };
var nographic = new Option<bool>("-nographic") { Description = "serial port on the terminal (the only display emu has); Ctrl-A x quits, Ctrl-A h lists keys" };
var serial = new Option<string>("-serial") { Description = "serial port backend: stdio or none", DefaultValueFactory = _ => "stdio" };
var noReboot = new Option<bool>("-no-reboot") { Description = "exit (code 0) when the guest reboots" };
var drive = new Option<string[]>("-drive") { Description = "a disk: file=PATH[,format=raw|emucow],if=virtio[,readonly=on][,cache=writeback|writethrough|none] (repeatable; raw unless format=emucow, never guessed from the file)" };
var virtfs = new Option<string[]>("-virtfs") { Description = VirtfsOption.Help };
var device = new Option<string[]>("-device") { Description = "a device: isa-debug-exit[,iobase=0xf4][,iosize=0x04] (QEMU's spelling and defaults; repeatable); -device help lists them" };
var accel = new Option<string>("-accel") { Description = "accelerator: tcg[,tier1=wasmtime|cil|off][,tier1-threshold=N][,tier1-merge=N] (hot blocks compiled to WebAssembly on that engine, after N runs; modules entered from other modules N times a second or more, when several are, compiled again as one, 0: never; default wasmtime, 1500, 200000)", DefaultValueFactory = _ => "tcg" };
var netdev = new Option<string[]>("-netdev") { Description = "a network backend: tap,id=ID,ifname=TAP[,script=no,downscript=no] (used by -device virtio-net-device,netdev=ID[,mac=MAC])" };
var nic = new Option<string[]>("-nic") { Description = "a network interface in one flag: tap,ifname=TAP[,mac=MAC] (virtio-net on that TAP)" };
var cpuModel = new Option<string>("-cpu") { Description = "CPU model: qemu64, x86-64-v2 (default) or max; -cpu help lists them", DefaultValueFactory = _ => Emulator.X86.CpuModel.Default.Name };

// `emu serve` sets up OpenTelemetry in its host (ControlPlaneHost); every other command here.
using var telemetry = args is ["serve", ..] ? null : Telemetry.StartFromEnvironment();

var root = new RootCommand("emu: an x86-64 PC emulator. Boots Linux directly; without -kernel, boots the default Debian guest.")
{
    kernel, initrd, append, memory, smp, nographic, serial, noReboot, drive, device, accel, cpuModel, netdev, nic, virtfs,
};

root.SetAction(parse =>
{
    if (parse.GetValue(cpuModel) is "help" or "?")
    {
        Console.Out.Write(Emulator.X86.CpuModel.Help());
        return 0;
    }

    var notes = new List<string>();
    string? error = MachineOptions.ParseMemory(parse.GetValue(memory)!, out ulong bytes);
    var model = Emulator.X86.CpuModel.Default;
    error ??= MachineOptions.ParseCpu(parse.GetValue(cpuModel)!, out model);
    int cpus = 1;
    bool onStdio = true;
    error ??= MachineOptions.ParseSmp(parse.GetValue(smp)!, out cpus);
    Emulator.Execution.Tiering.Tier1Options? tier1 = null;
    error ??= MachineOptions.ParseAccel(parse.GetValue(accel)!, notes, out tier1);
    error ??= MachineOptions.ParseSerial(parse.GetValue(serial)!, out onStdio);
    var disks = new List<Emulator.Machine.Pc.DiskConfig>();
    foreach (string spec in parse.GetValue(drive) ?? [])
    {
        if (error is null)
        {
            error = MachineOptions.ParseDrive(spec, out var disk);
            if (error is null)
            {
                disks.Add(disk);
            }
        }
    }

    var shares = new List<Emulator.Machine.SharedFolders.SharedFolderConfig>();
    foreach (string spec in parse.GetValue(virtfs) ?? [])
    {
        if (error is null)
        {
            error = VirtfsOption.Parse(spec, out var share);
            if (error is null)
            {
                shares.Add(share);
            }
        }
    }

    Emulator.Machine.Pc.IsaDebugExitConfig? debugExit = null;
    var net = new NetOptions();
    foreach (string spec in parse.GetValue(device) ?? [])
    {
        if (spec == "help")
        {
            Console.Out.Write(MachineOptions.DeviceHelp + NetOptions.DeviceHelp);
            return 0;
        }

        error ??= NetOptions.IsNetDevice(spec) ? net.ParseDevice(spec) : MachineOptions.ParseDevice(spec, ref debugExit);
    }

    foreach (string spec in parse.GetValue(netdev) ?? [])
    {
        error ??= net.ParseNetdev(spec);
    }

    foreach (string spec in parse.GetValue(nic) ?? [])
    {
        error ??= net.ParseNic(spec);
    }

    var interfaces = new List<Emulator.Machine.Net.NetworkInterfaceConfig>();
    error ??= net.Resolve(out interfaces);

    if (error is not null)
    {
        Console.Error.WriteLine($"emu: {error}");
        return 2;
    }

    string? kernelPath = parse.GetValue(kernel);
    string? initrdPath = parse.GetValue(initrd);
    string? commandLine = parse.GetValue(append);
    if (kernelPath is null)
    {
        string? image = GuestImage.Ensure(Console.Error);
        if (image is null)
        {
            return 1;
        }

        kernelPath = GuestImage.Kernel(image);
        initrdPath ??= Path.Combine(image, "initramfs.cpio.gz");
        commandLine ??= GuestImage.DefaultAppend;
    }

    var options = new MachineOptions
    {
        Kernel = kernelPath,
        Initrd = initrdPath,
        CommandLine = commandLine ?? "console=ttyS0",
        MemoryBytes = bytes,
        Cpus = cpus,
        SerialOnStdio = onStdio || parse.GetValue(nographic),
        NoReboot = parse.GetValue(noReboot),
        DebugExit = debugExit,
        Tier1 = tier1,
        CpuModel = model,
    };
    options.Notes.AddRange(notes);
    options.Disks.AddRange(disks);
    options.NetworkInterfaces.AddRange(interfaces);
    options.SharedFolders.AddRange(shares);
    return RunMachine.Run(options);
});

var bench = new Command("bench", "benchmarks (figures, not tests)");
var benchCpu = new Command("cpu", "guest MIPS of the CPU core on compute kernels, beside QEMU");
var runs = new Argument<int>("runs") { DefaultValueFactory = _ => 5, Description = "timed runs per kernel" };
var cpuKernel = new Option<string[]>("--kernel") { Description = "only these kernels (crc32, mixsum); default all", AllowMultipleArgumentsPerToken = true };
var cpuTier = new Option<string[]>("--tier1") { Description = "only these tiers (off, cil, wasmtime); default all", AllowMultipleArgumentsPerToken = true };
var cpuNoQemu = new Option<bool>("--no-qemu") { Description = "do not run QEMU beside" };
benchCpu.Add(runs);
benchCpu.Add(cpuKernel);
benchCpu.Add(cpuTier);
benchCpu.Add(cpuNoQemu);
benchCpu.SetAction(parse => CpuBenchmark.Run(Math.Max(1, parse.GetValue(runs)), parse.GetValue(cpuKernel), parse.GetValue(cpuTier), parse.GetValue(cpuNoQemu)));
var benchIo = new Command("io", "round trip of a port/MMIO access to a device actor");
benchIo.SetAction(_ => IoBenchmark.Run());
var benchBoot = new Command("boot", "boot time of the default guest to its shell prompt, beside QEMU");
benchBoot.SetAction(_ => BootBenchmark.Run());
bench.Add(benchCpu);
bench.Add(benchIo);
var benchGuest = new Command("guest", "guest workloads, the parallel workload on 1/2/4 vCPUs, virtio-blk and virtio-net throughput, beside QEMU");
var guestPart = new Argument<string>("part") { DefaultValueFactory = _ => "all", Description = "all, work, smp, disk or net (net: root, makes a network namespace with a TAP)" };
guestPart.AcceptOnlyFromAmong("all", "work", "smp", "disk", "net");
benchGuest.Add(guestPart);
benchGuest.SetAction(parse => GuestBenchmark.Run(parse.GetValue(guestPart)!));
bench.Add(benchBoot);
bench.Add(benchGuest);
var benchControl = new Command("control", "the gRPC control plane: unary call latency (our client, Python grpcio) and create-to-shell time");
benchControl.SetAction(_ => ControlBenchmark.Run());
bench.Add(benchControl);
var benchMigrate = new Command("migrate", "live migration of the default guest while it writes memory: rounds, bytes, source and guest-visible downtime, beside QEMU");
var noCompress = new Option<bool>("--no-compress") { Description = "send pages uncompressed (a version 1 stream)" };
benchMigrate.Add(noCompress);
benchMigrate.SetAction(parse => MigrateBenchmark.Run(!parse.GetValue(noCompress)));
bench.Add(benchMigrate);
root.Add(bench);
root.Add(Emulator.Cli.Fuzz.FuzzCommand.Create());

var serve = new Command("serve", "the gRPC control plane for this node (MachineService, grpc.health.v1, server reflection); token from EMU_TOKEN");
var listen = new Option<string>("--listen") { Description = "address:port or unix:PATH to listen on (another host's reach needs EMU_TOKEN and TLS, or --insecure-listen)", DefaultValueFactory = _ => "127.0.0.1:50051" };
var allow = new Option<string[]>("--allow") { Description = "a directory whose kernels, initrds and disks machines may use (repeatable; default: emu's image cache)" };
var maxMachines = new Option<int>("--max-machines") { Description = "machines this node runs at most", DefaultValueFactory = _ => 16 };
serve.Add(listen);
serve.Add(allow);
serve.Add(maxMachines);
var snapshotDir = new Option<string?>("--snapshot-dir") { Description = "where snapshots and disk overlays are kept (default: the user's local data directory, emu/snapshots)" };
serve.Add(snapshotDir);
var snapshotQuota = new Option<string>("--snapshot-quota") { Description = "disk space snapshots and their disk overlays may take together (512M, 20G...); beyond it CreateSnapshot is RESOURCE_EXHAUSTED and guest writes needing new overlay space fail as I/O errors", DefaultValueFactory = _ => "64G" };
serve.Add(snapshotQuota);
var serveAccel = new Option<string>("-accel") { Description = "for every machine of the node: tcg[,tier1=wasmtime|cil|off][,tier1-threshold=N][,tier1-merge=N], as for emu itself", DefaultValueFactory = _ => "tcg" };
serve.Add(serveAccel);
var tlsCert = new Option<string?>("--tls-cert") { Description = "PEM certificate (chain) to serve TLS with; needs --tls-key" };
var tlsKey = new Option<string?>("--tls-key") { Description = "PEM private key of --tls-cert" };
var insecureListen = new Option<bool>("--insecure-listen") { Description = "serve a non-loopback address without a token and TLS anyway (a trusted network)" };
var anonymousHealth = new Option<bool>("--anonymous-health") { Description = "answer grpc.health.v1 without the bearer token (for probes); every other service still needs it" };
var drainSeconds = new Option<double>("--drain-seconds") { Description = "on SIGTERM, report NOT_SERVING this long while still serving, before streams end", DefaultValueFactory = _ => 0 };
serve.Add(tlsCert);
serve.Add(tlsKey);
serve.Add(insecureListen);
serve.Add(anonymousHealth);
serve.Add(drainSeconds);
var nodeVcpus = new Option<int?>("--node-vcpus") { Description = "vCPUs this node's machines may have together (default: 4 per host CPU)" };
var nodeMemory = new Option<string>("--node-memory") { Description = "guest memory this node's machines may have together (8G, 512M...)", DefaultValueFactory = _ => "8G" };
var clusterOn = new Option<bool>("--cluster") { Description = "join (or, seeded by itself, start) an emu cluster: any node answers for every machine, machines are placed by room and can migrate between nodes" };
var nodeName = new Option<string?>("--node-name") { Description = "this node's unique name in the cluster (default: the host name)" };
var clusterListen = new Option<string>("--cluster-listen") { Description = "HOST:PORT of this node's cluster endpoint (Akka.Remote)", DefaultValueFactory = _ => $"127.0.0.1:{Emulator.Cluster.ClusterOptions.DefaultPort}" };
var clusterPublicHost = new Option<string?>("--cluster-public-host") { Description = "the host name other nodes reach the cluster endpoint by, when it is not --cluster-listen's (a pod's DNS name)" };
var seeds = new Option<string[]>("--seed") { Description = "HOST:PORT of a seed node's cluster endpoint (repeatable; or EMU_CLUSTER_SEEDS=HOST:PORT,...; none: this node starts the cluster)", AllowMultipleArgumentsPerToken = false };
var discovery = new Option<string>("--discovery") { Description = "how to find the cluster: seeds (--seed) or kubernetes (the pods of deploy/kubernetes)", DefaultValueFactory = _ => "seeds" };
var advertise = new Option<string?>("--advertise") { Description = "the control-plane address other nodes call this one by (default: where --listen listens)" };
var catalogue = new Option<string?>("--catalogue") { Description = "where the node keeps its machine catalogue (specs, restart policies, states, snapshots; read at start): sqlite:PATH, postgres:CONNECTION-STRING (a cluster's), or off (or EMU_CATALOGUE; default: sqlite: catalogue.db in the snapshot directory)" };
foreach (var o in new Option[] { catalogue, nodeVcpus, nodeMemory, clusterOn, nodeName, clusterListen, clusterPublicHost, seeds, discovery, advertise })
{
    serve.Add(o);
}

serve.SetAction(parse => Serve.Run(new Serve.Settings(
    parse.GetValue(listen)!, parse.GetValue(allow) ?? [], parse.GetValue(maxMachines), parse.GetValue(snapshotDir), parse.GetValue(snapshotQuota)!, parse.GetValue(serveAccel)!,
    parse.GetValue(tlsCert), parse.GetValue(tlsKey), parse.GetValue(insecureListen), parse.GetValue(anonymousHealth), parse.GetValue(drainSeconds),
    parse.GetValue(nodeVcpus), parse.GetValue(nodeMemory)!, parse.GetValue(catalogue),
    new Serve.ClusterSettings(parse.GetValue(clusterOn), parse.GetValue(nodeName), parse.GetValue(clusterListen)!, parse.GetValue(clusterPublicHost),
        parse.GetValue(seeds) ?? [], parse.GetValue(discovery)!, parse.GetValue(advertise)))));
root.Add(serve);

ClientCommands.AddTo(root);

var demo = new Command("demo", "CPU demo: a CRC-32 of 1 MiB in guest machine code on the CPU core alone");
demo.SetAction(_ => CpuDemo.Run());
root.Add(demo);

return root.Parse(args).Invoke();

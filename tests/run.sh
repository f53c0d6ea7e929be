#!/usr/bin/env bash
# The project's test command: installs what the tests need (when it can), builds the default
# guest image once, runs every test project of the solution, and ends with one line
# "N passed, N failed, N skipped" (totals over all projects). Exits non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
# e2fsprogs installs into /sbin; a non-login root shell may not have it on PATH.
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH="$PATH:/usr/sbin:/sbin" ;; esac
export PATH

need=()
command -v wast2json >/dev/null 2>&1 || need+=(wabt)                       # the Wasm spec suite's converter
/usr/bin/python3 -c 'import grpc, grpc_tools' >/dev/null 2>&1 \
  || need+=(python3-grpcio python3-grpc-tools)                              # the real gRPC client in the service tests
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)                      # static test programs for the guest
command -v cpio >/dev/null 2>&1 || need+=(cpio)                              # the default guest image build
for tool in mkfs.ext4 e2fsck debugfs; do                                     # ext4 images: build, check, read back
  command -v "$tool" >/dev/null 2>&1 || { need+=(e2fsprogs); break; }
done
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)     # the reference the benchmarks compare against
command -v npm >/dev/null 2>&1 || need+=(npm)                                # the web console's browser libraries (the build)
[ -x /usr/bin/chromium ] || need+=(chromium)                                 # the web console's page test (Playwright)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql) # the catalogue's PostgreSQL test starts a server of its own
command -v kubectl >/dev/null 2>&1 || need+=(kubernetes-client)              # deploy/kubernetes rendered offline (kubectl kustomize)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)                # deploy/systemd checked by systemd-analyze verify
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing test dependencies: ${need[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}") >/dev/null 2>&1 \
      || echo "warning: could not install ${need[*]}; tests that need them will fail with a message"
  else
    echo "warning: missing ${need[*]} (apt-get install ${need[*]}); tests that need them will fail"
  fi
fi

# The default guest image, once, before any test needs it (cached: a complete build of the current
# package versions is reused). The tests' own fixture (tests/Emulator.Testing/DefaultGuest.cs)
# builds it too when it is missing, so `dotnet test` alone works; here it is built before the
# test projects start in parallel, and its progress shows in the log.
echo "default guest image: images/build-guest.sh"
if ! bash images/build-guest.sh >/dev/null; then
  echo "warning: images/build-guest.sh failed; the tests that boot the default guest will fail with its message"
fi

log=$(mktemp)
dotnet test Emulator.sln -c Release 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# Sum the per-project summaries:
#   Passed!  - Failed:     0, Passed:    12, Skipped:     1, Total:    13, Duration: 2 s - X.Tests.dll (net10.0)
read -r passed failed skipped < <(grep -E '^ *(Passed|Failed)! +- +Failed: ' "$log" | awk '
  { for (i = 1; i < NF; i++) {
      n = $(i + 1); sub(/,$/, "", n)
      if ($i == "Failed:") f += n; else if ($i == "Passed:") p += n; else if ($i == "Skipped:") s += n
  } }
  END { print p + 0, f + 0, s + 0 }')
# A test host that crashed or a run that was aborted prints "Test run for X.dll" but no summary:
# count each such project as one failure.
runs=$(grep -cE '^Test run for ' "$log")
summaries=$(grep -cE '^ *(Passed|Failed)! +- +Failed: ' "$log")
if [ "$runs" -gt "$summaries" ]; then
  failed=$((failed + runs - summaries))
fi
rm -f "$log"
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1 # the build or a test host failed without a test failing
fi
if [ "$failed" -gt 0 ] && [ "$status" -eq 0 ]; then
  status=1
fi
echo "$passed passed, $failed failed, $skipped skipped"
exit "$status"

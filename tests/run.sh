#!/usr/bin/env bash
# The project's test command: installs what the tests need (when it can), runs every test
# project of the solution, and ends with one line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

need=()
command -v wast2json >/dev/null 2>&1 || need+=(wabt)                       # the Wasm spec suite's converter
/usr/bin/python3 -c 'import grpc, grpc_tools' >/dev/null 2>&1 \
  || need+=(python3-grpcio python3-grpc-tools)                              # the real gRPC client in the service tests
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)                      # static test programs for the guest
command -v cpio >/dev/null 2>&1 || need+=(cpio)                              # the default guest image build
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing test dependencies: ${need[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}") >/dev/null 2>&1 \
      || echo "warning: could not install ${need[*]}; tests that need them will fail with a message"
  else
    echo "warning: missing ${need[*]} (apt-get install ${need[*]}); tests that need them will fail"
  fi
fi

log=$(mktemp)
dotnet test Emulator.sln -c Release 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# Sum the per-project summaries ("Passed!  - Failed: 0, Passed: 12, ...").
passed=$(grep -Eo 'Passed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
failed=$(grep -Eo 'Failed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
rm -f "$log"
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1 # the build or a test host failed without a test failing
fi
echo "$passed passed, $failed failed"
exit "$status"

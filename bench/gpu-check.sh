#!/usr/bin/env bash
# The GPU check moved to test/native/ (npm run test:gpu); this name stays for the machines and
# notes that call it: same arguments, same exit status.
exec "$(dirname "$0")/../test/native/run-gpu-checks.sh" "$@"

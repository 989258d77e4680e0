#!/bin/bash
# bench.sh: the macro part of `make bench`. It sets up the private Dovecot +
# Postfix stack in a fresh temporary directory (installing the packages if
# needed, as `make e2e` does), builds ticketd, runs the load tool
# (e2e/load) against both, and stops the stack. Arguments go to the load
# tool (e.g. -n 1000 -runs 1 -big-sizes 1000,10000 -store 100000); the
# figures are printed as a table and written to bench.json.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}

[ "$(id -u)" -eq 0 ] || { echo "bench: run as root (it installs packages, runs mail servers, writes into their mailboxes)" >&2; exit 1; }
dir=$(mktemp -d /tmp/ticketd-bench.XXXXXX)
cleanup() {
	local status=$?
	e2e/stack.sh down "$dir" || true
	if [ "$status" -eq 0 ] && [ -z "${E2E_KEEP:-}" ]; then
		rm -rf "$dir"
	else
		echo "bench: stack directory kept: $dir"
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

e2e/stack.sh up "$dir"
$GO build -o "$dir/ticketd" ./cmd/ticketd
$GO build -o "$dir/load" ./e2e/load
echo "bench: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
"$dir/load" -stack "$dir" -ticketd "$dir/ticketd" -json "${BENCH_JSON:-bench.json}" "$@"

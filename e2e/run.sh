#!/bin/bash
# run.sh: what `make e2e` runs. It sets up the private Dovecot + Postfix
# stack in a fresh temporary directory (installing the packages if needed),
# builds ticketd, runs the e2e tests against both, and stops the stack.
# Arguments go to `go test` (e.g. -run TestProcedure). E2E_KEEP=1 keeps the
# directory (logs, mailboxes, ticketd data); it is also kept when a test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}

[ "$(id -u)" -eq 0 ] || { echo "e2e: run as root (it installs packages, runs mail servers and uses chattr)" >&2; exit 1; }
dir=$(mktemp -d /tmp/ticketd-e2e.XXXXXX)
started=$(date +%s)
cleanup() {
	local status=$?
	e2e/stack.sh down "$dir" || true
	# A test killed half way may leave its data directory immutable.
	[ -d "$dir/tmp" ] && chattr -R -i "$dir/tmp" 2>/dev/null || true
	if [ -s "$dir/figures.jsonl" ]; then
		echo "e2e: figures measured in this run:"
		sed 's/^/  /' "$dir/figures.jsonl"
	fi
	echo "e2e: $(($(date +%s) - started))s in all"
	if [ "$status" -eq 0 ] && [ -z "${E2E_KEEP:-}" ]; then
		rm -rf "$dir"
	else
		echo "e2e: stack directory kept: $dir (logs: dovecot/dovecot.log, postfix/maillog; tests: tmp/)"
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

e2e/stack.sh up "$dir"
$GO build -o "$dir/ticketd" ./cmd/ticketd
mkdir "$dir/tmp"
# Test directories (ticketd's data, configuration and log) go under $dir/tmp.
E2E_DIR=$dir TICKETD_BIN=$dir/ticketd TMPDIR=$dir/tmp \
	$GO test -tags e2e -count=1 -v -parallel 3 -timeout 15m ./e2e "$@"

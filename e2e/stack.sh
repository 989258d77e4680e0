#!/bin/bash
# stack.sh: a private, loopback-only Dovecot + Postfix mail stack for the
# end-to-end tests. Everything it writes lives under one directory; nothing
# system-wide is configured. It starts Dovecot (dovecot -c DIR/...) and
# Postfix (postfix -c DIR/...) with their own configuration and stops exactly
# the processes it started, by the pid they recorded.
#
#   stack.sh install                  install dovecot-imapd, dovecot-lmtpd, postfix and chromium (and chattr) if missing
#   stack.sh up DIR                   install, configure and start the stack under DIR; writes DIR/env
#   stack.sh down DIR                 stop what up started
#   stack.sh postfix-stop DIR | postfix-start DIR
#   stack.sh dovecot-stop DIR | dovecot-start DIR | dovecot-restart DIR
#   stack.sh adduser DIR LOCALPART...  add virtual users (Dovecot re-reads its passwd-file)
#
# Postfix accepts mail for the virtual domain e2e.test on 127.0.0.1 and
# hands it to Dovecot by LMTP; Dovecot serves IMAP without TLS on
# 127.0.0.1. Virtual users (password "secret") are listed in USERS; mail to
# any other address of the domain is refused by Dovecot at LMTP time, so
# Postfix bounces it (a DSN to the envelope sender).
set -euo pipefail

DOMAIN=e2e.test
PASSWORD=secret
USERS="soporte mesa1 mesa2 usuario1 usuario2 usuario3 redes1 redes2 proveedor3 infra3 otro1"
MSG_SIZE_LIMIT=52428800 # 50 MiB: room for a 15 MiB attachment in base64

log() { echo "stack: $*" >&2; }
die() { log "$*"; exit 1; }

install_pkgs() {
	local missing=() p
	# chromium: the browser tests drive it with chromedp.
	for p in dovecot-imapd dovecot-lmtpd postfix chromium; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	# The read-only test uses chattr.
	command -v chattr >/dev/null || missing+=(e2fsprogs)
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing ${missing[*]}"
	# Keep package scripts from starting system-wide daemons: invoke-rc.d
	# asks policy-rc.d, and 101 means "action not allowed". An existing
	# policy-rc.d is put back afterwards.
	local policy=/usr/sbin/policy-rc.d
	SAVED_POLICY=""
	if [ -e "$policy" ]; then
		SAVED_POLICY=$(mktemp /tmp/policy-rc.d.XXXXXX)
		cp -p "$policy" "$SAVED_POLICY"
	fi
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	trap restore_policy EXIT
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	local apt=(apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
	if ! DEBIAN_FRONTEND=noninteractive "${apt[@]}" "${missing[@]}" >&2; then
		apt-get update -q >&2
		DEBIAN_FRONTEND=noninteractive "${apt[@]}" "${missing[@]}" >&2
	fi
	restore_policy
	trap - EXIT
}

restore_policy() {
	if [ -n "${SAVED_POLICY:-}" ]; then mv -f "$SAVED_POLICY" /usr/sbin/policy-rc.d; else rm -f /usr/sbin/policy-rc.d; fi
	SAVED_POLICY=""
}

# port_free PORT: nothing listens on 127.0.0.1:PORT (bash's /dev/tcp: no
# need for ss, which a minimal Debian lacks).
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# group_alive PGID: some process is in process group PGID (no pgrep needed).
group_alive() {
	local want=$1 f st fields
	for f in /proc/[0-9]*/stat; do
		read -r st <"$f" 2>/dev/null || continue
		read -r -a fields <<<"${st##*) }" # after "pid (comm) ": state ppid pgrp ...
		[ "${fields[2]:-}" = "$want" ] && return 0
	done
	return 1
}

# pick_ports: three free ports for SMTP, IMAP and LMTP.
pick_ports() {
	local base
	for base in $(seq 24100 100 29900); do
		if port_free $((base + 25)) && port_free $((base + 43)) && port_free $((base + 24)); then
			SMTP_PORT=$((base + 25)) IMAP_PORT=$((base + 43)) LMTP_PORT=$((base + 24))
			return 0
		fi
	done
	die "no free ports"
}

write_config() {
	local D=$1
	mkdir -p "$D/dovecot/run" "$D/dovecot/state" "$D/mail" "$D/postfix" "$D/postfix-spool" "$D/postfix-data"
	# Postfix wants its queue and data outside its configuration directory,
	# the data directory owned by its mail_owner.
	chown postfix "$D/postfix-data"
	chmod 755 "$D" "$D/dovecot"
	chown mail:mail "$D/mail"
	chmod 700 "$D/mail"

	# Users: user@domain:{PLAIN}password (the test passwords are not secrets).
	: >"$D/dovecot/users"
	for u in $USERS; do echo "$u@$DOMAIN:{PLAIN}$PASSWORD::::::" >>"$D/dovecot/users"; done
	chmod 640 "$D/dovecot/users"
	chgrp dovecot "$D/dovecot/users"

	cat >"$D/dovecot/dovecot.conf" <<CONF
# Private Dovecot for ticketd's end-to-end tests (written by e2e/stack.sh).
protocols = imap lmtp
listen = 127.0.0.1
base_dir = $D/dovecot/run
state_dir = $D/dovecot/state
instance_name = ticketd-e2e-$IMAP_PORT
log_path = $D/dovecot/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 8
first_valid_gid = 8
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  separator = /
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $D/dovecot/users
}
userdb {
  driver = passwd-file
  args = username_format=%u $D/dovecot/users
  default_fields = uid=mail gid=mail home=$D/mail/%d/%n
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    port = 0
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $LMTP_PORT
  }
}
protocol imap {
  mail_max_userip_connections = 100
}
# soporte+<token>@ is soporte's mailbox (ticketd's reply addresses).
recipient_delimiter = +
protocol lmtp {
  postmaster_address = postmaster@$DOMAIN
}
CONF

	cat >"$D/postfix/main.cf" <<CONF
# Private Postfix for ticketd's end-to-end tests (written by e2e/stack.sh).
compatibility_level = 3.6
queue_directory = $D/postfix-spool
data_directory = $D/postfix-data
syslog_name = postfix-e2e
maillog_file = $D/postfix/maillog
maillog_file_prefixes = $D
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.$DOMAIN
mydomain = $DOMAIN
myorigin = \$mydomain
mydestination =
local_recipient_maps =
local_transport = error:local delivery is disabled
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
# virtual_alias_domains defaults to \$virtual_alias_maps: keep both empty.
virtual_alias_domains =
virtual_alias_maps =
virtual_mailbox_domains = $DOMAIN
# soporte+<token>@ goes to soporte (ticketd's reply addresses).
recipient_delimiter = +
virtual_transport = lmtp:inet:127.0.0.1:$LMTP_PORT
relay_domains =
relayhost =
default_transport = error:no mail leaves the e2e stack
message_size_limit = $MSG_SIZE_LIMIT
mailbox_size_limit = 0
virtual_mailbox_limit = 0
biff = no
append_dot_mydomain = no
smtpd_banner = \$myhostname ESMTP
# Retry quickly: the tests stop and restart Dovecot.
queue_run_delay = 2s
minimal_backoff_time = 2s
maximal_backoff_time = 5s
delay_warning_time = 0h
CONF

	cat >"$D/postfix/master.cf" <<CONF
# service type  private unpriv  chroot  wakeup  maxproc command
127.0.0.1:$SMTP_PORT inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
CONF

	cat >"$D/env" <<ENV
E2E_DIR=$D
E2E_DOMAIN=$DOMAIN
E2E_PASSWORD=$PASSWORD
E2E_USERS=${USERS// /,}
E2E_SMTP_ADDR=127.0.0.1:$SMTP_PORT
E2E_IMAP_ADDR=127.0.0.1:$IMAP_PORT
E2E_LMTP_ADDR=127.0.0.1:$LMTP_PORT
E2E_STACK=$(readlink -f "$0")
ENV
}

# pid_of FILE COMM: the pid recorded in FILE if that process is alive and
# its command name is COMM; empty otherwise.
pid_of() {
	local f=$1 comm=$2 pid
	[ -s "$f" ] || return 0
	pid=$(tr -dc '0-9' <"$f")
	[ -n "$pid" ] && [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ] && echo "$pid"
	return 0
}

# stop_pid NAME PID: SIGTERM, wait up to 15 s, then SIGKILL.
stop_pid() {
	local name=$1 pid=$2 i
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 150); do
		[ -d "/proc/$pid" ] || { log "$name (pid $pid) stopped"; return 0; }
		sleep 0.1
	done
	log "$name (pid $pid) did not stop: SIGKILL"
	kill -KILL "$pid" 2>/dev/null || true
}

# wait_port PORT: until something listens on 127.0.0.1:PORT (10 s).
wait_port() {
	local i
	for i in $(seq 100); do
		port_free "$1" || return 0
		sleep 0.1
	done
	return 1
}

dovecot_pid() { pid_of "$1/dovecot/run/master.pid" dovecot; }
postfix_pid() { pid_of "$1/postfix-spool/pid/master.pid" master; }

dovecot_start() {
	local D=$1
	. "$D/env"
	[ -z "$(dovecot_pid "$D")" ] || die "dovecot already runs (pid $(dovecot_pid "$D"))"
	dovecot -c "$D/dovecot/dovecot.conf" </dev/null >>"$D/dovecot/start.log" 2>&1 ||
		{ cat "$D/dovecot/start.log" "$D/dovecot/dovecot.log" >&2 2>/dev/null; die "dovecot did not start"; }
	wait_port "${E2E_IMAP_ADDR##*:}" && wait_port "${E2E_LMTP_ADDR##*:}" ||
		{ tail -20 "$D/dovecot/dovecot.log" >&2; die "dovecot does not listen"; }
	log "dovecot started (pid $(dovecot_pid "$D"), imap $E2E_IMAP_ADDR, lmtp $E2E_LMTP_ADDR)"
}

# dovecot_stop: SIGTERM to the process group the master leads, as systemd
# stops a service's whole control group: the master alone would leave the
# imap processes of connected clients running (an IDLE connection survives).
dovecot_stop() {
	local pid i
	pid=$(dovecot_pid "$1")
	[ -n "$pid" ] || return 0
	kill -TERM -- "-$pid" 2>/dev/null || return 0
	for i in $(seq 150); do
		group_alive "$pid" || { log "dovecot (pid $pid and its process group) stopped"; return 0; }
		sleep 0.1
	done
	log "dovecot (process group $pid) did not stop: SIGKILL"
	kill -KILL -- "-$pid" 2>/dev/null || true
}

postfix_start() {
	local D=$1
	. "$D/env"
	[ -z "$(postfix_pid "$D")" ] || die "postfix already runs (pid $(postfix_pid "$D"))"
	postfix -c "$D/postfix" start </dev/null >>"$D/postfix/start.log" 2>&1 ||
		{ cat "$D/postfix/start.log" "$D/postfix/maillog" >&2 2>/dev/null; die "postfix did not start"; }
	wait_port "${E2E_SMTP_ADDR##*:}" || { tail -20 "$D/postfix/maillog" >&2; die "postfix does not listen"; }
	log "postfix started (pid $(postfix_pid "$D"), smtp $E2E_SMTP_ADDR)"
}

postfix_stop() { stop_pid postfix "$(postfix_pid "$1")"; }

# postfix_idle DIR: wait (up to 30 s) until Postfix's queue is empty, i.e.
# every mail it took is delivered and recorded as such.
postfix_idle() {
	local D=$1 i
	for i in $(seq 300); do
		postqueue -c "$D/postfix" -p 2>/dev/null | grep -q "Mail queue is empty" && { log "postfix queue empty"; return 0; }
		sleep 0.1
	done
	postqueue -c "$D/postfix" -p >&2 || true
	die "postfix queue not empty after 30s"
}

# add_users DIR LOCALPART...: append users to the passwd-file, under a lock
# (tests running in parallel add theirs at the same time).
add_users() {
	local D=$1 u
	shift
	(
		flock 9
		for u in "$@"; do
			case "$u" in *[!a-z0-9._-]*|"") die "bad user name: $u" ;; esac
			grep -q "^$u@$DOMAIN:" "$D/dovecot/users" || echo "$u@$DOMAIN:{PLAIN}$PASSWORD::::::" >>"$D/dovecot/users"
		done
	) 9>>"$D/dovecot/users.lock"
}

need_dir() { [ -n "${1:-}" ] && [ -d "$1" ] || die "usage: $0 $CMD DIR (an existing directory)"; }

CMD=${1:-}
case "$CMD" in
install) install_pkgs ;;
up)
	need_dir "${2:-}"
	D=$(readlink -f "$2")
	install_pkgs
	pick_ports
	write_config "$D"
	dovecot_start "$D"
	if ! (postfix_start "$D"); then dovecot_stop "$D"; exit 1; fi
	;;
down)
	need_dir "${2:-}"
	postfix_stop "$2"
	dovecot_stop "$2"
	;;
postfix-stop) need_dir "${2:-}"; postfix_stop "$2" ;;
postfix-idle) need_dir "${2:-}"; postfix_idle "$2" ;;
postfix-start) need_dir "${2:-}"; postfix_start "$2" ;;
dovecot-stop) need_dir "${2:-}"; dovecot_stop "$2" ;;
dovecot-start) need_dir "${2:-}"; dovecot_start "$2" ;;
adduser) need_dir "${2:-}"; add_users "$2" "${@:3}" ;;
dovecot-restart) need_dir "${2:-}"; dovecot_stop "$2"; dovecot_start "$2" ;;
*) echo "usage: $0 install | up DIR | down DIR | postfix-stop|postfix-start|postfix-idle|dovecot-stop|dovecot-start|dovecot-restart DIR | adduser DIR USER..." >&2; exit 2 ;;
esac

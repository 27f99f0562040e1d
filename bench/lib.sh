# SPDX-License-Identifier: ISC
#
# bench/lib.sh: what the benchmark scripts share (bench/README.md), sourced
# by bench/smtp-accept, bench/e2e-maildir, bench/relay-sink and
# bench/imap-dovecot after they have set
#
#   BENCH_NAME   the script's name, for messages and written files
#   ROOT BUILD   the source tree and build-bench/ in it
#   BENCH_ROOT   where the servers' folders go
#   POSTCTL SRC  build-bench's postctl and smtp-source
#   DOMAIN TO VMAIL_UID VMAIL MAILDIR
#                the mail domain, the one recipient, the Postfix Maildir
#                owner and its folders
#   PT PT_ETC PT_PORT
#                the postern instance: its folder, etc/ and SMTP port
#   PT_EXTRA_CONF
#                lines added to the end of postern.conf (may be empty)
#   OUTFILE      -o FILE, or empty
#
# Nothing here runs on its own: only functions.

say() {
	printf '%s: %s\n' "$BENCH_NAME" "$*" >&2
}

die() {
	printf '%s: %s\n' "$BENCH_NAME" "$*" >&2
	exit 1
}

# Prints a result line on standard output and, with -o, into the file.
out() {
	printf '%s\n' "$*"
	if [ -n "$OUTFILE" ]; then
		printf '%s\n' "$*" >>"$OUTFILE"
	fi
}

is_uint() {
	case $1 in
	''|*[!0-9]*) return 1 ;;
	esac
	return 0
}

# ---- setup ----------------------------------------------------------------

install_postfix() {
	if [ -x /usr/sbin/postfix ] && [ -x "$SRC" ]; then
		return 0
	fi
	say "installing postfix (Debian package, default instance left unconfigured)"
	echo "postfix postfix/main_mailer_type select No configuration" |
	    debconf-set-selections
	DEBIAN_FRONTEND=noninteractive apt-get install -y postfix </dev/null
}

build_postern() {
	local log=$BUILD/bench-build.log
	if [ ! -x "$ROOT/configure" ]; then
		say "autoreconf -fi"
		(cd "$ROOT" && mkdir -p m4 && autoreconf -fi)
	fi
	mkdir -p "$BUILD"
	if [ ! -f "$BUILD/Makefile" ]; then
		say "configuring build-bench/"
		if ! (cd "$BUILD" && ../configure -q) >"$log" 2>&1; then
			tail -n 20 "$log" >&2
			die "configure failed (log: $log)"
		fi
	fi
	say "building in build-bench/ (make -j2)"
	if ! (cd "$BUILD" && make -j2) >"$log" 2>&1; then
		grep -E 'error:|Error [0-9]|No rule|undefined reference' "$log" |
		    head -n 20 >&2 || true
		die "the build failed (log: $log)"
	fi
	[ -x "$POSTCTL" ] || die "no $POSTCTL after the build"
}

# The value of a variable of build-bench/Makefile.  make may first remake
# the Makefile (when Makefile.am changed) and say so on standard output:
# only the marked line is the value.
make_var() {
	local v
	v=$( (cd "$BUILD" && make -s -f Makefile -f - print-var VAR="$1") <<'EOF'
print-var:
	@echo "make_var: $($(VAR))"
EOF
	) || return 1
	printf '%s\n' "$v" | sed -n 's/^make_var: //p'
}

create_users() {
	local u
	for u in postern postern-auth postern-login vmail; do
		getent group "$u" >/dev/null || groupadd --system "$u"
		if ! getent passwd "$u" >/dev/null; then
			say "creating the system user $u"
			useradd --system --no-create-home \
			    --shell /usr/sbin/nologin -g "$u" "$u"
		fi
	done
	if ! getent group "$VMAIL_UID" >/dev/null; then
		groupadd -g "$VMAIL_UID" mailbench
	fi
	if ! getent passwd "$VMAIL_UID" >/dev/null; then
		say "creating the user mailbench ($VMAIL_UID)"
		useradd -u "$VMAIL_UID" -g "$VMAIL_UID" -d "$VMAIL" -M \
		    -s /usr/sbin/nologin mailbench
	fi
}

port_open() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Waits (at most 10 s) until 127.0.0.1:port accepts connections.
wait_port() {
	local _
	for _ in $(seq 1 100); do
		port_open "$1" && return 0
		sleep 0.1
	done
	return 1
}

# The postern instance in $PT: root with privilege separation, smtpd on
# 127.0.0.1:$PT_PORT chrooted into the queue, the one user $TO, then the
# lines of $PT_EXTRA_CONF.
write_postern() {
	local prog progs
	progs=$(make_var pkglibexec_PROGRAMS) ||
	    die "cannot read pkglibexec_PROGRAMS from build-bench/Makefile"
	[ -n "$progs" ] || die "build-bench/Makefile names no programs"
	mkdir -p "$PT_ETC" "$PT/spool" "$PT/data" "$PT/run" "$PT/log" \
	    "$PT/libexec" "$PT/mail"
	chmod 0755 "$PT" "$PT/spool" "$PT/run" "$PT/log"
	chmod 0700 "$PT/data"
	chown postern:postern "$PT/data"
	chown vmail:vmail "$PT/mail"

	rm -f "$PT"/libexec/*
	for prog in $progs; do
		[ -x "$BUILD/$prog" ] || die "$BUILD/$prog is not built"
		ln -s "$BUILD/$prog" "$PT/libexec/${prog##*/}"
	done

	cat >"$PT_ETC/postern.conf.tmp" <<EOF
# Written by bench/$BENCH_NAME: postern's smtpd on 127.0.0.1:$PT_PORT.
queue_directory = $PT/spool
data_directory = $PT/data
run_directory = $PT/run
daemon_directory = $PT/libexec
mail_owner = postern
myhostname = bench.$DOMAIN
log_target = file:$PT/log/postern.log
master_stop_timeout = 10s
mydomains = $DOMAIN
mynetworks = 127.0.0.0/8
mail_directory = $PT/mail
smtpd.program = postern-smtpd
smtpd.listen = smtp=127.0.0.1:$PT_PORT
smtpd.chroot = queue
${PT_EXTRA_CONF}
EOF
	mv "$PT_ETC/postern.conf.tmp" "$PT_ETC/postern.conf"

	rm -f "$PT_ETC"/users "$PT_ETC"/users.db "$PT_ETC"/users.lmdb \
	    "$PT_ETC"/users.lock
	printf '# The benchmark user (bench/%s).\n' "$BENCH_NAME" \
	    >"$PT_ETC/users"
	chown root:postern-auth "$PT_ETC/users"
	chmod 0640 "$PT_ETC/users"
	printf 'pw\n' | "$POSTCTL" -c "$PT_ETC" user add --stdin "$TO" >/dev/null ||
	    die "postctl user add $TO failed"
}

# write_postfix dir port name hold: an isolated Postfix instance in dir.
write_postfix() {
	local dir=$1 port=$2 name=$3 hold=$4 conf=$1/etc d
	mkdir -p "$conf" "$dir/spool" "$dir/data"
	chown root:root "$dir/spool"
	chown postfix:postfix "$dir/data"
	cp /usr/share/postfix/master.cf.dist "$conf/master.cf"
	cp /etc/postfix/dynamicmaps.cf "$conf/dynamicmaps.cf" 2>/dev/null || true
	cat >"$conf/main.cf" <<EOF
# Written by bench/$BENCH_NAME: isolated instance $name; everything not set
# here is a Postfix default (queue files fsync'ed).
compatibility_level = 3.6
queue_directory = $dir/spool
data_directory = $dir/data
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
syslog_name = $name
maillog_file = $dir/maillog
myhostname = bench.$DOMAIN
mydomain = $DOMAIN
myorigin = \$myhostname
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_banner = \$myhostname ESMTP
biff = no
virtual_mailbox_domains = $DOMAIN
virtual_mailbox_base = $VMAIL
virtual_mailbox_maps = hash:$conf/vmailbox
virtual_uid_maps = static:$VMAIL_UID
virtual_gid_maps = static:$VMAIL_UID
virtual_mailbox_limit = 0
message_size_limit = 52428800
EOF
	# Debian's stock master.cf, no chroot, smtpd on 127.0.0.1:port only.
	postconf -c "$conf" -M# smtp/inet
	postconf -c "$conf" -Me \
	    "127.0.0.1:$port/inet = 127.0.0.1:$port inet n - n - - smtpd"
	postconf -c "$conf" -F '*/*/chroot = n'
	if [ "$hold" = 1 ]; then
		# No queue manager: mail stays in incoming/.  Two things must
		# then change, else Postfix slows down for want of a qmgr, not
		# for its work: cleanup wakes qmgr through public/qmgr after each
		# message (missing, it logs a warning and costs ~40%), so a
		# stand-in that does nothing takes the wake-ups (pickup, which
		# only scans the empty maildrop/); and cleanup's input flow
		# control waits in_flow_delay (1s) per message for tokens that
		# only qmgr hands out, so it is switched off.
		postconf -c "$conf" -M# qmgr/unix
		postconf -c "$conf" -Me \
		    "qmgr/unix = qmgr unix n - n 300 1 pickup"
		postconf -c "$conf" in_flow_delay=0
	fi
	echo "$TO $DOMAIN/user1/" >"$conf/vmailbox"
	postmap -c "$conf" "hash:$conf/vmailbox"

	install -d -o "$VMAIL_UID" -g "$VMAIL_UID" -m 0755 "$VMAIL" \
	    "$VMAIL/$DOMAIN"
	install -d -o "$VMAIL_UID" -g "$VMAIL_UID" -m 0700 "$MAILDIR"
	for d in cur new tmp; do
		install -d -o "$VMAIL_UID" -g "$VMAIL_UID" -m 0700 "$MAILDIR/$d"
	done
}

postfix_running() {
	postfix -c "$1/etc" status >/dev/null 2>&1
}

# The messages a Postfix instance still holds in its queue.
postfix_queued() {
	local d
	for d in incoming active deferred maildrop hold; do
		if [ -d "$1/spool/$d" ]; then
			find "$1/spool/$d" -type f
		fi
	done | wc -l
}

# Busy CPU ticks of the whole machine so far (/proc/stat).
cpu_busy() {
	awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}

# ---- run helpers --------------------------------------------------------------
#
# Added for bench/relay-sink.  bench/e2e-maildir has its own copies of
# stop_stale, start_servers, stop_source, count_files, queue_count,
# wait_queue_empty, log_size, median and ratio, defined after it sources
# this file (so its own win); these behave the same.  They use, besides
# the variables above:
#
#   PF PF_PORT   the Postfix instance: its folder and SMTP port
#   WORK         the script's scratch folder (src.pid, src.out, src.end,
#                results)
#   SRC_WRAP PT_STARTED PF_STARTED
#                state, set here; start them empty, 0 and 0
#   DRAIN_TIMEOUT RUN_TIMEOUT
#                seconds: the queue empty after a run; smtp-source

# Stops a postern or Postfix instance that an earlier, interrupted run of
# the script left running in its folders.
stop_stale() {
	local rc=0
	if [ -f "$PT_ETC/postern.conf" ] && [ -x "$POSTCTL" ]; then
		"$POSTCTL" -c "$PT_ETC" status >/dev/null 2>&1 || rc=$?
		if [ "$rc" = 0 ]; then
			say "stopping a postern left running in $PT"
			"$POSTCTL" -c "$PT_ETC" stop || true
		fi
	fi
	if [ -f "$PF/etc/main.cf" ] && postfix_running "$PF"; then
		say "stopping a Postfix left running in $PF"
		postfix -c "$PF/etc" stop || true
	fi
}

# Checks and starts postern on $PT_PORT and Postfix on $PF_PORT.
start_servers() {
	local p
	for p in "$PT_PORT" "$PF_PORT"; do
		if port_open "$p"; then
			die "127.0.0.1:$p is already in use by another program"
		fi
	done

	"$POSTCTL" -c "$PT_ETC" check >/dev/null ||
	    die "postctl -c $PT_ETC check found problems"
	say "starting postern on 127.0.0.1:$PT_PORT"
	PT_STARTED=1
	if ! "$POSTCTL" -c "$PT_ETC" start; then
		tail -n 20 "$PT/log/postern.log" >&2 2>/dev/null || true
		die "postctl start failed"
	fi
	wait_port "$PT_PORT" || die "postern does not listen on $PT_PORT"

	say "starting Postfix $PF on 127.0.0.1:$PF_PORT"
	postfix -c "$PF/etc" check || die "postfix -c $PF/etc check failed"
	PF_STARTED=1
	postfix -c "$PF/etc" start </dev/null >/dev/null 2>&1 ||
	    die "postfix -c $PF/etc start failed"
	wait_port "$PF_PORT" || die "Postfix does not listen on $PF_PORT"
}

# source_start sessions messages length recipient port: starts smtp-source
# under timeout(1) in a background subshell ($SRC_WRAP) that writes the
# pid of timeout into $WORK/src.pid, its output into $WORK/src.out and,
# when it ends, "EPOCHREALTIME exit-status" into $WORK/src.end.
source_start() {
	rm -f "$WORK/src.pid" "$WORK/src.end"
	(
		timeout "$RUN_TIMEOUT" "$SRC" -s "$1" -m "$2" -l "$3" \
		    -f "$FROM" -t "$4" "127.0.0.1:$5" >"$WORK/src.out" 2>&1 &
		echo $! >"$WORK/src.pid"
		rc=0
		wait $! || rc=$?
		echo "$EPOCHREALTIME $rc" >"$WORK/src.end"
	) &
	SRC_WRAP=$!
}

# Ends smtp-source: the timeout(1) process by its pid, then its wrapper.
# shellcheck disable=SC2317
stop_source() {
	local pid=
	[ -n "$SRC_WRAP" ] || return 0
	if [ -f "$WORK/src.pid" ]; then
		read -r pid <"$WORK/src.pid" || true
	fi
	if is_uint "$pid"; then
		kill "$pid" 2>/dev/null || true
	fi
	wait "$SRC_WRAP" 2>/dev/null || true
	SRC_WRAP=
}

# count_files dir...: the files directly in the folders that exist.
count_files() {
	local d n=0
	for d in "$@"; do
		if [ -d "$d" ]; then
			n=$((n + $(find "$d" -maxdepth 1 -type f | wc -l)))
		fi
	done
	echo "$n"
}

# The files in a server's queue: postern's incoming/ (tmp.* included),
# active/, deferred/ and the folders where nothing should be; Postfix's
# queue.
queue_count() {
	case $1 in
	postern)
		count_files "$PT/spool/incoming" "$PT/spool/active" \
		    "$PT/spool/deferred" "$PT/spool/hold" \
		    "$PT/spool/maildrop" "$PT/spool/corrupt"
		;;
	postfix) postfix_queued "$PF" ;;
	esac
}

# Waits (at most DRAIN_TIMEOUT) until the server's queue is empty.
wait_queue_empty() {
	local start=$SECONDS n
	while :; do
		n=$(queue_count "$1")
		[ "$n" = 0 ] && return 0
		if [ $((SECONDS - start)) -ge "$DRAIN_TIMEOUT" ]; then
			say "$1: still $n files in its queue after ${DRAIN_TIMEOUT}s"
			return 1
		fi
		sleep 0.2
	done
}

# The size of a server's log (postern's log file, Postfix's maillog).
log_size() {
	local log
	case $1 in
	postern) log=$PT/log/postern.log ;;
	postfix) log=$PF/maillog ;;
	esac
	if [ -f "$log" ]; then
		stat -c %s "$log"
	else
		echo 0
	fi
}

# median server sessions len column: the median of a column of
# $WORK/results, lines "server sessions len rate acceptance-rate cpu" or
# "server sessions len FAILED", over the OK runs ("-" if none); column 6
# (CPU seconds) with two decimals.
median() {
	awk -v s="$1" -v n="$2" -v l="$3" -v c="$4" \
	    '$1 == s && $2 == n && $3 == l && $4 != "FAILED" { print $c }' \
	    "$WORK/results" | sort -g |
	    awk -v c="$4" '{ a[NR] = $1 }
		END {
			if (NR == 0) print "-"
			else if (NR % 2) print a[(NR + 1) / 2]
			else printf c == 6 ? "%.2f\n" : "%.0f\n",
			    (a[NR / 2] + a[NR / 2 + 1]) / 2
		}'
}

ratio() {
	if [ "$1" = - ] || [ "$2" = - ]; then
		echo -
	else
		awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
	fi
}

# ---- smtp-sink ----------------------------------------------------------------
#
# Postfix's smtp-sink(1) as the remote server that relayed mail goes to.
# It runs with -c, which writes a record "sess=N quit=N mesg=N" followed by
# a carriage return to its standard output, unbuffered, whenever a session
# ends, a QUIT is received or a message's final "." is received: mesg is
# the number of messages it has received since it started.

# free_port first: the first port from first on (at most 200 tried) where
# nothing listens on 127.0.0.1.
free_port() {
	local p
	for p in $(seq "$1" $(($1 + 199))); do
		if ! port_open "$p"; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# sink_start port out: starts a fresh smtp-sink on 127.0.0.1:port, as the
# user postfix, its counters into the file out; sets SINK_PID.
sink_start() {
	port_open "$1" && die "127.0.0.1:$1 is already in use (smtp-sink's port)"
	: >"$2"
	smtp-sink -c -u postfix "127.0.0.1:$1" 1024 >"$2" 2>"$2.err" </dev/null &
	SINK_PID=$!
	wait_port "$1" || die "smtp-sink does not listen on 127.0.0.1:$1 ($(head -c 200 "$2.err"))"
}

# sink_count out: the messages the sink has received (its last complete
# counter record).
sink_count() {
	local data rec
	data=$(tail -c 160 "$1" 2>/dev/null) || true
	case $data in
	*mesg=*) ;;
	*) echo 0; return 0 ;;
	esac
	case $data in
	*$'\r') rec=${data%$'\r'} ;;
	*$'\r'*) rec=${data%$'\r'*} ;;	# the last record is not complete
	*) echo 0; return 0 ;;
	esac
	rec=${rec##*$'\r'}
	rec=${rec##*mesg=}
	if is_uint "$rec"; then
		echo "$rec"
	else
		echo 0
	fi
}

# Stops the smtp-sink of sink_start by its pid.
# shellcheck disable=SC2317
sink_stop() {
	[ -n "${SINK_PID:-}" ] || return 0
	kill "$SINK_PID" 2>/dev/null || true
	wait "$SINK_PID" 2>/dev/null || true
	SINK_PID=
}

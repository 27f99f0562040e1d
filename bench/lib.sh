# SPDX-License-Identifier: ISC
#
# bench/lib.sh: what the benchmark scripts share (bench/README.md), sourced
# by bench/smtp-accept and bench/e2e-maildir after they have set
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

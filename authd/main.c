/* SPDX-License-Identifier: ISC */
/*
 * postern-authd: the only process that reads password hashes (DESIGN.md).
 * It runs on common/service.c with listeners of four roles (auth, userdb,
 * login, token: see authd.h), and speaks the framed protocol of
 * common/ipc.h on each connection: a HELLO first, then requests, each
 * answered with the same peer_id.  A request of the wrong role or with a
 * missing or invalid field gets IPC_ERROR and the connection stays
 * usable; a frame that breaks the framing or the size limit closes that
 * connection only (ipc.c).
 *
 * Logins: a SASL exchange (sasl.c) yields a user and password; the user is
 * looked up with resolve_user() and the password checked with
 * passwd_verify(), against a dummy hash when there is no such user so
 * that unknown users and wrong passwords take the same time and get the
 * same answer.  Failures are counted per client address and per user
 * (throttle.c) and answered after a growing delay, on a libevent timer so
 * the loop never blocks; locked-out clients and users fail at once.  A
 * success issues a one-time token (token.c) that a mail process redeems
 * on the userdb socket.  Passwords are wiped as soon as they are checked
 * and never logged.
 *
 * USER lookups for the delivery path also answer for Unix accounts of
 * system_account_domains (resolve_account(): getpwnam, never uid or gid
 * 0) with their uid and gid; those accounts cannot log in here.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/conf.h"
#include "common/error.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/passwd.h"
#include "common/service.h"
#include "common/str.h"
#include "common/userdb.h"
#include "common/xmalloc.h"

#include "authd/authd.h"
#include "authd/resolve.h"
#include "authd/sasl.h"
#include "authd/throttle.h"
#include "authd/token.h"

#include "common/banned.h"

/* What the peer of a credential failure is told, whatever the cause. */
#define AUTHD_FAIL_TEXT		"authentication failed"
/* The longest mailbox path told with a recipient (PATH_MAX - 1). */
#define AUTHD_MAILBOX_PATH_MAX	4095

static void	authd_exchange_free(struct authd_exchange **xp);

/* ---- small helpers ----------------------------------------------------- */

static bool
authd_ip_valid(const char *s)
{
	struct in6_addr	a6;
	struct in_addr	a4;

	return inet_pton(AF_INET, s, &a4) == 1 ||
	    inet_pton(AF_INET6, s, &a6) == 1;
}

static const char *
authd_role_name(enum authd_role role)
{
	switch (role) {
	case AUTHD_ROLE_AUTH:
		return "auth";
	case AUTHD_ROLE_LOGIN:
		return "login";
	case AUTHD_ROLE_TOKEN:
		return "token";
	default:
		return "userdb";
	}
}

/* A monotonic time as wall-clock text, for "locked out until". */
static const char *
authd_until_text(uint64_t until, uint64_t now, char *dst, size_t size)
{
	struct tm	tm;
	time_t		t = time(NULL) + (time_t)((until - now + 999) / 1000);

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(dst, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		return "?";
	return dst;
}

static void
authd_send(struct authd_client *c, struct ipc_msg **mp)
{
	if (ipc_conn_send(c->conn, *mp, -1) == -1)
		log_warning("%s: cannot queue a reply", c->peer);
	ipc_msg_free(mp);
}

/* Refuses a request: IPC_ERROR {text} with its peer_id; the line stays. */
static int
authd_reject(struct authd_client *c, const struct ipc_msg *req,
    const char *text)
{
	struct ipc_msg *m;

	log_warning("%s: request %u refused: %s", c->peer, req->type, text);
	m = ipc_msg_new(IPC_ERROR, req->peer_id);
	ipc_add_str(m, "text", text);
	authd_send(c, &m);
	return 0;
}

/* Reads a required 0/1 field. */
static int
authd_get_flag(struct ipc_msg *m, const char *key, bool *val_r)
{
	uint64_t v;

	if (ipc_get_u64(m, key, 1, &v) == -1)
		return -1;
	*val_r = v == 1;
	return 0;
}

/* Reads a user name field, folded to lower case into a new string. */
static char *
authd_get_user(struct ipc_msg *m, const char *key)
{
	const char *s;

	if (ipc_get_str(m, key, USERDB_ADDRESS_MAX, &s) == -1 || *s == '\0')
		return NULL;
	return str_lower(xstrdup(s));
}

/* ---- logins --------------------------------------------------------- */

static struct authd_exchange *
authd_exchange_find(struct authd_client *c, uint32_t id)
{
	struct authd_exchange *x;

	TAILQ_FOREACH(x, &c->exchanges, entry)
		if (x->id == id)
			return x;
	return NULL;
}

static void
authd_exchange_free(struct authd_exchange **xp)
{
	struct authd_exchange *x = *xp;

	if (x == NULL)
		return;
	*xp = NULL;
	TAILQ_REMOVE(&x->c->exchanges, x, entry);
	x->c->nexchanges--;
	if (x->ev_delay != NULL)
		event_free(x->ev_delay);
	sasl_free(&x->sasl);
	free(x);
}

/* Sends IPC_AUTH_RESULT and ends the exchange. */
static void
authd_result(struct authd_exchange **xp, const char *result,
    const char *user, const char *token, const char *text)
{
	struct authd_exchange	*x = *xp;
	struct ipc_msg		*m;

	m = ipc_msg_new(IPC_AUTH_RESULT, x->id);
	ipc_add_str(m, "result", result);
	if (user != NULL)
		ipc_add_str(m, "user", user);
	if (token != NULL)
		ipc_add_str(m, "token", token);
	if (text != NULL)
		ipc_add_str(m, "text", text);
	authd_send(x->c, &m);
	authd_exchange_free(xp);
}

static void
authd_delay_done(evutil_socket_t fd, short what, void *arg)
{
	struct authd_exchange *x = arg;

	authd_result(&x, "fail", NULL, NULL, AUTHD_FAIL_TEXT);
}

/* Answers a failed check now or, when delay_ms > 0, from a timer. */
static void
authd_fail_later(struct authd_exchange **xp, uint64_t delay_ms)
{
	struct authd_exchange	*x = *xp;
	struct timeval		 tv;

	if (delay_ms == 0) {
		authd_result(xp, "fail", NULL, NULL, AUTHD_FAIL_TEXT);
		return;
	}
	x->ev_delay = evtimer_new(service_base(x->c->a->sv), authd_delay_done,
	    x);
	if (x->ev_delay == NULL) {
		log_error("evtimer_new failed; answering at once");
		authd_result(xp, "fail", NULL, NULL, AUTHD_FAIL_TEXT);
		return;
	}
	tv.tv_sec = (time_t)(delay_ms / 1000);
	tv.tv_usec = (suseconds_t)(delay_ms % 1000) * 1000;
	evtimer_add(x->ev_delay, &tv);
	*xp = NULL;		/* the timer owns it now */
}

/* Warns about a {PLAIN} stored password once per user and process. */
static void
authd_warn_plain(struct authd *a, const char *user)
{
	size_t	i;

	for (i = 0; i < a->nplain_warned; i++)
		if (strcmp(a->plain_warned[i], user) == 0)
			return;
	log_warning("user %s has a {PLAIN} password in the users file: "
	    "set a hashed one with postctl user passwd", user);
	if (a->nplain_warned < AUTHD_PLAIN_WARN_MAX) {
		a->plain_warned = xreallocarray(a->plain_warned,
		    a->nplain_warned + 1, sizeof(*a->plain_warned));
		a->plain_warned[a->nplain_warned++] = xstrdup(user);
	}
}

/*
 * Checks the credentials of a completed exchange and answers.  Unknown
 * users, wrong passwords and disabled users go through the same hash
 * computation and the same failure path (count, delay, answer).
 */
static void
authd_verify(struct authd_exchange **xp)
{
	struct authd_exchange	*x = *xp;
	struct authd		*a = x->c->a;
	struct userdb_user	 u;
	struct throttle_lock	 lock;
	const char		*error, *why = NULL, *until_s;
	char			*user, token[TOKEN_HEX_LEN + 1], until[64];
	uint64_t		 now, delay;
	unsigned int		 locked;
	bool			 plain = false;
	int			 found, ok;

	user = str_lower(xstrdup(x->sasl->user));
	now = throttle_now();
	memset(&u, 0, sizeof(u));

	if (throttle_check(a->throttle, x->client, user, now, &lock)) {
		sasl_wipe_password(x->sasl);
		log_msg(lock.first ? LOG_INFO : LOG_DEBUG,
		    "auth: user=<%s>, client=<%s>, service=%s: fail "
		    "(%s locked out until %s)", log_safe(user), x->client,
		    x->service, lock.kind == THROTTLE_CLIENT ? "client" : "user",
		    authd_until_text(lock.until, now, until, sizeof(until)));
		authd_result(xp, "fail", NULL, NULL, AUTHD_FAIL_TEXT);
		free(user);
		return;
	}

	found = resolve_user(a->resolve, user, &u, &error);
	if (found == -1) {
		sasl_wipe_password(x->sasl);
		log_error("auth: user=<%s>, client=<%s>, service=%s: tempfail "
		    "(%s)", log_safe(user), x->client, x->service, error);
		authd_result(xp, "tempfail", NULL, NULL, "temporary failure");
		free(user);
		return;
	}
	ok = passwd_verify(found == 1 ? u.hash :
	    passwd_dummy_hash(cfg->authd_password_scheme), x->sasl->password,
	    x->sasl->password_len, &plain, &error);
	sasl_wipe_password(x->sasl);
	if (found == 0)
		why = "unknown user";
	else if (ok == -1) {
		log_error("user %s: unusable password hash in the users "
		    "table: %s", log_safe(user), error);
		why = "unusable password hash";
	} else if (ok == 0)
		why = "wrong password";
	else if (u.disabled)
		why = "disabled user";
	if (found == 1 && ok != -1 && plain)
		authd_warn_plain(a, u.address);

	if (why == NULL) {
		throttle_success(a->throttle, user);
		if (token_issue(a->tokens, u.address, x->service, now, token,
		    &error) == -1) {
			log_error("auth: user=<%s>, client=<%s>, service=%s: "
			    "tempfail (%s)", log_safe(user), x->client,
			    x->service, error);
			authd_result(xp, "tempfail", NULL, NULL,
			    "temporary failure");
		} else {
			log_info("auth: user=<%s>, client=<%s>, service=%s: ok "
			    "(%s%s)", log_safe(u.address), x->client,
			    x->service, sasl_mech_name(x->sasl->mech),
			    x->secured ? ", secured" : "");
			authd_result(xp, "ok", u.address, token, NULL);
			explicit_bzero(token, sizeof(token));
		}
	} else {
		delay = throttle_fail(a->throttle, x->client, user, now,
		    &locked);
		log_info("auth: user=<%s>, client=<%s>, service=%s: fail (%s)",
		    log_safe(user), x->client, x->service, why);
		until_s = authd_until_text(now +
		    (uint64_t)cfg->authd_lockout_time * 1000, now, until,
		    sizeof(until));
		if ((locked & THROTTLE_LOCKED_CLIENT) != 0)
			log_warning("auth: client=<%s> locked out until %s after "
			    "%u failures", x->client, until_s,
			    cfg->authd_max_failures);
		if ((locked & THROTTLE_LOCKED_USER) != 0)
			log_warning("auth: user=<%s> locked out until %s after "
			    "%u failures", log_safe(user), until_s,
			    cfg->authd_max_failures);
		authd_fail_later(xp, delay);
	}
	if (found == 1)
		userdb_user_deinit(&u);
	free(user);
}

/* Feeds a response (NULL: none) to the exchange and acts on the result. */
static void
authd_exchange_step(struct authd_exchange **xp, const uint8_t *resp,
    size_t len)
{
	struct authd_exchange	*x = *xp;
	struct ipc_msg		*m;
	const uint8_t		*challenge;
	const char		*error;
	size_t			 clen;

	switch (sasl_step(x->sasl, resp, len, &challenge, &clen, &error)) {
	case 0:
		m = ipc_msg_new(IPC_AUTH_CONTINUE, x->id);
		ipc_add_data(m, "challenge", challenge, clen);
		authd_send(x->c, &m);
		break;
	case 1:
		authd_verify(xp);
		break;
	default:
		log_info("auth: user=<%s>, client=<%s>, service=%s: fail "
		    "(malformed response: %s)", x->sasl->user != NULL ?
		    log_safe(x->sasl->user) : "", x->client, x->service, error);
		authd_result(xp, "fail", NULL, NULL, "malformed response");
		break;
	}
}

static int
authd_auth_begin(struct authd_client *c, struct ipc_msg *m)
{
	struct authd_exchange	*x;
	enum sasl_mech		 mech;
	const char		*mech_name, *service, *client;
	const uint8_t		*resp = NULL;
	size_t			 len = 0;
	bool			 secured;

	if (ipc_get_str(m, "mech", SASL_MECH_NAME_MAX, &mech_name) == -1 ||
	    sasl_mech_parse(mech_name, &mech) == -1)
		return authd_reject(c, m, "missing or unsupported mech");
	if (ipc_get_str(m, "service", CONF_SERVICE_NAME_MAX, &service) == -1 ||
	    !conf_service_name_valid(service))
		return authd_reject(c, m, "missing or invalid service");
	if (ipc_get_str(m, "client", AUTHD_IP_MAX, &client) == -1 ||
	    !authd_ip_valid(client))
		return authd_reject(c, m, "missing or invalid client");
	if (authd_get_flag(m, "secured", &secured) == -1)
		return authd_reject(c, m, "missing or invalid secured");
	if (ipc_has(m, "resp") && ipc_get_data(m, "resp", SASL_RESPONSE_MAX,
	    &resp, &len) == -1)
		return authd_reject(c, m, "invalid resp");
	if (authd_exchange_find(c, m->peer_id) != NULL)
		return authd_reject(c, m, "exchange id already in use");
	if (c->nexchanges >= AUTHD_MAX_EXCHANGES)
		return authd_reject(c, m, "too many open exchanges");

	x = xcalloc(1, sizeof(*x));
	x->c = c;
	x->id = m->peer_id;
	x->sasl = sasl_new(mech);
	x->secured = secured;
	if (str_copy(x->service, sizeof(x->service), service) == -1 ||
	    str_copy(x->client, sizeof(x->client), client) == -1)
		log_panic("auth: service or client longer than checked");
	TAILQ_INSERT_TAIL(&c->exchanges, x, entry);
	c->nexchanges++;
	authd_exchange_step(&x, resp, len);
	return 0;
}

static int
authd_auth_continue(struct authd_client *c, struct ipc_msg *m)
{
	struct authd_exchange	*x;
	const uint8_t		*resp;
	size_t			 len;

	if (ipc_get_data(m, "resp", SASL_RESPONSE_MAX, &resp, &len) == -1)
		return authd_reject(c, m, "missing or invalid resp");
	if ((x = authd_exchange_find(c, m->peer_id)) == NULL)
		return authd_reject(c, m, "no such exchange");
	if (x->ev_delay != NULL)
		return authd_reject(c, m, "exchange already answered");
	authd_exchange_step(&x, resp, len);
	return 0;
}

static int
authd_auth_abort(struct authd_client *c, struct ipc_msg *m)
{
	struct authd_exchange *x;

	/*
	 * One way, no answer.  An unknown id is no error: the exchange may
	 * have ended while the abort was on its way.
	 */
	if ((x = authd_exchange_find(c, m->peer_id)) != NULL) {
		log_debug("%s: exchange %" PRIu32 " aborted", c->peer, x->id);
		authd_exchange_free(&x);
	}
	return 0;
}

/* ---- userdb requests ------------------------------------------------ */

/* Adds result, user, maildir and quota of u to an IPC_USER_RESULT. */
static void
authd_user_fields(struct ipc_msg *m, const struct userdb_user *u)
{
	char	*maildir;

	maildir = resolve_maildir(u);
	ipc_add_str(m, "result", "ok");
	ipc_add_str(m, "user", u->address);
	ipc_add_str(m, "maildir", maildir);
	ipc_add_u64(m, "quota", u->quota);
	free(maildir);
}

/*
 * Not in the users table: a Unix account of system_account_domains
 * (resolve.h) answers with its Maildir, no quota, and the uid and gid the
 * delivery agent writes with; anything else is "notfound".  Returns 0
 * with the fields added, or -1 (*error_r; nothing added).
 */
static int
authd_account_fields(struct ipc_msg *m, const char *user,
    const char **error_r)
{
	struct resolve_account acct;
	const char	*why;

	switch (resolve_account(user, &acct, &why, error_r)) {
	case 1:
		ipc_add_str(m, "result", "ok");
		ipc_add_str(m, "user", user);
		ipc_add_str(m, "maildir", acct.maildir);
		ipc_add_u64(m, "quota", 0);
		ipc_add_u64(m, "uid", acct.uid);
		ipc_add_u64(m, "gid", acct.gid);
		log_debug("user lookup <%s>: Unix account %s, uid=%lu, "
		    "gid=%lu", log_safe(user), acct.name,
		    (unsigned long)acct.uid, (unsigned long)acct.gid);
		resolve_account_deinit(&acct);
		return 0;
	case 0:
		if (why != NULL)
			log_info("user lookup <%s>: %s", log_safe(user), why);
		ipc_add_str(m, "result", "notfound");
		ipc_add_str(m, "user", user);
		return 0;
	default:
		return -1;
	}
}

static int
authd_token_redeem(struct authd_client *c, struct ipc_msg *m)
{
	struct authd		*a = c->a;
	struct userdb_user	 u;
	struct ipc_msg		*r;
	const char		*token, *service, *why, *error;
	char			*user = NULL;
	int			 found;

	if (ipc_get_str(m, "token", TOKEN_HEX_LEN, &token) == -1 ||
	    !token_syntax_valid(token))
		return authd_reject(c, m, "missing or invalid token");
	if (ipc_get_str(m, "service", CONF_SERVICE_NAME_MAX, &service) == -1 ||
	    !conf_service_name_valid(service))
		return authd_reject(c, m, "missing or invalid service");

	r = ipc_msg_new(IPC_USER_RESULT, m->peer_id);
	if (token_redeem(a->tokens, token, service, throttle_now(), &user,
	    &why) == 0) {
		log_info("token: service=%s, peer=%s: fail (%s)", service,
		    c->peer, why);
		ipc_add_str(r, "result", "fail");
		authd_send(c, &r);
		return 0;
	}
	/* The user may have gone or been disabled since the login. */
	found = resolve_user(a->resolve, user, &u, &error);
	if (found == 1 && !u.disabled) {
		log_info("token: user=<%s>, service=%s: ok", log_safe(user),
		    service);
		authd_user_fields(r, &u);
	} else if (found == -1) {
		log_error("token: user=<%s>, service=%s: tempfail (%s)",
		    log_safe(user), service, error);
		ipc_add_str(r, "result", "tempfail");
	} else {
		log_info("token: user=<%s>, service=%s: fail (user %s since "
		    "login)", log_safe(user), service, found == 1 ?
		    "disabled" : "removed");
		ipc_add_str(r, "result", "fail");
	}
	if (found == 1)
		userdb_user_deinit(&u);
	free(user);
	authd_send(c, &r);
	return 0;
}

static int
authd_user_lookup(struct authd_client *c, struct ipc_msg *m)
{
	struct userdb_user	 u;
	struct ipc_msg		*r;
	const char		*error;
	char			*user;

	if ((user = authd_get_user(m, "user")) == NULL)
		return authd_reject(c, m, "missing or invalid user");
	r = ipc_msg_new(IPC_USER_RESULT, m->peer_id);
	/* A disabled user cannot log in but still receives mail. */
	switch (resolve_user(c->a->resolve, user, &u, &error)) {
	case 1:
		authd_user_fields(r, &u);
		userdb_user_deinit(&u);
		break;
	case 0:
		if (authd_account_fields(r, user, &error) != -1)
			break;
		log_error("user lookup <%s>: %s", log_safe(user), error);
		ipc_add_str(r, "result", "tempfail");
		ipc_add_str(r, "user", user);
		break;
	default:
		log_error("user lookup <%s>: %s", log_safe(user), error);
		ipc_add_str(r, "result", "tempfail");
		ipc_add_str(r, "user", user);
		break;
	}
	log_debug("%s: user lookup <%s>", c->peer, log_safe(user));
	free(user);
	authd_send(c, &r);
	return 0;
}

static const char *
authd_resolve_name(enum resolve_result r)
{
	switch (r) {
	case RESOLVE_LOCAL:
		return "local";
	case RESOLVE_REMOTE:
		return "remote";
	case RESOLVE_UNKNOWN:
		return "unknown";
	case RESOLVE_TEMPFAIL:
		break;
	}
	return "tempfail";
}

/*
 * The mailbox of each local user of a recipient, for smtpd's quota check
 * (RCPT_LOOKUP with mailboxes): "maildir" and "quota" fields, one of each
 * per "deliver" field and in the same order.  A user whose mailbox cannot
 * be told (gone since the resolution, a table failure, a path the peer
 * would refuse) gets "" and 0: no quota to check.
 */
static void
authd_rcpt_mailboxes(struct authd_client *c, struct ipc_msg *r,
    char *const *deliver)
{
	struct userdb_user	 u;
	const char		*error;
	char			*maildir;
	size_t			 i, j;
	bool			 ok;

	for (i = 0; deliver[i] != NULL; i++) {
		maildir = NULL;
		switch (resolve_user(c->a->resolve, deliver[i], &u, &error)) {
		case 1:
			maildir = resolve_maildir(&u);
			ok = strlen(maildir) <= AUTHD_MAILBOX_PATH_MAX;
			for (j = 0; ok && maildir[j] != '\0'; j++)
				if ((unsigned char)maildir[j] < 0x20 ||
				    maildir[j] == 0x7f)
					ok = false;
			ipc_add_str(r, "maildir", ok ? maildir : "");
			ipc_add_u64(r, "quota", ok ? u.quota : 0);
			free(maildir);
			userdb_user_deinit(&u);
			break;
		case 0:
			ipc_add_str(r, "maildir", "");
			ipc_add_u64(r, "quota", 0);
			break;
		default:
			log_warning("rcpt: mailbox of <%s>: %s",
			    log_safe(deliver[i]), error);
			ipc_add_str(r, "maildir", "");
			ipc_add_u64(r, "quota", 0);
			break;
		}
	}
}

static int
authd_rcpt_lookup(struct authd_client *c, struct ipc_msg *m)
{
	struct resolve_answer	 ans;
	struct ipc_msg		*r;
	const char		*rcpt, *client;
	bool			 authenticated, has_text;
	uint64_t		 mailboxes = 0;
	size_t			 i;

	if (ipc_get_str(m, "rcpt", USERDB_ADDRESS_MAX, &rcpt) == -1)
		return authd_reject(c, m, "missing or invalid rcpt");
	/* Empty: a lookup for no network client (the queue manager). */
	if (ipc_get_str(m, "client", AUTHD_IP_MAX, &client) == -1 ||
	    (*client != '\0' && !authd_ip_valid(client)))
		return authd_reject(c, m, "missing or invalid client");
	if (authd_get_flag(m, "authenticated", &authenticated) == -1)
		return authd_reject(c, m, "missing or invalid authenticated");
	/* Optional: describe the mailboxes of at most this many users. */
	if (ipc_has(m, "mailboxes") && ipc_get_u64(m, "mailboxes", UINT32_MAX,
	    &mailboxes) == -1)
		return authd_reject(c, m, "invalid mailboxes");

	memset(&ans, 0, sizeof(ans));
	resolve_rcpt(c->a->resolve, rcpt, client, authenticated, &ans);
	r = ipc_msg_new(IPC_RCPT_RESULT, m->peer_id);
	ipc_add_str(r, "result", authd_resolve_name(ans.result));
	ipc_add_u64(r, "relay", ans.relay ? 1 : 0);
	for (i = 0; ans.deliver != NULL && ans.deliver[i] != NULL; i++)
		ipc_add_str(r, "deliver", ans.deliver[i]);
	for (i = 0; ans.forward != NULL && ans.forward[i] != NULL; i++)
		ipc_add_str(r, "forward", ans.forward[i]);
	/* The route of each forward, in the same order (resolve.h). */
	for (i = 0; ans.forward_transport != NULL &&
	    ans.forward_transport[i] != NULL; i++)
		ipc_add_str(r, "forward_transport", ans.forward_transport[i]);
	if (ans.result == RESOLVE_REMOTE && ans.transport != NULL)
		ipc_add_str(r, "transport", ans.transport);
	/*
	 * Only when all of the recipient's mail goes into local mailboxes
	 * that are few enough: that is when a full mailbox can refuse it.
	 */
	if (mailboxes > 0 && ans.result == RESOLVE_LOCAL &&
	    ans.deliver != NULL && (ans.forward == NULL ||
	    ans.forward[0] == NULL)) {
		for (i = 0; ans.deliver[i] != NULL; i++)
			;
		if (i > 0 && i <= mailboxes)
			authd_rcpt_mailboxes(c, r, ans.deliver);
	}
	has_text = ans.text != NULL && *ans.text != '\0';
	if (has_text)
		ipc_add_str(r, "text", ans.text);
	log_msg(ans.result == RESOLVE_TEMPFAIL ? LOG_WARNING : LOG_DEBUG,
	    "rcpt: <%s>, client=<%s>%s: %s%s%s%s%s%s", log_safe(rcpt), client,
	    authenticated ? ", authenticated" : "",
	    authd_resolve_name(ans.result),
	    ans.result == RESOLVE_REMOTE ? (ans.relay ? ", relay" :
	    ", no relay") : "",
	    ans.transport != NULL ? ", transport=" : "",
	    ans.transport != NULL ? log_safe(ans.transport) : "",
	    has_text ? ": " : "", has_text ? log_safe(ans.text) : "");
	resolve_answer_deinit(&ans);
	authd_send(c, &r);
	return 0;
}

/* ---- connections ---------------------------------------------------- */

static const struct authd_request {
	uint16_t	 type;
	unsigned int	 roles;		/* AUTHD_ROLE_* it is allowed on */
	int		(*handler)(struct authd_client *, struct ipc_msg *);
} authd_requests[] = {
	{ IPC_AUTH_BEGIN,	AUTHD_ROLE_AUTH | AUTHD_ROLE_LOGIN,
	    authd_auth_begin },
	{ IPC_AUTH_CONTINUE,	AUTHD_ROLE_AUTH | AUTHD_ROLE_LOGIN,
	    authd_auth_continue },
	{ IPC_AUTH_ABORT,	AUTHD_ROLE_AUTH | AUTHD_ROLE_LOGIN,
	    authd_auth_abort },
	{ IPC_TOKEN_REDEEM,	AUTHD_ROLE_USERDB | AUTHD_ROLE_TOKEN,
	    authd_token_redeem },
	{ IPC_USER_LOOKUP,	AUTHD_ROLE_USERDB,	authd_user_lookup },
	{ IPC_RCPT_LOOKUP,	AUTHD_ROLE_AUTH | AUTHD_ROLE_USERDB,
	    authd_rcpt_lookup },
};

/* The first message: HELLO {version, program}.  -1 closes. */
static int
authd_hello(struct authd_client *c, struct ipc_msg *m)
{
	struct ipc_msg	*r;
	const char	*program, *error;
	char		*peer;

	if (ipc_hello_check(m, &program, &error) == -1) {
		authd_reject(c, m, error);
		return -1;
	}
	c->hello = true;
	peer = xasprintf("%s (%s)", c->peer, program);
	free(c->peer);
	c->peer = peer;
	r = ipc_msg_new(IPC_OK, m->peer_id);
	authd_send(c, &r);
	return 0;
}

static int
authd_client_msg(struct ipc_conn *conn, struct ipc_msg *m, void *ctx)
{
	struct authd_client	*c = ctx;
	size_t			 i;
	int			 ret;

	if (m->fd != -1) {
		/* No request carries a descriptor: refuse, close it (free). */
		ret = authd_reject(c, m, "unexpected descriptor");
	} else if (!c->hello)
		ret = authd_hello(c, m);
	else if (m->type == IPC_HELLO)
		ret = authd_reject(c, m, "HELLO already received");
	else {
		for (i = 0; i < N_ELEMENTS(authd_requests); i++)
			if (authd_requests[i].type == m->type)
				break;
		if (i == N_ELEMENTS(authd_requests))
			ret = authd_reject(c, m, "unexpected message type");
		else if ((authd_requests[i].roles & c->role) == 0)
			ret = authd_reject(c, m, error_fmt("request not "
			    "allowed on the %s socket",
			    authd_role_name(c->role)));
		else
			ret = authd_requests[i].handler(c, m);
	}
	ipc_msg_free(&m);
	return ret;
}

static void
authd_client_free(struct authd_client **cp, bool count)
{
	struct authd_client	*c = *cp;
	struct authd_exchange	*x;

	if (c == NULL)
		return;
	*cp = NULL;
	while ((x = TAILQ_FIRST(&c->exchanges)) != NULL)
		authd_exchange_free(&x);
	TAILQ_REMOVE(&c->a->clients, c, entry);
	ipc_conn_free(&c->conn);
	if (count)
		service_client_closed(c->a->sv);
	free(c->peer);
	free(c);
}

static void
authd_client_closed(struct ipc_conn *conn, const char *reason, void *ctx)
{
	struct authd_client *c = ctx;

	log_debug("%s: %s", c->peer, reason);
	authd_client_free(&c, true);
}

static void
authd_accept(struct service *sv, int fd, const struct service_listener *l,
    const struct sockaddr *peer, socklen_t peer_len)
{
	struct authd		*a = service_ctx(sv);
	struct authd_client	*c;
	enum authd_role		 role;

	if (strcmp(l->role, "auth") == 0)
		role = AUTHD_ROLE_AUTH;
	else if (strcmp(l->role, "userdb") == 0)
		role = AUTHD_ROLE_USERDB;
	else if (strcmp(l->role, "login") == 0)
		role = AUTHD_ROLE_LOGIN;
	else if (strcmp(l->role, "token") == 0)
		role = AUTHD_ROLE_TOKEN;
	else {
		log_error("listener %s has role \"%s\": authd knows only auth, "
		    "userdb, login and token", l->address, l->role);
		(void)close(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->a = a;
	c->role = role;
	TAILQ_INIT(&c->exchanges);
	c->peer = ipc_peer_name(fd, authd_role_name(role));
	c->conn = ipc_conn_new(service_base(sv), fd, cfg->ipc_max_message_size,
	    c->peer, authd_client_msg, authd_client_closed, c);
	TAILQ_INSERT_TAIL(&a->clients, c, entry);
	service_client_opened(sv);
	log_debug("%s: connected", c->peer);
}

/* ---- the daemon ----------------------------------------------------- */

static void
authd_purge(evutil_socket_t fd, short what, void *arg)
{
	struct authd	*a = arg;
	uint64_t	 now = throttle_now();

	token_purge(a->tokens, now);
	throttle_expire(a->throttle, now);
}

static int
authd_post_jail(struct service *sv, const char **error_r)
{
	struct throttle_settings ts;
	struct authd		*a;
	struct timeval		 tv = { AUTHD_PURGE_INTERVAL, 0 };

	a = xcalloc(1, sizeof(*a));
	a->sv = sv;
	TAILQ_INIT(&a->clients);
	a->resolve = resolve_new();
	memset(&ts, 0, sizeof(ts));
	ts.max_tracked = cfg->authd_max_tracked;
	ts.max_failures = cfg->authd_max_failures;
	ts.lockout_ms = (uint64_t)cfg->authd_lockout_time * 1000;
	ts.delay_ms = (uint64_t)cfg->authd_failure_delay * 1000;
	ts.max_delay_ms = (uint64_t)cfg->authd_max_failure_delay * 1000;
	a->throttle = throttle_new(&ts);
	a->tokens = token_store_new(TOKEN_MAX_LIVE,
	    (uint64_t)cfg->authd_token_lifetime * 1000);
	a->ev_purge = event_new(service_base(sv), -1, EV_PERSIST, authd_purge,
	    a);
	if (a->ev_purge == NULL || event_add(a->ev_purge, &tv) == -1) {
		*error_r = "cannot start the purge timer";
		return -1;
	}
	/* The dummy hash costs one hash: pay it now, not at the first login. */
	(void)passwd_dummy_hash(cfg->authd_password_scheme);
	service_set_ctx(sv, a);
	log_info("started; users in %s", cfg->user_database[0] != '\0' ?
	    cfg->user_database : "the default users table");
	return 0;
}

static void
authd_exit(struct service *sv)
{
	struct authd		*a = service_ctx(sv);
	struct authd_client	*c;
	size_t			 i;

	if (a == NULL)
		return;
	while ((c = TAILQ_FIRST(&a->clients)) != NULL)
		authd_client_free(&c, false);
	if (a->ev_purge != NULL)
		event_free(a->ev_purge);
	resolve_free(&a->resolve);
	throttle_free(&a->throttle);
	token_store_free(&a->tokens);
	for (i = 0; i < a->nplain_warned; i++)
		free(a->plain_warned[i]);
	free(a->plain_warned);
	service_set_ctx(sv, NULL);
	free(a);
}

int
main(int argc, char *argv[])
{
	static const struct service_def def = {
		.name		= "authd",
		.post_jail	= authd_post_jail,	/* tables, throttle, tokens */
		.on_accept	= authd_accept,		/* auth or userdb client */
		.on_exit	= authd_exit,
	};

	return service_main(&def, argc, argv);
}

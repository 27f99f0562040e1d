/* SPDX-License-Identifier: ISC */
/*
 * MX and address lookups for the transfer agent (dns.h), with c-ares
 * driven by the agent's libevent loop: c-ares tells us which sockets to
 * watch (ARES_OPT_SOCK_STATE_CB) and when its next timeout is
 * (ares_timeout()); we call ares_process_fd() when one of them is ready.
 * c-ares parses the answers (ares_parse_mx_reply and friends), so no DNS
 * packet is parsed by our own code.
 *
 * One lookup is a small tree of queries: the MX query, then an A and an
 * AAAA query for each MX host (all at once).  Its answer is put together
 * when the last query is back and handed to the caller from an event of
 * its own, so that the callback never runs inside dns_lookup() even when
 * c-ares fails a query at once.  A cancelled lookup stays allocated until
 * its queries are back (c-ares has no way to cancel one query), but calls
 * nobody.
 */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ares.h>
#include <arpa/nameser.h>
#include <event2/event.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/log.h"
#include "common/str.h"
#include "common/xmalloc.h"
#include "dns.h"
#include "common/banned.h"

/* Addresses of one type kept per host. */
#define DNS_HOST_ADDRS		16
#define DNS_TEXT_MAX		300

struct dns_sock {
	struct dns_sock		*next;
	struct dns		*d;
	int			 fd;
	struct event		*ev;
};

struct dns {
	struct event_base	*base;
	ares_channel		 ch;
	struct dns_sock		*socks;
	struct event		*timer;
	bool			 freeing;
};

/* The addresses found for one host. */
struct dns_host {
	struct dns_mx		 mx;
	struct in_addr		 v4[DNS_HOST_ADDRS];
	unsigned int		 n4;
	struct in6_addr		 v6[DNS_HOST_ADDRS];
	unsigned int		 n6;
	bool			 tempfail;	/* a query failed for now */
};

struct dns_lookup {
	struct dns		*d;
	dns_cb			*cb;
	void			*ctx;
	struct dns_nexthop	 nh;
	uint16_t		 port;
	char			 myname[DNS_HOST_MAX + 1];
	unsigned int		 max;
	unsigned int		 pending;	/* queries in flight */
	bool			 cancelled;
	bool			 done;
	struct dns_host		*hosts;
	unsigned int		 nhosts;
	enum dns_status		 status;
	char			 text[DNS_TEXT_MAX];
	struct dns_addr		*addrs;
	unsigned int		 naddrs;
	struct event		*done_ev;
};

/* What one c-ares query is for. */
struct dns_query {
	struct dns_lookup	*l;
	int			 type;		/* ns_t_mx, ns_t_a, ns_t_aaaa */
	unsigned int		 host;		/* index into l->hosts */
};

static void	dns_timer_update(struct dns *d);

/* ---- next hops and MX order (no network) ----------------------------- */

static bool
dns_host_valid(const char *s, size_t len)
{
	size_t	 i;

	if (len == 0 || len > DNS_HOST_MAX || s[0] == '.' || s[0] == '-')
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_'))
			return false;
	}
	return true;
}

int
dns_nexthop_parse(const char *s, struct dns_nexthop *nh,
    const char **error_r)
{
	struct in6_addr	 a6;
	struct in_addr	 a4;
	const char	*host, *end, *rest;
	uint64_t	 port;
	size_t		 len;

	memset(nh, 0, sizeof(*nh));
	if (s[0] == '[') {
		if ((end = strchr(s, ']')) == NULL) {
			*error_r = error_fmt("next hop \"%s\": no ]", s);
			return -1;
		}
		host = s + 1;
		if (strncasecmp(host, "ipv6:", 5) == 0)
			host += 5;
		len = (size_t)(end - host);
		rest = end + 1;
		nh->mx = false;
	} else {
		host = s;
		/* host:port; an IPv6 literal needs brackets. */
		end = strchr(s, ':');
		len = end != NULL ? (size_t)(end - s) : strlen(s);
		rest = s + len;
		nh->mx = true;
	}
	if (len == 0 || len > DNS_HOST_MAX) {
		*error_r = error_fmt("next hop \"%s\": bad host", s);
		return -1;
	}
	memcpy(nh->host, host, len);
	nh->host[len] = '\0';
	str_lower(nh->host);
	if (inet_pton(AF_INET, nh->host, &a4) == 1 ||
	    (!nh->mx && inet_pton(AF_INET6, nh->host, &a6) == 1)) {
		nh->literal = true;
		nh->mx = false;
	} else if (!dns_host_valid(nh->host, len)) {
		*error_r = error_fmt("next hop \"%s\": bad host", s);
		return -1;
	}
	if (rest[0] == ':') {
		if (parse_u64(rest + 1, 65535, &port) == -1 || port == 0) {
			*error_r = error_fmt("next hop \"%s\": bad port", s);
			return -1;
		}
		nh->port = (uint16_t)port;
	} else if (rest[0] != '\0') {
		*error_r = error_fmt("next hop \"%s\": junk after the host", s);
		return -1;
	}
	return 0;
}

static size_t
dns_name_len(const char *s)
{
	size_t	 len = strlen(s);

	if (len > 0 && s[len - 1] == '.')
		len--;
	return len;
}

static bool
dns_name_eq(const char *a, const char *b)
{
	size_t	 alen = dns_name_len(a), blen = dns_name_len(b);

	return alen == blen && alen > 0 && strncasecmp(a, b, alen) == 0;
}

static int
dns_mx_cmp(const void *a, const void *b)
{
	const struct dns_mx	*x = a, *y = b;

	return x->pref < y->pref ? -1 : x->pref > y->pref ? 1 : 0;
}

enum dns_status
dns_mx_order(struct dns_mx *mx, unsigned int *n, const char *myname)
{
	struct dns_mx	 tmp;
	unsigned int	 i, j, k, start;

	if (*n == 1 && dns_name_len(mx[0].host) == 0) {
		*n = 0;
		return DNS_NULLMX;
	}
	/* Drop "." among real hosts (RFC 7505 3). */
	for (i = j = 0; i < *n; i++)
		if (dns_name_len(mx[i].host) > 0)
			mx[j++] = mx[i];
	*n = j;
	if (*n == 0)
		return DNS_NULLMX;
	qsort(mx, *n, sizeof(*mx), dns_mx_cmp);
	/* Shuffle each run of equal preference (Fisher-Yates). */
	for (start = 0; start < *n; start = i) {
		for (i = start + 1; i < *n && mx[i].pref == mx[start].pref; i++)
			;
		for (k = i - 1; k > start; k--) {
			j = start + arc4random_uniform(k - start + 1);
			tmp = mx[k];
			mx[k] = mx[j];
			mx[j] = tmp;
		}
	}
	if (myname != NULL && myname[0] != '\0') {
		for (i = 0; i < *n; i++) {
			if (!dns_name_eq(mx[i].host, myname))
				continue;
			/* Keep only the better ones. */
			for (j = 0; j < *n && mx[j].pref < mx[i].pref; j++)
				;
			*n = j;
			return j == 0 ? DNS_LOOP : DNS_OK;
		}
	}
	return DNS_OK;
}

/* ---- c-ares on libevent -------------------------------------------------- */

static void
dns_sock_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns_sock	*s = arg;
	struct dns	*d = s->d;

	ares_process_fd(d->ch, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
	    (what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	dns_timer_update(d);
}

static void
dns_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns	 *d = data;
	struct dns_sock	**sp, *s;
	short		  what;

	for (sp = &d->socks; *sp != NULL; sp = &(*sp)->next)
		if ((*sp)->fd == fd)
			break;
	s = *sp;
	if (s != NULL) {
		event_free(s->ev);
		s->ev = NULL;
	}
	if (!readable && !writable) {
		if (s != NULL) {
			*sp = s->next;
			free(s);
		}
		return;
	}
	if (s == NULL) {
		s = xcalloc(1, sizeof(*s));
		s->d = d;
		s->fd = fd;
		s->next = d->socks;
		d->socks = s;
	}
	what = EV_PERSIST | (readable ? EV_READ : 0) |
	    (writable ? EV_WRITE : 0);
	if ((s->ev = event_new(d->base, fd, what, dns_sock_cb, s)) == NULL ||
	    event_add(s->ev, NULL) == -1)
		log_fatal("dns: cannot watch a socket");
}

static void
dns_timer_cb(evutil_socket_t fd ATTR_UNUSED, short what ATTR_UNUSED,
    void *arg)
{
	struct dns	*d = arg;

	ares_process_fd(d->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	dns_timer_update(d);
}

static void
dns_timer_update(struct dns *d)
{
	struct timeval	 tv, *tvp;

	if (d->freeing)
		return;
	if ((tvp = ares_timeout(d->ch, NULL, &tv)) == NULL)
		(void)event_del(d->timer);
	else
		(void)event_add(d->timer, tvp);
}

struct dns *
dns_new(struct event_base *base, char *const *servers,
    unsigned int timeout_ms, const char **error_r)
{
	static bool		 lib_ready;
	struct ares_options	 opt;
	struct dns		*d;
	struct buf		 csv;
	size_t			 i;
	int			 r;

	if (!lib_ready) {
		if ((r = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
			*error_r = error_fmt("c-ares: %s", ares_strerror(r));
			return NULL;
		}
		lib_ready = true;
	}
	d = xcalloc(1, sizeof(*d));
	d->base = base;
	memset(&opt, 0, sizeof(opt));
	opt.timeout = (int)timeout_ms;
	opt.tries = 3;
	opt.flags = ARES_FLAG_EDNS;
	opt.ednspsz = 1232;
	opt.sock_state_cb = dns_sock_state;
	opt.sock_state_cb_data = d;
	r = ares_init_options(&d->ch, &opt, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
	    ARES_OPT_FLAGS | ARES_OPT_EDNSPSZ | ARES_OPT_SOCK_STATE_CB);
	if (r != ARES_SUCCESS) {
		*error_r = error_fmt("c-ares: %s", ares_strerror(r));
		free(d);
		return NULL;
	}
	if (servers != NULL && servers[0] != NULL) {
		buf_init(&csv, 64, 64 * 1024);
		for (i = 0; servers[i] != NULL; i++)
			if ((i > 0 && buf_append_byte(&csv, ',') == -1) ||
			    buf_append_str(&csv, servers[i]) == -1)
				break;
		r = ares_set_servers_ports_csv(d->ch, buf_cstr(&csv));
		if (r != ARES_SUCCESS) {
			*error_r = error_fmt("dns_servers = %s: %s",
			    buf_cstr(&csv), ares_strerror(r));
			buf_deinit(&csv);
			ares_destroy(d->ch);
			free(d);
			return NULL;
		}
		buf_deinit(&csv);
	}
	if ((d->timer = evtimer_new(base, dns_timer_cb, d)) == NULL)
		log_fatal("dns: cannot make a timer");
	return d;
}

static void	dns_lookup_free(struct dns_lookup *l);

void
dns_free(struct dns **dp)
{
	struct dns	*d = *dp;
	struct dns_sock	*s;

	if (d == NULL)
		return;
	*dp = NULL;
	d->freeing = true;
	/* Every query is called back with ARES_EDESTRUCTION. */
	ares_destroy(d->ch);
	while ((s = d->socks) != NULL) {
		d->socks = s->next;
		event_free(s->ev);
		free(s);
	}
	event_free(d->timer);
	free(d);
}

/* ---- lookups -------------------------------------------------------------- */

static void
dns_lookup_free(struct dns_lookup *l)
{
	if (l->done_ev != NULL)
		event_free(l->done_ev);
	free(l->hosts);
	free(l->addrs);
	free(l);
}

static void
dns_done_cb(evutil_socket_t fd ATTR_UNUSED, short what ATTR_UNUSED,
    void *arg)
{
	struct dns_lookup	*l = arg;
	struct dns_answer	 a;

	memset(&a, 0, sizeof(a));
	a.status = l->status;
	a.text = l->text;
	a.addrs = l->addrs;
	a.naddrs = l->naddrs;
	/* Every query is back (done comes last); the caller forgets l. */
	l->cb(&a, l->ctx);
	dns_lookup_free(l);
}

static void
dns_finish(struct dns_lookup *l, enum dns_status st, const char *fmt, ...)
    ATTR_PRINTF(3, 4);

static void
dns_finish(struct dns_lookup *l, enum dns_status st, const char *fmt, ...)
{
	struct timeval	 now0 = { 0, 0 };
	va_list		 ap;

	if (l->done)
		return;
	l->done = true;
	l->status = st;
	va_start(ap, fmt);
	(void)vsnprintf(l->text, sizeof(l->text), fmt, ap);
	va_end(ap);
	(void)event_add(l->done_ev, &now0);
}

static void
dns_add_addr(struct dns_lookup *l, const char *host, int af,
    const void *addr)
{
	struct dns_addr		*a;
	struct sockaddr_in	*sin;
	struct sockaddr_in6	*sin6;

	if (l->naddrs >= l->max)
		return;
	a = &l->addrs[l->naddrs++];
	memset(a, 0, sizeof(*a));
	str_copy_cut(a->host, sizeof(a->host), host);
	if (af == AF_INET) {
		sin = (struct sockaddr_in *)&a->ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(l->port);
		memcpy(&sin->sin_addr, addr, sizeof(sin->sin_addr));
		a->len = sizeof(*sin);
	} else {
		sin6 = (struct sockaddr_in6 *)&a->ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(l->port);
		memcpy(&sin6->sin6_addr, addr, sizeof(sin6->sin6_addr));
		a->len = sizeof(*sin6);
	}
}

/* Every address query is back: the list, in MX order. */
static void
dns_addrs_done(struct dns_lookup *l)
{
	struct dns_host	*h;
	unsigned int	 i, k;
	bool		 tempfail = false;

	l->addrs = xcalloc(l->max, sizeof(*l->addrs));
	for (i = 0; i < l->nhosts; i++) {
		h = &l->hosts[i];
		tempfail |= h->tempfail;
		for (k = 0; k < h->n4; k++)
			dns_add_addr(l, h->mx.host, AF_INET, &h->v4[k]);
		for (k = 0; k < h->n6; k++)
			dns_add_addr(l, h->mx.host, AF_INET6, &h->v6[k]);
	}
	if (l->naddrs > 0)
		dns_finish(l, DNS_OK, "%s", "");
	else if (tempfail)
		dns_finish(l, DNS_TEMPFAIL, "Host or domain name not found. "
		    "Name service error for name=%s type=A: Host not found, "
		    "try again", l->hosts[0].mx.host);
	else
		dns_finish(l, DNS_NOTFOUND, "Host or domain name not found. "
		    "Name service error for name=%s type=A: Host not found",
		    l->hosts[0].mx.host);
}

static void	dns_query_cb(void *arg, int status, int timeouts,
		    unsigned char *abuf, int alen);

static void
dns_query(struct dns_lookup *l, const char *name, int type, unsigned int host)
{
	struct dns_query	*q;

	q = xcalloc(1, sizeof(*q));
	q->l = l;
	q->type = type;
	q->host = host;
	l->pending++;
	ares_query(l->d->ch, name, ns_c_in, type, dns_query_cb, q);
}

static void
dns_query_hosts(struct dns_lookup *l)
{
	unsigned int	 i;

	for (i = 0; i < l->nhosts; i++) {
		dns_query(l, l->hosts[i].mx.host, ns_t_a, i);
		dns_query(l, l->hosts[i].mx.host, ns_t_aaaa, i);
	}
}

static bool
dns_status_temporary(int status)
{
	return status != ARES_SUCCESS && status != ARES_ENODATA &&
	    status != ARES_ENOTFOUND;
}

static void
dns_mx_answer(struct dns_lookup *l, int status, unsigned char *abuf, int alen)
{
	struct ares_mx_reply	*mx = NULL, *p;
	struct dns_mx		*list;
	unsigned int		 n = 0, i;
	enum dns_status		 st;

	if (status == ARES_SUCCESS &&
	    (status = ares_parse_mx_reply(abuf, alen, &mx)) == ARES_SUCCESS &&
	    mx == NULL)
		status = ARES_ENODATA;
	if (status == ARES_ENOTFOUND) {
		dns_finish(l, DNS_NODOMAIN, "Host or domain name not found. "
		    "Name service error for name=%s type=MX: Host not found",
		    l->nh.host);
		return;
	}
	if (status == ARES_ENODATA) {
		/* No MX: the domain is its own MX (RFC 5321 5.1). */
		l->hosts = xcalloc(1, sizeof(*l->hosts));
		l->nhosts = 1;
		str_copy_cut(l->hosts[0].mx.host,
		    sizeof(l->hosts[0].mx.host), l->nh.host);
		dns_query_hosts(l);
		return;
	}
	if (status != ARES_SUCCESS) {
		dns_finish(l, DNS_TEMPFAIL, "Host or domain name not found. "
		    "Name service error for name=%s type=MX: Host not found, "
		    "try again (%s)", l->nh.host, ares_strerror(status));
		return;
	}
	list = xcalloc(DNS_MX_MAX, sizeof(*list));
	for (p = mx; p != NULL && n < DNS_MX_MAX; p = p->next) {
		/*
		 * A name from the network: only a host name (or the null
		 * MX's "") goes on into SNI, certificate checks and logs.
		 */
		if (str_copy(list[n].host, sizeof(list[n].host),
		    p->host) == -1 || (dns_name_len(p->host) > 0 &&
		    !dns_host_valid(p->host, dns_name_len(p->host))))
			continue;
		list[n].pref = p->priority;
		n++;
	}
	ares_free_data(mx);
	st = dns_mx_order(list, &n, l->myname);
	if (st == DNS_NULLMX) {
		dns_finish(l, st, "Domain %s does not accept mail (nullMX)",
		    l->nh.host);
	} else if (st == DNS_LOOP) {
		dns_finish(l, st, "mail for %s loops back to myself",
		    l->nh.host);
	} else if (n == 0) {
		dns_finish(l, DNS_NOTFOUND, "Host or domain name not found. "
		    "Name service error for name=%s type=MX: no usable MX "
		    "host", l->nh.host);
	} else {
		/* Each host gives at least one address: no more than max. */
		if (n > l->max)
			n = l->max;
		l->hosts = xcalloc(n, sizeof(*l->hosts));
		l->nhosts = n;
		for (i = 0; i < n; i++)
			l->hosts[i].mx = list[i];
		dns_query_hosts(l);
	}
	free(list);
}

static void
dns_addr_answer(struct dns_lookup *l, struct dns_query *q, int status,
    unsigned char *abuf, int alen)
{
	struct ares_addrttl	 a4[DNS_HOST_ADDRS];
	struct ares_addr6ttl	 a6[DNS_HOST_ADDRS];
	struct dns_host		*h = &l->hosts[q->host];
	int			 n = DNS_HOST_ADDRS, i;

	if (dns_status_temporary(status)) {
		h->tempfail = true;
		return;
	}
	if (status != ARES_SUCCESS)
		return;
	if (q->type == ns_t_a) {
		if (ares_parse_a_reply(abuf, alen, NULL, a4, &n) !=
		    ARES_SUCCESS)
			return;
		for (i = 0; i < n && h->n4 < DNS_HOST_ADDRS; i++)
			h->v4[h->n4++] = a4[i].ipaddr;
	} else {
		if (ares_parse_aaaa_reply(abuf, alen, NULL, a6, &n) !=
		    ARES_SUCCESS)
			return;
		for (i = 0; i < n && h->n6 < DNS_HOST_ADDRS; i++)
			memcpy(&h->v6[h->n6++], &a6[i].ip6addr,
			    sizeof(h->v6[0]));
	}
}

static void
dns_query_cb(void *arg, int status, int timeouts ATTR_UNUSED,
    unsigned char *abuf, int alen)
{
	struct dns_query	*q = arg;
	struct dns_lookup	*l = q->l;

	l->pending--;
	if (l->cancelled || status == ARES_EDESTRUCTION) {
		/* Nobody waits for it (dns_free() or cancelled). */
		free(q);
		if (l->cancelled && l->pending == 0)
			dns_lookup_free(l);
		return;
	}
	if (!l->done) {
		if (q->type == ns_t_mx)
			dns_mx_answer(l, status, abuf, alen);
		else
			dns_addr_answer(l, q, status, abuf, alen);
		if (!l->done && l->pending == 0)
			dns_addrs_done(l);
	}
	free(q);
}

struct dns_lookup *
dns_lookup(struct dns *d, const struct dns_nexthop *nh, uint16_t default_port,
    const char *myname, unsigned int max, dns_cb *cb, void *ctx)
{
	struct dns_lookup	*l;
	struct in6_addr		 a6;
	struct in_addr		 a4;

	l = xcalloc(1, sizeof(*l));
	l->d = d;
	l->cb = cb;
	l->ctx = ctx;
	l->nh = *nh;
	l->port = nh->port != 0 ? nh->port : default_port;
	l->max = max > 0 ? max : 1;
	if (myname != NULL)
		str_copy_cut(l->myname, sizeof(l->myname), myname);
	if ((l->done_ev = evtimer_new(d->base, dns_done_cb, l)) == NULL)
		log_fatal("dns: cannot make an event");
	if (nh->literal) {
		l->addrs = xcalloc(1, sizeof(*l->addrs));
		if (inet_pton(AF_INET, nh->host, &a4) == 1)
			dns_add_addr(l, nh->host, AF_INET, &a4);
		else if (inet_pton(AF_INET6, nh->host, &a6) == 1)
			dns_add_addr(l, nh->host, AF_INET6, &a6);
		if (l->naddrs > 0)
			dns_finish(l, DNS_OK, "%s", "");
		else
			dns_finish(l, DNS_NOTFOUND, "bad address literal %s",
			    nh->host);
		return l;
	}
	if (nh->mx) {
		dns_query(l, nh->host, ns_t_mx, 0);
	} else {
		l->hosts = xcalloc(1, sizeof(*l->hosts));
		l->nhosts = 1;
		str_copy_cut(l->hosts[0].mx.host,
		    sizeof(l->hosts[0].mx.host), nh->host);
		dns_query_hosts(l);
	}
	dns_timer_update(d);
	return l;
}

void
dns_lookup_cancel(struct dns_lookup **lp)
{
	struct dns_lookup	*l = *lp;

	if (l == NULL)
		return;
	*lp = NULL;
	l->cancelled = true;
	/* Else freed when its last query is back. */
	if (l->pending == 0)
		dns_lookup_free(l);
}

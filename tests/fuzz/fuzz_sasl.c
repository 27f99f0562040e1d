/* SPDX-License-Identifier: ISC */
/* fuzz-sources: authd/sasl.c common/str.c common/xmalloc.c common/error.c common/log.c common/buf.c */
/* fuzz-libs: -levent */
/*
 * libFuzzer target for authd's SASL parsers (authd/sasl.c), which see the
 * client's bytes before anything else in authd does.  The first input byte
 * chooses: even, the whole rest is one PLAIN message for
 * sasl_plain_parse(); odd, the rest drives an exchange (bit 1: PLAIN or
 * LOGIN) as a series of responses, each a 2-byte big-endian length and
 * that many bytes (length 0xffff: no response).  Checked: a complete
 * exchange holds a valid user and a password of the length it says with
 * no NUL; a challenge is one the mechanism may send; nothing after the end.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "authd/sasl.h"

#include "common/banned.h"

#define FUZZ_CHECK(cond) do {						\
	if (!(cond))							\
		__builtin_trap();					\
} while (0)

static void
fuzz_done(const struct sasl_exchange *x)
{
	FUZZ_CHECK(x->state == SASL_S_DONE);
	FUZZ_CHECK(x->user != NULL && x->password != NULL);
	FUZZ_CHECK(sasl_user_valid((const uint8_t *)x->user, strlen(x->user)));
	FUZZ_CHECK(x->password_len >= 1 && x->password_len <= PASSWD_MAX);
	FUZZ_CHECK(strlen(x->password) == x->password_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sasl_exchange	*x;
	const uint8_t		*ch, *resp;
	const char		*error;
	char			*user, *pass;
	size_t			 chlen, plen, pos, len;
	int			 ret = 0;

	if (size == 0)
		return 0;
	if ((data[0] & 1) == 0) {
		if (sasl_plain_parse(data + 1, size - 1, &user, &pass, &plen,
		    &error) == 0) {
			FUZZ_CHECK(sasl_user_valid((const uint8_t *)user,
			    strlen(user)));
			FUZZ_CHECK(strlen(pass) == plen && plen > 0);
			free(user);
			free(pass);
		}
		return 0;
	}
	x = sasl_new((data[0] & 2) != 0 ? SASL_MECH_LOGIN : SASL_MECH_PLAIN);
	for (pos = 1; pos + 2 <= size && ret != 1 && ret != -1;) {
		len = (size_t)data[pos] << 8 | data[pos + 1];
		pos += 2;
		if (len == 0xffff) {
			resp = NULL;
			len = 0;
		} else {
			if (len > size - pos)
				len = size - pos;
			resp = data + pos;
			pos += len;
		}
		ret = sasl_step(x, resp, len, &ch, &chlen, &error);
		if (ret == 0)
			FUZZ_CHECK(chlen == 0 || (chlen == 9 &&
			    (memcmp(ch, "Username:", 9) == 0 ||
			    memcmp(ch, "Password:", 9) == 0)));
		else if (ret == 1)
			fuzz_done(x);
		else
			FUZZ_CHECK(ret == -1 && x->state == SASL_S_FAILED);
	}
	if (ret == 1 || ret == -1)
		FUZZ_CHECK(sasl_step(x, data, size, &ch, &chlen, &error) == -1);
	sasl_free(&x);
	return 0;
}

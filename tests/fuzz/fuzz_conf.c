/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer target for the postern.conf parser: arbitrary bytes (NUL,
 * control bytes, huge lines, broken continuations, odd names) go to
 * conf_parse(), and whatever comes back, a configuration or the list of
 * problems, is rendered and freed, so ASan sees every allocation.
 */
/* fuzz-sources: common/conf.c common/conf_defs.c common/passwd.c common/buf.c common/cidr.c common/error.c common/file.c common/log.c common/net.c common/str.c common/xmalloc.c */
/* fuzz-libs: -lcrypt -lcrypto -levent */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/conf.h"

#include "common/banned.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct postern_config *c;
	struct conf_errors e;
	size_t	 i;
	char	*v;

	c = conf_parse("/etc/postern", "fuzz.conf", (const char *)data, size,
	    &e);
	if (c != NULL) {
		/* Every value renders; the services' too. */
		for (i = 0; i < conf_ndefs; i++) {
			v = conf_value_str(c, conf_defs[i].name);
			free(v);
		}
		for (i = 0; i < c->norigins; i++) {
			v = conf_value_str(c, c->origins[i].name);
			if (v == NULL)
				abort();	/* a name set must render */
			free(v);
		}
	} else if (e.count == 0)
		abort();		/* refused without a reason */
	conf_free(&c);
	conf_errors_deinit(&e);
	return 0;
}

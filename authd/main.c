/* SPDX-License-Identifier: ISC */
/* stub: being written */
#include "config.h"
int main(void) { return 1; }

/* SPDX-License-Identifier: ISC */
/* stub: being written */
#include "config.h"

/* SPDX-License-Identifier: ISC */
/* stub: being written */

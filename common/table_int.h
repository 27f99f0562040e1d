/* SPDX-License-Identifier: ISC */
#ifndef POSTERN_TABLE_INT_H
#define POSTERN_TABLE_INT_H
#endif

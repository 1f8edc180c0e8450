/* Shared by the probe files of kerndat; not for other users. */
#ifndef CRL_KERNDAT_INT_H
#define CRL_KERNDAT_INT_H

#include <stddef.h>

#include "kerndat.h"

void kd_set(struct kerndat *kd, enum kd_feat f, bool have, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Reads a small text file, trailing newlines stripped. 0 or -errno. */
int kd_read_file(const char *path, char *buf, size_t len);

void kd_probe_uffd(struct kerndat *kd);
/* After kd_probe_uffd: the wp-async check uses what it found. */
void kd_probe_pagemap(struct kerndat *kd);

#endif

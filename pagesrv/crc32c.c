/* frame_csum: CRC-32C (Castagnoli, reflected, as iSCSI and ext4 use it), slice-by-8 in software.
 * The tables are built once on first use; after that they are read-only. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <endian.h>

#include "pagestore.h"

#define CRC32C_POLY 0x82f63b78u /* 0x1edc6f41 bit-reversed */

static uint32_t crc_tab[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	uint32_t c;
	int i, k;

	for (i = 0; i < 256; i++) {
		c = i;
		for (k = 0; k < 8; k++)
			c = (c >> 1) ^ ((c & 1) ? CRC32C_POLY : 0);
		crc_tab[0][i] = c;
	}
	for (i = 0; i < 256; i++) {
		c = crc_tab[0][i];
		for (k = 1; k < 8; k++) {
			c = (c >> 8) ^ crc_tab[0][c & 0xff];
			crc_tab[k][i] = c;
		}
	}
}

uint32_t frame_csum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint32_t crc = 0xffffffffu;

	pthread_once(&crc_once, crc_init);
	while (len && ((uintptr_t)b & 7)) {
		crc = (crc >> 8) ^ crc_tab[0][(crc ^ *b++) & 0xff];
		len--;
	}
	while (len >= 8) {
		uint32_t lo, hi;

		memcpy(&lo, b, 4);
		memcpy(&hi, b + 4, 4);
		lo = le32toh(lo) ^ crc;
		hi = le32toh(hi);
		crc = crc_tab[7][lo & 0xff] ^ crc_tab[6][(lo >> 8) & 0xff] ^
		      crc_tab[5][(lo >> 16) & 0xff] ^ crc_tab[4][lo >> 24] ^ crc_tab[3][hi & 0xff] ^
		      crc_tab[2][(hi >> 8) & 0xff] ^ crc_tab[1][(hi >> 16) & 0xff] ^
		      crc_tab[0][hi >> 24];
		b += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ crc_tab[0][(crc ^ *b++) & 0xff];
	return ~crc;
}

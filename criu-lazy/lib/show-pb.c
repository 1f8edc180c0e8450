/* The generic protobuf-c walker of show: every field of any message, by its descriptor, to text
 * or JSON; and a wire-format scanner that says why a record does not decode. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "show.h"
#include "pagemap.pb-c.h"
#include "mm.pb-c.h"

#define BYTES_SHOWN 32 /* longer bytes fields are cut, with their length */
#define MAX_DEPTH 32

void sbuf_printf(struct sbuf *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (s->oom)
		return;
	for (;;) {
		size_t room = s->cap - s->len;

		va_start(ap, fmt);
		n = vsnprintf(s->buf ? s->buf + s->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			s->oom = true;
			return;
		}
		if ((size_t)n < room) {
			s->len += n;
			return;
		}
		size_t cap = s->cap ? s->cap * 2 : 4096;
		char *nb;

		while (cap - s->len <= (size_t)n)
			cap *= 2;
		nb = realloc(s->buf, cap);
		if (!nb) {
			s->oom = true;
			return;
		}
		s->buf = nb;
		s->cap = cap;
	}
}

void sbuf_free(struct sbuf *s)
{
	free(s->buf);
	memset(s, 0, sizeof(*s));
}

/* ---- how a field is printed ---- */

struct bit_name {
	uint64_t bit;
	const char *name;
};

static const struct bit_name prot_bits[] = {
    {PROT_READ, "READ"},
    {PROT_WRITE, "WRITE"},
    {PROT_EXEC, "EXEC"},
    {0, NULL},
};

static const struct bit_name map_bits[] = {
    {MAP_SHARED, "SHARED"},	  {MAP_PRIVATE, "PRIVATE"},
    {MAP_FIXED, "FIXED"},	  {MAP_ANONYMOUS, "ANONYMOUS"},
    {MAP_GROWSDOWN, "GROWSDOWN"}, {MAP_NORESERVE, "NORESERVE"},
    {MAP_HUGETLB, "HUGETLB"},	  {0, NULL},
};

/* Fields whose bits have names: an enum of bit values, or a table. */
static const struct {
	const ProtobufCMessageDescriptor *msg;
	const char *field;
	const ProtobufCEnumDescriptor *bits_enum;
	const struct bit_name *bits;
} named_bits[] = {
    {&pagemap_entry__descriptor, "flags", &pagemap_flags__descriptor, NULL},
    {&vma_entry__descriptor, "status", &vma_status__descriptor, NULL},
    {&vma_entry__descriptor, "prot", NULL, prot_bits},
    {&vma_entry__descriptor, "flags", NULL, map_bits},
};

static bool ends_with(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);

	return ls >= lx && !strcmp(s + ls - lx, suffix);
}

/* File modes and umasks read best in octal (text only: JSON keeps them plain numbers). */
static bool is_octal(const ProtobufCFieldDescriptor *f)
{
	return (f->type == PROTOBUF_C_TYPE_UINT32 || f->type == PROTOBUF_C_TYPE_FIXED32) &&
	       (!strcmp(f->name, "umask") || !strcmp(f->name, "mode"));
}

/* Addresses, masks and flags read best in hex. */
static bool is_hex(const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *f)
{
	static const char *const exact[] = {
	    "ip",
	    "sp",
	    "prot",
	    "secbits",
	    "personality",
	    "signature",
	    "shmid",
	    "vaddr",
	    "start",
	    "end",
	    "pgoff",
	    "dev",
	    "handler",
	    "restorer",
	    "robust_list",
	    "clear_tid_addr",
	    "rseq_abi_pointer",
	};
	static const char *const suffixes[] = {"flags",	 "status", "madv",  "mask",
					       "sigset", "csum",   "_base", "_addr"};
	size_t i;

	switch (f->type) {
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_FIXED64:
		break;
	default:
		return false;
	}
	if (is_octal(f))
		return false;
	if (!strcmp(d->name, "user_x86_regs_entry"))
		return true;
	if (!strncmp(f->name, "cap_", 4) || !strncmp(f->name, "mm_", 3))
		return true;
	for (i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
		if (!strcmp(f->name, exact[i]))
			return true;
	for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
		if (ends_with(f->name, suffixes[i]))
			return true;
	return false;
}

/* " (A|B|0x40)" after a flags value, when the field's bits have names. */
static void bit_names(struct sbuf *s, const ProtobufCMessageDescriptor *d,
		      const ProtobufCFieldDescriptor *f, uint64_t v)
{
	uint64_t left = v;
	const char *sep = "";
	size_t i, j;

	for (i = 0; i < sizeof(named_bits) / sizeof(named_bits[0]); i++)
		if (named_bits[i].msg == d && !strcmp(named_bits[i].field, f->name))
			break;
	if (i == sizeof(named_bits) / sizeof(named_bits[0]) || !v)
		return;
	sbuf_printf(s, " (");
	if (named_bits[i].bits_enum) {
		const ProtobufCEnumDescriptor *e = named_bits[i].bits_enum;

		for (j = 0; j < e->n_values; j++) {
			uint64_t b = (uint64_t)e->values[j].value;

			if (b && (left & b) == b) {
				sbuf_printf(s, "%s%s", sep, e->values[j].name);
				sep = "|";
				left &= ~b;
			}
		}
	} else {
		const struct bit_name *bn;

		for (bn = named_bits[i].bits; bn->name; bn++) {
			if (left & bn->bit) {
				sbuf_printf(s, "%s%s", sep, bn->name);
				sep = "|";
				left &= ~bn->bit;
			}
		}
	}
	if (left)
		sbuf_printf(s, "%s0x%llx", sep, (unsigned long long)left);
	sbuf_printf(s, ")");
}

static size_t elem_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_ENUM:
	case PROTOBUF_C_TYPE_FLOAT:
		return 4;
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	default:
		return 8;
	}
}

/* Is the field present, and how many values (1 for singular fields). */
static size_t field_count(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const char *base = (const char *)m;
	const void *member = base + f->offset;

	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return *(const size_t *)(base + f->quantifier_offset);
	if (f->label == PROTOBUF_C_LABEL_REQUIRED)
		return f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_STRING
			   ? *(void *const *)member != NULL
			   : 1;
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
	if (f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_STRING)
		return *(void *const *)member != NULL;
	if (f->label == PROTOBUF_C_LABEL_NONE)
		return 1;
	return *(const protobuf_c_boolean *)(base + f->quantifier_offset) ? 1 : 0;
}

static const void *field_value(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
			       size_t i)
{
	const char *member = (const char *)m + f->offset;

	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return *(const char *const *)member + i * elem_size(f->type);
	return member;
}

static void hex_bytes(struct sbuf *s, const ProtobufCBinaryData *b)
{
	size_t i, n = b->len < BYTES_SHOWN ? b->len : BYTES_SHOWN;

	for (i = 0; i < n; i++)
		sbuf_printf(s, "%02x", b->data[i]);
	if (n < b->len)
		sbuf_printf(s, "... (%zu bytes)", b->len);
}

/* One scalar value. JSON puts hex numbers, bytes and enum names in strings. */
static void scalar(struct sbuf *s, const ProtobufCMessageDescriptor *d,
		   const ProtobufCFieldDescriptor *f, const void *v, bool json)
{
	const char *q = json ? "\"" : "";
	bool hex = is_hex(d, f);
	uint64_t u = 0;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		sbuf_printf(s, "%d", *(const int32_t *)v);
		return;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		sbuf_printf(s, "%lld", (long long)*(const int64_t *)v);
		return;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		u = *(const uint32_t *)v;
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		u = *(const uint64_t *)v;
		break;
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE: {
		double x =
		    f->type == PROTOBUF_C_TYPE_FLOAT ? *(const float *)v : *(const double *)v;

		if (json && !isfinite(x))
			sbuf_printf(s, "null");
		else
			sbuf_printf(s, "%.17g", x);
		return;
	}
	case PROTOBUF_C_TYPE_BOOL:
		sbuf_printf(s, "%s", *(const protobuf_c_boolean *)v ? "true" : "false");
		return;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumValue *ev =
		    protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)v);

		if (ev)
			sbuf_printf(s, "%s%s%s", q, ev->name, q);
		else
			sbuf_printf(s, "%d", *(const int *)v);
		return;
	}
	case PROTOBUF_C_TYPE_STRING: {
		const char *str = *(const char *const *)v;

		show_json_str(s, str, strlen(str));
		return;
	}
	case PROTOBUF_C_TYPE_BYTES:
		sbuf_printf(s, "%s", q);
		hex_bytes(s, v);
		sbuf_printf(s, "%s", q);
		return;
	default:
		sbuf_printf(s, "%s?%s", q, q);
		return;
	}
	if (!json && is_octal(f)) {
		sbuf_printf(s, "0%llo", (unsigned long long)u);
		return;
	}
	if (!hex) {
		sbuf_printf(s, "%llu", (unsigned long long)u);
		return;
	}
	sbuf_printf(s, "%s0x%llx", q, (unsigned long long)u);
	if (!json)
		bit_names(s, d, f, u);
	sbuf_printf(s, "%s", q);
}

static void pb_text(struct sbuf *s, const ProtobufCMessage *m, int indent, int depth)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	unsigned int i;
	size_t j, n;

	if (depth > MAX_DEPTH) {
		sbuf_printf(s, "%*s...\n", indent, "");
		return;
	}
	for (i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		bool rep = f->label == PROTOBUF_C_LABEL_REPEATED;

		n = field_count(m, f);
		if (!n)
			continue;
		if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
			for (j = 0; j < n; j++) {
				if (rep)
					sbuf_printf(s, "%*s%s[%zu]:\n", indent, "", f->name, j);
				else
					sbuf_printf(s, "%*s%s:\n", indent, "", f->name);
				pb_text(s, *(ProtobufCMessage *const *)field_value(m, f, j),
					indent + 2, depth + 1);
			}
			continue;
		}
		sbuf_printf(s, "%*s%s: %s", indent, "", f->name, rep ? "[" : "");
		for (j = 0; j < n; j++) {
			if (j)
				sbuf_printf(s, ", ");
			scalar(s, d, f, field_value(m, f, j), false);
		}
		sbuf_printf(s, "%s\n", rep ? "]" : "");
	}
}

void show_pb_text(struct sbuf *s, const ProtobufCMessage *m, int indent)
{
	pb_text(s, m, indent, 0);
}

static void pb_json(struct sbuf *s, const ProtobufCMessage *m, int indent, int depth)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const char *sep = "";
	unsigned int i;
	size_t j, n;

	if (depth > MAX_DEPTH) {
		sbuf_printf(s, "null");
		return;
	}
	sbuf_printf(s, "{");
	for (i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		bool rep = f->label == PROTOBUF_C_LABEL_REPEATED;
		bool msg = f->type == PROTOBUF_C_TYPE_MESSAGE;

		n = field_count(m, f);
		if (!n)
			continue;
		sbuf_printf(s, "%s\n%*s\"%s\": %s", sep, indent + 2, "", f->name, rep ? "[" : "");
		sep = ",";
		for (j = 0; j < n; j++) {
			if (rep && msg)
				sbuf_printf(s, "%s\n%*s", j ? "," : "", indent + 4, "");
			else if (j)
				sbuf_printf(s, ", ");
			if (msg)
				pb_json(s, *(ProtobufCMessage *const *)field_value(m, f, j),
					indent + (rep ? 4 : 2), depth + 1);
			else
				scalar(s, d, f, field_value(m, f, j), true);
		}
		if (rep && msg)
			sbuf_printf(s, "\n%*s]", indent + 2, "");
		else if (rep)
			sbuf_printf(s, "]");
	}
	if (*sep)
		sbuf_printf(s, "\n%*s}", indent, "");
	else
		sbuf_printf(s, "}");
}

void show_pb_json(struct sbuf *s, const ProtobufCMessage *m, int indent)
{
	pb_json(s, m, indent, 0);
}

/* Length of the valid UTF-8 sequence at p (at most len bytes), or 0. */
static size_t utf8_len(const unsigned char *p, size_t len)
{
	size_t n, i;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0)
		n = 2, cp = p[0] & 0x1f;
	else if ((p[0] & 0xf0) == 0xe0)
		n = 3, cp = p[0] & 0x0f;
	else if ((p[0] & 0xf8) == 0xf0)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (n > len)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	/* overlong forms, surrogates and values past U+10FFFF are not UTF-8 */
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

void show_json_str(struct sbuf *s, const char *str, size_t len)
{
	const unsigned char *p = (const unsigned char *)str;
	size_t i = 0, n;

	sbuf_printf(s, "\"");
	while (i < len) {
		unsigned char c = p[i];

		if (c == '"' || c == '\\') {
			sbuf_printf(s, "\\%c", c);
		} else if (c == '\n') {
			sbuf_printf(s, "\\n");
		} else if (c == '\t') {
			sbuf_printf(s, "\\t");
		} else if (c < 0x20 || c == 0x7f) {
			sbuf_printf(s, "\\u%04x", c);
		} else if (c >= 0x80) {
			n = utf8_len(p + i, len - i);
			if (!n) {
				sbuf_printf(s, "\\ufffd");
				i++;
				continue;
			}
			sbuf_printf(s, "%.*s", (int)n, str + i);
			i += n;
			continue;
		} else {
			sbuf_printf(s, "%c", c);
		}
		i++;
	}
	sbuf_printf(s, "\"");
}

/* ---- why a record does not decode ---- */

static int varint(const uint8_t *p, size_t len, size_t *off, uint64_t *v)
{
	unsigned int shift = 0;

	*v = 0;
	while (*off < len && shift < 70) {
		uint8_t b = p[(*off)++];

		*v |= (uint64_t)(b & 0x7f) << (shift < 64 ? shift : 63);
		if (!(b & 0x80))
			return 0;
		shift += 7;
	}
	return -EBADMSG;
}

static int wire_type_of(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 1;
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
		return 5;
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_BYTES:
	case PROTOBUF_C_TYPE_MESSAGE:
		return 2;
	default:
		return 0;
	}
}

static int diagnose(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len, size_t *bad,
		    char *why, size_t wlen, int depth)
{
	unsigned char seen[256] = {0};
	size_t off = 0, start;
	unsigned int i;
	uint64_t key, l;

	if (depth > MAX_DEPTH) {
		*bad = 0;
		snprintf(why, wlen, "messages nested too deep");
		return 0;
	}
	while (off < len) {
		const ProtobufCFieldDescriptor *f;
		unsigned int wt;

		start = off;
		if (varint(p, len, &off, &key)) {
			*bad = start;
			snprintf(why, wlen, "%s: truncated field key", d->name);
			return 0;
		}
		wt = key & 7;
		if ((key >> 3) == 0 || (key >> 3) > 0x1fffffff) {
			*bad = start;
			snprintf(why, wlen, "%s: invalid field number", d->name);
			return 0;
		}
		f = protobuf_c_message_descriptor_get_field(d, key >> 3);
		if (f && wt != (unsigned int)wire_type_of(f->type) &&
		    !(wt == 2 && f->label == PROTOBUF_C_LABEL_REPEATED)) {
			*bad = start;
			snprintf(why, wlen, "%s.%s: wire type %u, expected %d", d->name, f->name,
				 wt, wire_type_of(f->type));
			return 0;
		}
		switch (wt) {
		case 0:
			if (varint(p, len, &off, &l)) {
				*bad = start;
				snprintf(why, wlen, "%s: truncated varint", d->name);
				return 0;
			}
			break;
		case 1:
		case 5:
			if (len - off < (wt == 1 ? 8u : 4u)) {
				*bad = start;
				snprintf(why, wlen, "%s: truncated fixed-size field", d->name);
				return 0;
			}
			off += wt == 1 ? 8 : 4;
			break;
		case 2:
			if (varint(p, len, &off, &l) || l > len - off) {
				*bad = start;
				snprintf(why, wlen,
					 "%s%s%s: length runs past the end of the record", d->name,
					 f ? "." : "", f ? f->name : "");
				return 0;
			}
			if (f && f->type == PROTOBUF_C_TYPE_MESSAGE &&
			    !diagnose(f->descriptor, p + off, l, bad, why, wlen, depth + 1)) {
				*bad = *bad == SHOW_PB_WHOLE ? off : *bad + off;
				return 0;
			}
			off += l;
			break;
		default:
			*bad = start;
			snprintf(why, wlen, "%s: unsupported wire type %u", d->name, wt);
			return 0;
		}
		if (f) {
			i = f - d->fields;
			if (i < sizeof(seen))
				seen[i] = 1;
		}
	}
	for (i = 0; i < d->n_fields && i < sizeof(seen); i++) {
		if (d->fields[i].label == PROTOBUF_C_LABEL_REQUIRED && !seen[i]) {
			*bad = SHOW_PB_WHOLE;
			snprintf(why, wlen, "required field %s.%s is missing", d->name,
				 d->fields[i].name);
			return 0;
		}
	}
	return -ENOENT;
}

int show_pb_diagnose(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len, size_t *bad,
		     char *why, size_t wlen)
{
	*bad = 0;
	return diagnose(d, p, len, bad, why, wlen, 0);
}

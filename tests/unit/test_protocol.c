/* Unit tests for protocol/: packet builder and reader round trips, header framing, startup parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "protocol/pktbuf.h"
#include "protocol/reader.h"
#include "protocol/startup.h"

static void test_builder_reader_roundtrip(void **state)
{
	struct pktbuf pb;
	struct pktreader r;
	uint8_t type, u8;
	uint16_t u16;
	uint32_t len, u32;
	const char *s;
	size_t slen;
	const uint8_t *bytes;

	(void)state;
	pkt_init(&pb);
	pkt_begin(&pb, 'T');
	pkt_put_u8(&pb, 0xab);
	pkt_put_u16(&pb, 0x1234);
	pkt_put_u32(&pb, 0xdeadbeef);
	pkt_put_cstring(&pb, "hello");
	pkt_put_bytes(&pb, "xyz", 3);
	pkt_end(&pb);
	assert_true(pkt_ok(&pb));
	assert_int_equal(pb.len, 5 + 1 + 2 + 4 + 6 + 3);

	assert_int_equal(pkt_read_header(pb.data, pb.len, &type, &len), PKT_HDR_OK);
	assert_int_equal(type, 'T');
	assert_int_equal(len, pb.len - 5);
	rd_init(&r, pb.data + 5, len);
	assert_true(rd_u8(&r, &u8));
	assert_int_equal(u8, 0xab);
	assert_true(rd_u16(&r, &u16));
	assert_int_equal(u16, 0x1234);
	assert_true(rd_u32(&r, &u32));
	assert_int_equal(u32, 0xdeadbeef);
	assert_true(rd_cstring(&r, &s, &slen));
	assert_string_equal(s, "hello");
	assert_int_equal(slen, 5);
	assert_false(rd_at_end(&r));
	assert_true(rd_bytes(&r, 3, &bytes));
	assert_memory_equal(bytes, "xyz", 3);
	assert_true(rd_at_end(&r));
	/* Nothing left: every get fails and moves nothing. */
	assert_false(rd_u8(&r, &u8));
	assert_false(rd_u32(&r, &u32));
	assert_false(rd_bytes(&r, 1, &bytes));
	pkt_free(&pb);
}

static void test_reader_rejects_short_and_unterminated(void **state)
{
	static const uint8_t body[] = { 'a', 'b', 'c' };
	struct pktreader r;
	const char *s;
	uint32_t u32;
	uint16_t u16;

	(void)state;
	rd_init(&r, body, sizeof(body));
	assert_false(rd_cstring(&r, &s, NULL));   /* no NUL inside the body */
	assert_int_equal(r.pos, 0);
	assert_false(rd_u32(&r, &u32));
	assert_int_equal(r.pos, 0);
	assert_true(rd_u16(&r, &u16));
	assert_int_equal(rd_remaining(&r), 1);
}

static void test_header_lengths(void **state)
{
	uint8_t type;
	uint32_t len;
	static const uint8_t below4[] = { 'Q', 0, 0, 0, 3 };
	static const uint8_t exactly4[] = { 'S', 0, 0, 0, 4 };
	static const uint8_t huge[] = { 'Q', 0xff, 0xff, 0xff, 0xff };
	static const uint8_t big_ok[] = { 'd', 0x7f, 0xff, 0xff, 0xff };

	(void)state;
	assert_int_equal(pkt_read_header(exactly4, 4, &type, &len), PKT_HDR_NEED_MORE);
	assert_int_equal(pkt_read_header(below4, 5, &type, &len), PKT_HDR_BAD);
	assert_int_equal(pkt_read_header(huge, 5, &type, &len), PKT_HDR_BAD);
	assert_int_equal(pkt_read_header(exactly4, 5, &type, &len), PKT_HDR_OK);
	assert_int_equal(len, 0);
	assert_int_equal(pkt_read_header(big_ok, 5, &type, &len), PKT_HDR_OK);
	assert_int_equal(len, 0x7fffffff - 4);
	assert_true(pkt_frontend_type_small('S'));
	assert_true(pkt_frontend_type_small('c'));
	assert_true(pkt_frontend_type_small('f'));
	assert_false(pkt_frontend_type_small('Q'));
	assert_false(pkt_frontend_type_small('d'));
	assert_true(pkt_frontend_type_known('P'));
	assert_false(pkt_frontend_type_known('p'));   /* only valid during authentication */
	assert_false(pkt_frontend_type_known('!'));
	assert_false(pkt_frontend_type_known(0));
}

static void test_builder_sticky_error(void **state)
{
	struct pktbuf pb;

	(void)state;
	pkt_init(&pb);
	pkt_end(&pb);                  /* no open message */
	assert_false(pkt_ok(&pb));
	pkt_put_u32(&pb, 1);           /* ignored once failed */
	assert_int_equal(pb.len, 0);
	pkt_reset(&pb);
	pkt_begin(&pb, 'Q');
	assert_false(pkt_ok(&pb));     /* still open */
	pkt_begin(&pb, 'Q');           /* nested open */
	pkt_end(&pb);
	assert_false(pkt_ok(&pb));
	pkt_reset(&pb);
	pkt_put_bytes(&pb, "x", PKT_MAX_LEN + 1);
	assert_false(pkt_ok(&pb));
	pkt_free(&pb);
}

static void test_error_message_layout(void **state)
{
	static const uint8_t want[] = "E\0\0\0\x2b" "SFATAL\0VFATAL\0C53300\0Msorry, too many\0\0";
	struct pktbuf pb;

	(void)state;
	pkt_init(&pb);
	pkt_error(&pb, "FATAL", "53300", "sorry, too many", NULL, NULL);
	assert_true(pkt_ok(&pb));
	assert_int_equal(pb.len, sizeof(want) - 1);
	assert_memory_equal(pb.data, want, pb.len);
	pkt_reset(&pb);
	pkt_ready(&pb, 'I');
	pkt_command_complete(&pb, "INSERT 0 1");
	assert_true(pkt_ok(&pb));
	assert_memory_equal(pb.data, "Z\0\0\0\x05I" "C\0\0\0\x0fINSERT 0 1\0", 6 + 16);
	pkt_free(&pb);
}

/* Builds a startup-family packet from a NULL-terminated list of parameters. */
static size_t build_startup(uint8_t *out, size_t cap, uint32_t code, const char *const *params)
{
	struct pktbuf pb;
	size_t n;

	pkt_init(&pb);
	pkt_begin(&pb, 0);
	pkt_put_u32(&pb, code);
	for (; params && *params; params++)
		pkt_put_cstring(&pb, *params);
	if (params)
		pkt_put_u8(&pb, 0);
	pkt_end(&pb);
	assert_true(pkt_ok(&pb));
	n = pb.len;
	assert_true(n <= cap);
	memcpy(out, pb.data, n);
	pkt_free(&pb);
	return n;
}

static void test_startup_message(void **state)
{
	static const char *const params[] = { "user", "alice", "database", "shop",
					      "application_name", "psql", NULL };
	uint8_t buf[256];
	struct startup_packet sp;
	const char *why;
	size_t n;

	(void)state;
	n = build_startup(buf, sizeof(buf), 196608, params);
	assert_int_equal(startup_packet_length(buf, 3), 0);
	assert_int_equal(startup_packet_length(buf, n), (long)n);
	assert_true(startup_parse(buf, n, &sp, &why));
	assert_int_equal(sp.kind, STARTUP_MESSAGE);
	assert_int_equal(sp.nparams, 3);
	assert_string_equal(sp.user, "alice");
	assert_string_equal(sp.database, "shop");
	assert_string_equal(sp.params[2].name, "application_name");
	assert_string_equal(sp.params[2].value, "psql");
}

static void test_startup_database_defaults_to_user(void **state)
{
	static const char *const params[] = { "user", "bob", NULL };
	uint8_t buf[64];
	struct startup_packet sp;
	const char *why;
	size_t n = build_startup(buf, sizeof(buf), 196608, params);

	(void)state;
	assert_true(startup_parse(buf, n, &sp, &why));
	assert_string_equal(sp.database, "bob");
}

static void test_startup_special_requests(void **state)
{
	uint8_t buf[64];
	struct startup_packet sp;
	const char *why;
	size_t n;
	struct pktbuf pb;

	(void)state;
	n = build_startup(buf, sizeof(buf), PROTO_SSL_REQUEST, NULL);
	assert_int_equal(n, 8);
	assert_true(startup_parse(buf, n, &sp, &why));
	assert_int_equal(sp.kind, STARTUP_SSL);
	n = build_startup(buf, sizeof(buf), PROTO_GSSENC_REQUEST, NULL);
	assert_true(startup_parse(buf, n, &sp, &why));
	assert_int_equal(sp.kind, STARTUP_GSSENC);

	pkt_init(&pb);
	pkt_cancel_request(&pb, 4242, 0x01020304);
	assert_true(pkt_ok(&pb));
	assert_int_equal(pb.len, 16);
	assert_true(startup_parse(pb.data, pb.len, &sp, &why));
	assert_int_equal(sp.kind, STARTUP_CANCEL);
	assert_int_equal(sp.cancel_pid, 4242);
	assert_int_equal(sp.cancel_key, 0x01020304);
	/* A CancelRequest with a byte too many or too few is malformed. */
	assert_false(startup_parse(pb.data, 15, &sp, &why));
	pkt_free(&pb);
}

/* How PostgreSQL's ProcessStartupPacket answers: silently closing (a bad
 * length), a FATAL in the pre-3.0 format (protocol 2), or a v3 FATAL. */
enum answer { SILENT, V2, V3 };

struct bad_startup {
	const char *name;
	uint8_t bytes[48];
	size_t len;
	const char *sqlstate;
	enum answer answer;
};

static void test_startup_rejects(void **state)
{
	static const struct bad_startup cases[] = {
		{ "length below 8", { 0, 0, 0, 7, 0, 3, 0 }, 7, "08P01", SILENT },
		{ "declared length differs", { 0, 0, 0, 20, 0, 3, 0, 0, 0 }, 9, "08P01", SILENT },
		{ "protocol 2", { 0, 0, 0, 9, 0, 2, 0, 0, 0 }, 9, "0A000", V2 },
		{ "protocol 4", { 0, 0, 0, 9, 0, 4, 0, 0, 0 }, 9, "0A000", V3 },
		{ "no user", { 0, 0, 0, 9, 0, 3, 0, 0, 0 }, 9, "28000", V3 },
		{ "empty user", { 0, 0, 0, 15, 0, 3, 0, 0, 'u', 's', 'e', 'r', 0, 0, 0 }, 15, "28000", V3 },
		{ "unterminated name", { 0, 0, 0, 12, 0, 3, 0, 0, 'u', 's', 'e', 'r' }, 12, "08P01", V3 },
		{ "value without terminator", { 0, 0, 0, 15, 0, 3, 0, 0, 'u', 's', 'e', 'r', 0, 'x', 'y' }, 15, "08P01", V3 },
		{ "missing final NUL", { 0, 0, 0, 15, 0, 3, 0, 0, 'u', 's', 'e', 'r', 0, 'x', 0 }, 15, "08P01", V3 },
		{ "bytes after the final NUL", { 0, 0, 0, 17, 0, 3, 0, 0, 'u', 's', 'e', 'r', 0, 'x', 0, 0, 'z' }, 17, "08P01", V3 },
		{ "CancelRequest too short", { 0, 0, 0, 12, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 1 }, 12, "08P01", SILENT },
	};
	struct startup_packet sp;
	const char *why;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool ok = startup_parse(cases[i].bytes, cases[i].len, &sp, &why);
		if (ok)
			fail_msg("case '%s' accepted", cases[i].name);
		if (strcmp(sp.sqlstate, cases[i].sqlstate) != 0)
			fail_msg("case '%s': sqlstate %s, want %s (%s)", cases[i].name, sp.sqlstate,
				 cases[i].sqlstate, why);
		if (sp.silent != (cases[i].answer == SILENT) || sp.v2 != (cases[i].answer == V2))
			fail_msg("case '%s': answered the wrong way", cases[i].name);
	}
	/* protocol versions are named as PostgreSQL names them */
	{
		static const uint8_t v4_1[] = { 0, 0, 0, 9, 0, 4, 0, 1, 0 };

		assert_false(startup_parse(v4_1, sizeof(v4_1), &sp, &why));
		assert_string_equal(why, "unsupported frontend protocol 4.1: server supports 3.0 to 3.0");
	}
	/* an SSLRequest is answered whatever follows its code in the packet */
	{
		static const uint8_t ssl_body[] = { 0, 0, 0, 9, 0x04, 0xd2, 0x16, 0x2f, 0 };

		assert_true(startup_parse(ssl_body, sizeof(ssl_body), &sp, &why));
		assert_int_equal(sp.kind, STARTUP_SSL);
	}
	/* Length word checks before anything is buffered. */
	{
		static const uint8_t absurd[] = { 0x7f, 0xff, 0xff, 0xff };
		static const uint8_t just_over[] = { 0, 0, 0x27, 0x11 };
		static const uint8_t at_limit[] = { 0, 0, 0x27, 0x10 };
		assert_int_equal(startup_packet_length(absurd, 4), -1);
		assert_int_equal(startup_packet_length(just_over, 4), -1);
		assert_int_equal(startup_packet_length(at_limit, 4), 10000);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_builder_reader_roundtrip),
		cmocka_unit_test(test_reader_rejects_short_and_unterminated),
		cmocka_unit_test(test_header_lengths),
		cmocka_unit_test(test_builder_sticky_error),
		cmocka_unit_test(test_error_message_layout),
		cmocka_unit_test(test_startup_message),
		cmocka_unit_test(test_startup_database_defaults_to_user),
		cmocka_unit_test(test_startup_special_requests),
		cmocka_unit_test(test_startup_rejects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

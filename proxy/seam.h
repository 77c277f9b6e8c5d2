/* Included last by every proxy module: each side of the session seam is kept off the other's fields. */

/*
 * A module of the session core (client.c, clogin.c, backend.c, daemon.c,
 * listen.c, logincache.c, login.c, sock.c) defines SEAM_CORE first: it may
 * not name the interception session (`is`: isess.h's hooks say what it must
 * know). An interception module (isess.h's list) defines SEAM_INTERCEPTION:
 * it may not name the fields a session keeps for itself -- its backend,
 * socket, read holds, login, key, stream state, the daemon's session list --
 * and reaches them through client.h's functions. Poisoned identifiers are a
 * compile error; scripts/structure.sh checks that every module includes
 * this header last, on its side.
 */
#if defined(SEAM_CORE)
#pragma GCC poison is
#elif defined(SEAM_INTERCEPTION)
#pragma GCC poison be sk holds stream_left backendless warm warm_refused cancel_on_join idle_ms idle_ev
#pragma GCC poison refusal_len key_pid key_secret close_reason probed_only canceller doom_ev doom_state
#pragma GCC poison doom_msg counted md5_salt scram gone auth_ev terminated clients lingering cancellers
#pragma GCC poison listeners nlisteners
#else
#error "define SEAM_CORE or SEAM_INTERCEPTION before including proxy/seam.h"
#endif

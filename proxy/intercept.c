/* INSERT interception in a client session: which messages to inspect, handing rows to the sink. */
#include "proxy/intercept.h"

#include "proxy/client.h"
#include "proxy/daemon.h"

bool intercept_wanted(const struct client *c, uint8_t type, uint32_t len)
{
	(void)len;
	return c->d->sink != NULL && type == 'Q';
}

enum intercept_result intercept_message(struct client *c, uint8_t type, struct evbuffer *in,
					size_t total)
{
	(void)c;
	(void)type;
	(void)in;
	(void)total;
	return INTERCEPT_FORWARD;
}

void intercept_forget(struct reply *r)
{
	(void)r;
}

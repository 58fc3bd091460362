#include "common.h"
#include "daily.h"

#include <stdlib.h>

int daily_incrv(struct rds *r, int64_t wall_ms, size_t n, const char *const *fields,
		const long long *by, struct err *err)
{
	char date[11];
	char *key;
	size_t sent = 0;
	int rc = 0;

	if (!n)
		return 0;
	clock_utc_date(wall_ms, date);
	key = keys_metrics_day(date);
	for (size_t i = 0; i < n; i++, sent++)
		if (rds_append(r, err, "HINCRBY %s %s %lld", key, fields[i], by[i]) < 0)
			break;
	if (sent == n && rds_append(r, err, "EXPIRE %s %d", key, KEYS_METRICS_TTL_S) == 0)
		sent++;
	if (sent != n + 1)
		rc = -1;
	/* read every queued reply so the connection stays in step */
	for (size_t i = 0; i < sent; i++) {
		redisReply *rep = rds_reply(r, err);
		if (!rep) {
			rc = -1;
			break;
		}
		if (rep->type == REDIS_REPLY_ERROR) {
			err_set(err, ERR_REDIS, "%s", rep->str);
			rc = -1;
		}
		freeReplyObject(rep);
	}
	free(key);
	return rc;
}

int daily_incr(struct rds *r, const char *field, long long by)
{
	return daily_incrv(r, clock_wall_ms(), 1, &field, &by, NULL);
}

#include "common.h"
#include "queue/daily.h"

#include <stdlib.h>

int daily_append(struct rds *r, int64_t wall_ms, size_t n, const char *const *fields,
		 const long long *by, int *queued, struct err *err)
{
	char date[11];
	char *key;
	int rc = -1;

	*queued = 0;
	if (!n)
		return 0;
	clock_utc_date(wall_ms, date);
	key = keys_metrics_day(date);
	for (size_t i = 0; i < n; i++, (*queued)++)
		if (rds_append(r, err, "HINCRBY %s %s %lld", key, fields[i], by[i]) < 0)
			goto out;
	if (rds_append(r, err, "EXPIRE %s %d", key, KEYS_METRICS_TTL_S) < 0)
		goto out;
	(*queued)++;
	rc = 0;
out:
	free(key);
	return rc;
}

int daily_read_replies(struct rds *r, int queued, struct err *err)
{
	int rc = 0;

	/* read every queued reply so the connection stays in step */
	for (int i = 0; i < queued; i++) {
		redisReply *rep = rds_reply(r, err);
		if (!rep)
			return -1; /* the connection was dropped with the rest of the pipeline */
		if (rep->type == REDIS_REPLY_ERROR) {
			err_set(err, ERR_REDIS, "%s", rep->str);
			rc = -1;
		}
		freeReplyObject(rep);
	}
	return rc;
}

int daily_incrv(struct rds *r, int64_t wall_ms, size_t n, const char *const *fields,
		const long long *by, struct err *err)
{
	int queued, rc = daily_append(r, wall_ms, n, fields, by, &queued, err);

	if (daily_read_replies(r, queued, rc < 0 ? NULL : err) < 0)
		rc = -1;
	return rc;
}

int daily_incr(struct rds *r, const char *field, long long by)
{
	return daily_incrv(r, clock_wall_ms(), 1, &field, &by, NULL);
}

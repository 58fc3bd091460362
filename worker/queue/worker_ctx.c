#include "common.h"
#include "queue/worker_ctx.h"

int worker_ctx_init(struct worker_ctx *w, struct worker_env *env, int thread_no, int cmd_timeout_ms,
		    struct err *err)
{
	memset(w, 0, sizeof(*w));
	w->env = env;
	w->thread_no = thread_no;
	w->r = rds_new(env->cfg->redis_url, 1000, cmd_timeout_ms, err);
	if (!w->r)
		return -1;
	w->hc = http_client_new();
	w->hc_side = http_client_new();
	if (!w->hc || !w->hc_side) {
		err_set(err, ERR_IO, "cannot create an http client");
		worker_ctx_release(w);
		return -1;
	}
	w->http = http_client_transport(w->hc);
	w->side_http = http_client_transport(w->hc_side);
	return 0;
}

void worker_ctx_release(struct worker_ctx *w)
{
	rds_free(w->r);
	http_client_free(w->hc);
	http_client_free(w->hc_side);
	memset(w, 0, sizeof(*w));
}

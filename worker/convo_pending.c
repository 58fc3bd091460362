/*
 * Weak fallbacks for convo.h until history.c and memory.c land: no history,
 * no memories, nothing saved. Strong definitions override them at link time;
 * this file goes away then.
 */
#include "common.h"
#include "convo.h"

__attribute__((weak)) int convo_history(struct wctx *w, const struct tool_scope *scope,
					json_t *messages, struct err *err)
{
	(void)w, (void)scope, (void)messages, (void)err;
	return 0;
}

__attribute__((weak)) int convo_memories(struct wctx *w, const struct tool_scope *scope,
					 const char *question, json_t *messages,
					 struct tool_trace *trace, struct err *err)
{
	(void)w, (void)scope, (void)question, (void)messages, (void)trace, (void)err;
	return 0;
}

__attribute__((weak)) int convo_save_turn(struct wctx *w, const struct tool_scope *scope,
					  const char *question, json_t *turn_messages,
					  const char *answer, struct err *err)
{
	(void)w, (void)scope, (void)question, (void)turn_messages, (void)answer, (void)err;
	return 0;
}

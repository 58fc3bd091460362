/*
 * cli.h - haink-worker's verbs. main() loads and validates the configuration
 * and the agents file (exit 2 on a problem), then calls one verb.
 *
 * Each verb returns the process exit code: 0 ok, 1 runtime failure, 2 bad
 * usage or configuration; errors are one line on stderr naming what to fix.
 * argv[0] is the verb itself. env is fully built except env->kb, which verbs
 * that need the knowledge base open themselves (kb_open()).
 *
 * Owners: run, dlq, stats, healthcheck -> runtime_cli.c; ingest, kb -> kb_cli.c;
 * ask, doctor -> agent_cli.c; memory, chat -> memory_cli.c.
 */
#ifndef HAINK_CLI_H
#define HAINK_CLI_H

struct worker_env;

int cli_run(int argc, char **argv, struct worker_env *env);
int cli_healthcheck(int argc, char **argv, struct worker_env *env);
int cli_dlq(int argc, char **argv, struct worker_env *env);
int cli_stats(int argc, char **argv, struct worker_env *env);
int cli_ingest(int argc, char **argv, struct worker_env *env);
int cli_kb(int argc, char **argv, struct worker_env *env);
int cli_ask(int argc, char **argv, struct worker_env *env);
int cli_doctor(int argc, char **argv, struct worker_env *env);
int cli_memory(int argc, char **argv, struct worker_env *env);
int cli_chat(int argc, char **argv, struct worker_env *env);
/*
 * forget-user USER [--team T]: erases a person everywhere - memories (every
 * agent and namespace), answer records, their questions and the replies in
 * thread history, rate-limit counters, Dev UI sessions, dead letters - and
 * prints the counts. The way to honour a deletion request.
 */
int cli_forget_user(int argc, char **argv, struct worker_env *env);

#endif

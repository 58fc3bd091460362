/*
 * source.h - a source an answer cites: found by the agent's tools
 * (agent/tools.h records them in the run's trace), rendered by mrkdwn.c and
 * the reply sinks. Its own header so slack/ needs nothing from agent/.
 */
#ifndef HAINK_SLACK_SOURCE_H
#define HAINK_SLACK_SOURCE_H

struct tool_source {
	char *title; /* owned */
	char *url;   /* owned */
	double score;
};

#endif

/*
 * randid.h - random identifiers: answer ids (worker) and the ids of tasks
 * made without a Slack event (Dev UI questions and feedback, `ask`).
 *
 * Ids need to be unique, not secret. Thread-safe.
 */
#ifndef HAINK_RANDID_H
#define HAINK_RANDID_H

/* Characters randid_hex() writes, before its NUL. */
#define RANDID_HEX_LEN 32

/*
 * Writes RANDID_HEX_LEN lowercase hex digits from the kernel's random source
 * and a NUL into out. Without entropy (getrandom failing) the clock and the
 * buffer's address still make ids distinct per call site and moment.
 */
void randid_hex(char out[RANDID_HEX_LEN + 1]);

#endif

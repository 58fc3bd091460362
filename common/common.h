/*
 * common.h - the one include for every module of libcommon.a and its users.
 *
 * Pulls in the common modules' headers and, last, banned.h. Modules of api/
 * and worker/ include this first, then their own headers.
 */
#ifndef HAINK_COMMON_H
#define HAINK_COMMON_H

#define _GNU_SOURCE 1

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "xalloc.h"
#include "buf.h"
#include "clock.h"
#include "log.h"
#include "config.h"
#include "rds.h"
#include "keys.h"
#include "task.h"
#include "slack_sign.h"
#include "metrics.h"
#include "http.h"
#include "agents.h"
#include "form.h"
#include "randid.h"
#include "utf8.h"
#include "hex.h"
#include "stopwords.h"

#include "banned.h"

#endif

/*
 * banned.h - functions this codebase never calls.
 *
 * Included last by every .c file of the project (through common.h). Each banned
 * name is redefined into an identifier that does not exist, so a call fails to
 * compile with a message naming the replacement.
 *   strcpy, strcat, sprintf  -> struct buf (buf.h) or snprintf with a checked size
 *   strtok                   -> strtok_r or explicit scanning
 *   gmtime, localtime        -> gmtime_r, localtime_r
 */
#ifndef HAINK_BANNED_H
#define HAINK_BANNED_H

#define BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef strtok
#define strtok(x, y) BANNED(strtok)
#undef gmtime
#define gmtime(t) BANNED(gmtime)
#undef localtime
#define localtime(t) BANNED(localtime)

#endif

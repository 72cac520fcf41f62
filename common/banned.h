/*
 * banned.h: functions camvault never calls.
 *
 * Each is either unbounded (strcpy, strcat, sprintf, gets), not thread-safe (strtok) or silently
 * wrong on bad input (atoi). Include this last in every .c file; a use of any of them then fails
 * to compile with a message naming the function. Use snprintf, memcpy with a checked length,
 * strtok_r and strtol/strtoll with end-pointer and errno checks instead.
 */
#ifndef CV_BANNED_H
#define CV_BANNED_H

#define CV_BANNED(func) sorry_##func##_is_banned_in_camvault

#undef strcpy
#define strcpy(x, y) CV_BANNED(strcpy)
#undef strcat
#define strcat(x, y) CV_BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) CV_BANNED(strncpy)
#undef sprintf
#define sprintf(...) CV_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) CV_BANNED(vsprintf)
#undef strtok
#define strtok(x, y) CV_BANNED(strtok)
#undef atoi
#define atoi(x) CV_BANNED(atoi)
#undef atol
#define atol(x) CV_BANNED(atol)
#undef gets
#define gets(x) CV_BANNED(gets)

#endif

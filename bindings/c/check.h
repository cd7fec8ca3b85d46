/* The pass/fail counter shared by the C test programs. */
#ifndef IMPLICITEM_TEST_CHECK_H
#define IMPLICITEM_TEST_CHECK_H

#include <stdarg.h>
#include <stdio.h>

static int passed, failed;

/* Counts one check; prints the formatted message when it fails. */
static void check(int ok, const char *fmt, ...)
{
    if (ok) {
        passed++;
        return;
    }
    failed++;
    va_list args;
    va_start(args, fmt);
    printf("FAIL: ");
    vprintf(fmt, args);
    printf("\n");
    va_end(args);
}

#endif

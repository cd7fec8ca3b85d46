/* The loaded library's version equals the header's IE_VERSION_* macros. */
#include <implicitem.h>
#include <stdio.h>
#include <string.h>

#define IE_STR2(x) #x
#define IE_STR(x) IE_STR2(x)

int main(void)
{
    const char *expected = IE_STR(IE_VERSION_MAJOR) "." IE_STR(IE_VERSION_MINOR) "." IE_STR(IE_VERSION_PATCH);
    int failures = 0;
    if (ie_version() != IE_VERSION_NUMBER) {
        printf("ie_version() = %u, header IE_VERSION_NUMBER = %d\n", ie_version(), IE_VERSION_NUMBER);
        failures++;
    }
    if (strcmp(ie_version_string(), expected) != 0) {
        printf("ie_version_string() = \"%s\", header says \"%s\"\n", ie_version_string(), expected);
        failures++;
    }
    if (failures == 0)
        printf("version %s (%u) matches the header\n", ie_version_string(), ie_version());
    return failures == 0 ? 0 : 1;
}

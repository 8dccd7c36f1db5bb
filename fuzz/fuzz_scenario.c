/*
 * libFuzzer target for the simulator's scenario text (sim/scenario.h): a
 * file a user writes, parsed by strata_scenario_parse.
 *
 * A rejection must be one of the documented errors with a terminated
 * message. An accepted scenario that also validates must survive format ->
 * parse -> format unchanged: the text the simulator writes back (in its
 * result, and for --dump) is a scenario it reads as the same one.
 */
#include "scenario.h"

#include "strata/common.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char text[1 << 16], text2[1 << 16];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    strata_scenario s, s2;
    char err[256];
    strata_scenario_default(&s);
    memset(err, 'x', sizeof err);
    int rc = strata_scenario_parse(&s, (const char *)data, size, "fuzz", err, sizeof err);
    if (rc != 0) {
        if (rc != STRATA_ERR_RANGE && rc != STRATA_ERR_NOTFOUND && rc != STRATA_ERR_INVAL)
            abort();
        if (memchr(err, '\0', sizeof err) == NULL)
            abort();
        return 0;
    }
    if (strata_scenario_validate(&s, err, sizeof err) != 0)
        return 0;
    size_t n = strata_scenario_format(&s, text, sizeof text);
    if (n >= sizeof text)
        return 0; /* longer than this target keeps; format reported it */
    strata_scenario_default(&s2);
    if (strata_scenario_parse(&s2, text, n, "formatted", err, sizeof err) != 0 ||
        strata_scenario_validate(&s2, err, sizeof err) != 0)
        abort();
    size_t n2 = strata_scenario_format(&s2, text2, sizeof text2);
    if (n2 != n || memcmp(text, text2, n) != 0)
        abort();
    return 0;
}
